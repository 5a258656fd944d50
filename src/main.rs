use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The local time zone can only be read while the process has a single thread.
    roomwatch::tui::zone::Zone::detect_local();
    let cli = roomwatch::cli::Cli::parse();
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(roomwatch::run(cli)),
        Err(e) => {
            eprintln!("roomwatch: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
