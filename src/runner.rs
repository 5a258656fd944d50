//! Wires the parts together for one run: bind, serve, pick a mode, wait for the end.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::{Cli, Commands, RunArgs};
use crate::hub::Hub;
use crate::ingest::auth::AuthConfig;
use crate::ingest::receiver::{self, ReceiverState};
use crate::ingest::server::ServerLimits;
use crate::ingest::source::SourcePolicy;
use crate::outputs::headless;
use crate::tui::zone::Zone;

/// How far a subscriber may fall behind before it must catch up from the store.
const CHANNEL_CAPACITY: usize = 4096;

/// How long headless output may take to catch up after a quit.
const PRINTER_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Everything the screen shows about how roomwatch was started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub listen: SocketAddr,
    pub sdkappid: Option<String>,
    pub token_auth: bool,
    pub demo: bool,
    /// The zone times are shown in.
    pub zone: Zone,
    /// Monochrome: no colours, only bold, dim and reverse video.
    pub no_color: bool,
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Commands::Send(args)) => crate::outputs::send::run(args).await,
        Some(Commands::Completions { shell }) => crate::outputs::docs::completions(shell),
        Some(Commands::Man) => crate::outputs::docs::man(),
        None if cli
            .run
            .token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty()) =>
        {
            // An empty secret would make Sign = sha256(RequestTime), which anyone can compute.
            eprintln!(
                "roomwatch: --token (ROOMWATCH_TOKEN) is empty or blank; give the callback token, or unset it to run without token auth"
            );
            ExitCode::from(2)
        }
        None => match serve_and_watch(cli.run).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("roomwatch: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve_and_watch(args: RunArgs) -> Result<(), String> {
    let headless = args.headless || (!args.tui && !std::io::stdout().is_terminal());
    let _log_guard = init_tracing(&args, headless)?;
    // Bind before anything touches the terminal, so "address in use" reads as a plain error.
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let listen = listener.local_addr().map_err(|e| e.to_string())?;
    let hub = Arc::new(Hub::new(args.history, CHANNEL_CAPACITY));
    let state = Arc::new(ReceiverState {
        hub: Arc::clone(&hub),
        auth: AuthConfig {
            sdkappid: args.sdkappid.clone(),
            token: args.token.clone(),
            window_s: args.sign_window,
        },
        body_limit: args.max_body,
    });
    // Subscribe before the server takes its first callback, so the printer sees every one.
    let headless_rx = headless.then(|| hub.subscribe());
    let (stop_tx, stop_rx) = watch::channel(false);
    let limits = server_limits(&args);
    let server = tokio::spawn(receiver::serve_with(
        listener,
        state,
        limits,
        wait_for(stop_rx.clone()),
    ));
    let mut demo = args.demo.then(|| {
        let options = crate::demo::DemoOptions::from_args(&args, listen);
        tokio::spawn(crate::demo::run(options, wait_for(stop_rx.clone())))
    });
    let info = RunInfo {
        listen,
        sdkappid: args.sdkappid.clone(),
        token_auth: args.token.is_some(),
        demo: args.demo,
        zone: if args.utc { Zone::UTC } else { Zone::local() },
        // https://no-color.org: any non-empty value turns colour off.
        no_color: args.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
    };
    if !listen.ip().is_loopback() && args.token.is_none() {
        eprintln!(
            "roomwatch: listening on {listen} without --token: anyone who can reach it can post callbacks"
        );
    }
    let mut printer = None;
    if headless {
        let shutdown = shutdown_signal();
        if !args.headless {
            eprintln!(
                "roomwatch: stdout is not a terminal, so printing NDJSON (use --tui to force the dashboard)"
            );
        }
        eprintln!(
            "roomwatch: listening on http://{listen}/ (POST callbacks to any path; GET /healthz)"
        );
        let rx = headless_rx.unwrap_or_else(|| hub.subscribe());
        // A weak handle: once the receiver is gone, the channel closes and the printer ends
        // after printing what was still queued.
        let printer_hub = Arc::downgrade(&hub);
        let (printer_done, printer_ended) = tokio::sync::oneshot::channel::<()>();
        printer = Some(std::thread::spawn(move || {
            let stdout = std::io::stdout();
            let _ = headless::print_events(&printer_hub, rx, stdout.lock());
            let _ = printer_done.send(());
        }));
        // A closed stdout (e.g. `| head`) ends the run like a quit, so pipelines finish.
        // With --demo-events the run also ends once the demo has sent them all: each was
        // answered, so the printer has them queued and prints them before exiting.
        let finite_demo = args.demo_events.is_some();
        let demo_done = async {
            match demo.as_mut() {
                Some(task) => {
                    let _ = task.await;
                }
                None => std::future::pending().await,
            }
        };
        let demo_finished = tokio::select! {
            () = shutdown => false,
            _ = printer_ended => false,
            () = demo_done, if finite_demo => true,
        };
        if demo_finished {
            demo = None;
        }
    } else {
        crate::tui::app::run_dashboard(Arc::clone(&hub), info, !args.no_mouse).await?;
    }
    let _ = stop_tx.send(true);
    if let Some(demo) = demo {
        let _ = demo.await;
    }
    let server_result = server.await;
    drop(hub);
    if let Some(printer) = printer {
        // Bounded: a stdout nobody reads must not keep roomwatch from exiting.
        let joined = tokio::task::spawn_blocking(move || printer.join());
        let _ = tokio::time::timeout(PRINTER_DRAIN, joined).await;
    }
    match server_result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("receiver failed: {e}")),
        Err(e) => Err(format!("receiver task failed: {e}")),
    }
}

/// The connection layer's limits and source policy, from the flags.
fn server_limits(args: &RunArgs) -> ServerLimits {
    ServerLimits {
        header_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
        idle_timeout: args.idle_timeout,
        max_connections: args.max_connections as usize,
        shutdown_grace: args.shutdown_grace,
        sources: SourcePolicy {
            allow_from: args.allow_from.clone().unwrap_or_default(),
            trusted_proxies: args.trusted_proxy.clone().unwrap_or_default(),
        },
    }
}

/// Resolves once the flag turns true.
async fn wait_for(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Resolves on Ctrl-C, SIGTERM or SIGHUP. The handlers are installed when this is called, not
/// when first polled, so call it before anything that a signal must not interrupt by default.
/// Must be called inside a tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let hup = signal(SignalKind::hangup());
    async move {
        match (term, hup) {
            (Ok(mut term), Ok(mut hup)) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// Diagnostics go to `--log-file` through a background writer (never a blocking write on the
/// request path), else to stderr in headless mode, else nowhere: the screen is the dashboard's.
/// Keep the returned guard until exit so the last lines are flushed.
fn init_tracing(
    args: &RunArgs,
    headless: bool,
) -> Result<Option<tracing_appender::non_blocking::WorkerGuard>, String> {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("ROOMWATCH_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    if let Some(path) = &args.log_file {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open log file {}: {e}", path.display()))?;
        let (writer, guard) = tracing_appender::non_blocking(file);
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(writer)
            .init();
        return Ok(Some(guard));
    }
    if headless {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .with_writer(std::io::stderr)
            .init();
    }
    Ok(None)
}
