use std::process::ExitCode;

// Callbacks are built on the receiving threads and freed wherever the last holder lets go
// (the printer, the journal writer, the store's eviction): glibc's arenas pay for that in
// lock waits and consolidation; mimalloc's thread-local free lists do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The local time zone can only be read while the process has a single thread.
    roomwatch::tui::zone::Zone::detect_local();
    let (cli, config) = roomwatch::config::parse_args(std::env::args_os().collect());
    roomwatch::tui::keymap::set_overrides(config.keys.overrides);
    roomwatch::tui::ui::theme::set_overrides(config.theme.styles);
    let workers = cli
        .run
        .workers
        .unwrap_or_else(roomwatch::cli::default_workers);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(roomwatch::run(cli)),
        Err(e) => {
            eprintln!("roomwatch: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
