//! Wires the parts together for one run: bind, serve, pick a mode, wait for the end.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::{Cli, Commands, RunArgs};
use crate::hub::Hub;
use crate::ingest::auth::AuthConfig;
use crate::ingest::receiver::{self, ReceiverState};
use crate::ingest::server::ServerLimits;
use crate::ingest::source::SourcePolicy;
use crate::outputs::headless;
use crate::relay::{Relay, RelayConfig};
use crate::tui::zone::Zone;

/// How far a subscriber may fall behind before it must catch up from the store, at most.
const CHANNEL_CAPACITY: usize = 4096;
/// ... and at least.
const MIN_CHANNEL_CAPACITY: usize = 256;

/// Queued events share the log's events, but a lagging subscriber keeps up to a channel's
/// worth alive after the log let them go: size the channel so that this is at most about
/// twice `--history-bytes` more, however large the bodies (512 events by default).
fn channel_capacity(history_bytes: usize, max_body: usize) -> usize {
    (history_bytes / max_body.max(1))
        .saturating_mul(2)
        .clamp(MIN_CHANNEL_CAPACITY, CHANNEL_CAPACITY)
}

/// Everything the screen shows about how roomwatch was started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub listen: SocketAddr,
    /// The apps accepted; empty: any.
    pub sdkappids: Vec<String>,
    pub token_auth: bool,
    pub demo: bool,
    /// The zone times are shown in.
    pub zone: Zone,
    /// Monochrome: no colours, only bold, dim and reverse video.
    pub no_color: bool,
    pub journal: JournalInfo,
    /// With `--nats`: the stream.
    pub nats: Option<NatsInfo>,
}

impl RunInfo {
    /// Where callbacks come from, for the header: the listen address, or the stream a
    /// `--no-listen` viewer follows.
    pub fn source(&self) -> String {
        match &self.nats {
            Some(nats) if !nats.listening => nats.describe.clone(),
            _ => self.listen.to_string(),
        }
    }

    /// The empty log's message.
    pub fn waiting_for(&self) -> String {
        match &self.nats {
            Some(nats) if !nats.listening => format!("waiting for callbacks in {}", nats.describe),
            _ => format!("waiting for callbacks on http://{}/", self.listen),
        }
    }
}

/// The JetStream stream a run publishes to and follows, for the header.
#[derive(Clone)]
pub struct NatsInfo {
    pub describe: String,
    /// Receiving callbacks too (not `--no-listen`).
    pub listening: bool,
    pub status: watch::Receiver<crate::nats::follow::FollowStatus>,
    /// For the connection state.
    pub stream: crate::nats::StreamLog,
    /// The receiver's spool, when it has one.
    pub spool: Option<Arc<crate::nats::spool::Spool>>,
}

impl std::fmt::Debug for NatsInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsInfo")
            .field("describe", &self.describe)
            .field("listening", &self.listening)
            .finish_non_exhaustive()
    }
}

impl PartialEq for NatsInfo {
    fn eq(&self, other: &Self) -> bool {
        self.describe == other.describe && self.listening == other.listening
    }
}

impl Eq for NatsInfo {}

/// Connects to NATS when `--nats` is given. An unreachable NATS stops roomwatch at start:
/// it would have nowhere to store callbacks.
async fn connect_stream(
    args: &RunArgs,
    listen: SocketAddr,
) -> Result<Option<crate::nats::StreamLog>, String> {
    let Some(servers) = &args.nats else {
        return Ok(None);
    };
    let mut options = crate::nats::NatsOptions::new(servers.clone());
    options.creds.clone_from(&args.nats_creds);
    options.tls_ca.clone_from(&args.nats_tls_ca);
    options.stream.clone_from(&args.nats_stream);
    options.subject_prefix.clone_from(&args.nats_subject_prefix);
    options.replicas = usize::from(args.nats_replicas);
    options.max_age = Duration::from_millis(u64::try_from(args.nats_max_age).unwrap_or(0));
    options.max_bytes = i64::try_from(args.nats_max_bytes).unwrap_or(i64::MAX);
    options.duplicate_window =
        Duration::from_millis(u64::try_from(args.nats_duplicate_window).unwrap_or(0));
    options.publish_timeout = args.nats_publish_timeout;
    options.relay_claim = args.nats_relay_claim;
    // A viewer only reads: a mistyped --nats-stream must not create a stream.
    options.create_stream = !args.no_listen;
    options.receiver = args.nats_receiver.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        format!("{host}:{}", listen.port())
    });
    // A receiver with a spool starts while NATS is away: its callbacks wait in the spool.
    let offline_ok = !args.no_listen && !args.no_nats_spool;
    crate::nats::StreamLog::connect(options, offline_ok)
        .await
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The largest body taken: `--max-body`, and with NATS no more than one message can carry
/// beside its record (said at start when that lowers it). NATS away at start: its default
/// `max_payload` (1 MiB) is assumed.
fn body_limit(args: &RunArgs, stream: Option<&crate::nats::StreamLog>) -> usize {
    let Some(stream) = stream else {
        return args.max_body;
    };
    let max_payload = if stream.connected() {
        stream.client.server_info().max_payload
    } else {
        1 << 20
    };
    let fits = max_payload
        .saturating_sub(crate::nats::record::RECORD_ROOM)
        .max(4096);
    if fits < args.max_body {
        eprintln!(
            "roomwatch: bodies over {fits} bytes are refused (413): NATS takes messages up to {max_payload} bytes (max_payload) and each record needs room beside its body; raise max_payload on the servers to take up to --max-body"
        );
    }
    args.max_body.min(fits)
}

/// The receiver's spool, unless `--no-nats-spool`. One that cannot be opened stops roomwatch:
/// without it, callbacks would be answered 503 whenever JetStream is slow.
fn open_spool(
    args: &RunArgs,
    stream: &crate::nats::StreamLog,
    listen: SocketAddr,
) -> Result<Option<Arc<crate::nats::spool::Spool>>, String> {
    if args.no_nats_spool {
        return Ok(None);
    }
    let path = match &args.nats_spool {
        Some(path) => path.clone(),
        None => crate::eventlog::location::data_dir()
            .ok_or("no data directory for the spool: give --nats-spool PATH or --no-nats-spool")?
            .join(format!(
                "spool-{}-{}.sqlite",
                stream.options.stream,
                listen.port()
            )),
    };
    crate::nats::spool::Spool::open(&path, args.nats_spool_max, &stream.options.receiver).map(Some)
}

/// What the journal did at start, for the header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum JournalInfo {
    /// `--no-journal`, or no data directory to put one in.
    #[default]
    Off,
    On {
        path: String,
        /// Callbacks found in the journal.
        restored: u64,
        /// Arrival of the oldest one (Unix ms).
        since_ms: Option<i64>,
        /// Damaged records skipped while restoring.
        skipped: u64,
    },
    /// The default journal could not be used; running without one.
    Unavailable(String),
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Commands::Send(args)) => crate::outputs::send::run(args).await,
        Some(Commands::Export(args)) => match &args.nats {
            Some(servers) => crate::outputs::export::from_stream(&args, servers).await,
            None => crate::outputs::export::run(&args),
        },
        Some(Commands::Replay(args)) => crate::outputs::replay::run(args).await,
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
    let listener = if args.no_listen {
        None
    } else {
        Some(
            TcpListener::bind(args.listen)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?,
        )
    };
    let listen = match &listener {
        Some(listener) => listener.local_addr().map_err(|e| e.to_string())?,
        None => args.listen,
    };
    let stream = connect_stream(&args, listen).await?;
    let limits = crate::store::StoreLimits {
        history: args.history,
        history_bytes: args.history_bytes,
        max_rooms: usize::try_from(args.max_rooms).unwrap_or(usize::MAX),
        per_room: crate::store::RoomLimits {
            members: usize::try_from(args.max_members_per_room).unwrap_or(usize::MAX),
            admins: usize::try_from(args.max_admins_per_room).unwrap_or(usize::MAX),
            metadata: usize::try_from(args.max_metadata_per_room).unwrap_or(usize::MAX),
        },
    };
    let skew_ms = i64::try_from(args.max_clock_skew.saturating_mul(1000)).unwrap_or(i64::MAX);
    let capacity = channel_capacity(args.history_bytes, args.max_body);
    // With NATS the stream is the log: every viewer rebuilds from it (from its newest
    // checkpoint on), nothing local is kept.
    let (hub, journal, sqlite_journal) = if let Some(stream) = &stream {
        let hub = match stream.load_checkpoint(args.history).await {
            Some(mut store) => {
                eprintln!(
                    "roomwatch: starting from the stream's checkpoint at seq {}",
                    store.last_seq()
                );
                store.set_limits(limits);
                Hub::with_store(store, capacity, skew_ms)
            }
            None => Hub::with_limits(limits, capacity, skew_ms),
        };
        (hub, JournalInfo::Off, None)
    } else {
        open_journal(&args, limits, capacity, skew_ms)?
    };
    let hub = Arc::new(hub);
    let relay = start_relay(&args, sqlite_journal.as_ref()).await?;
    // With NATS and a forward target, "after" callbacks reach the backend through consumers
    // shared by every receiver; nothing is published before they exist (see StreamSink).
    let (relay_ready_tx, relay_ready) = watch::channel(false);
    if let (Some(stream), Some(_)) = (&stream, &relay)
        && stream.connected()
    {
        match tokio::time::timeout(Duration::from_secs(10), stream.ensure_relay_consumers()).await {
            Ok(Ok(_)) => {
                relay_ready_tx.send_replace(true);
            }
            Ok(Err(error)) => eprintln!(
                "roomwatch: the shared relay's consumers are not set up yet ({error}); callbacks wait in the spool until they are"
            ),
            Err(_) => eprintln!(
                "roomwatch: the shared relay's consumers are not set up yet (timed out); callbacks wait in the spool until they are"
            ),
        }
    }
    let relay_ready = relay.as_ref().map(|_| relay_ready);
    let sink = match (&stream, args.no_listen) {
        (Some(stream), false) => Some(Arc::new(crate::nats::StreamSink {
            stream: stream.clone(),
            spool: open_spool(&args, stream, listen)?,
            relay_ready: relay_ready.clone(),
        })),
        _ => None,
    };
    // The hub holds the journal from here on; one holder keeps the writer's stop in one place.
    drop(sqlite_journal);
    let state = Arc::new(ReceiverState {
        hub: Arc::clone(&hub),
        auth: AuthConfig {
            sdkappids: args.sdkappids(),
            token: args.token.clone(),
            window_s: args.sign_window,
        },
        body_limit: body_limit(&args, stream.as_ref()),
        relay: relay.clone(),
        stream: sink.clone(),
    });
    // Subscribe before the server takes its first callback, so the printer sees every one.
    let headless_rx = headless.then(|| hub.subscribe());
    let (stop_tx, stop_rx) = watch::channel(false);
    let limits = server_limits(&args);
    let server = listener.map(|listener| {
        tokio::spawn(receiver::serve_with(
            listener,
            state,
            limits,
            wait_for(stop_rx.clone()),
        ))
    });
    // The spool drains past the stop of the receiver (bounded), so that a clean stop leaves
    // nothing behind while NATS is there.
    let (drain_stop_tx, drain_stop_rx) = watch::channel(false);
    let drainer = sink.as_ref().and_then(|sink| {
        let spool = Arc::clone(sink.spool.as_ref()?);
        if spool.pending() > 0 {
            eprintln!(
                "roomwatch: {} callback(s) in the spool {} from an earlier run; publishing them to the stream first",
                spool.pending(),
                spool.path().display()
            );
        }
        Some(tokio::spawn(spool.drain(
            sink.stream.clone(),
            relay_ready.clone(),
            wait_for(drain_stop_rx.clone()),
        )))
    });
    let shared_relay = match (&stream, &relay) {
        (Some(stream), Some(relay)) => {
            let (stream, relay) = (stream.clone(), Arc::clone(relay));
            let stop = stop_rx.clone();
            Some(tokio::spawn(async move {
                stream.run_shared_relay(relay, relay_ready_tx, stop).await;
            }))
        }
        _ => None,
    };
    let first_seq = hub.read(crate::store::RoomStore::last_seq);
    let (follow_status, follow_rx) = watch::channel(crate::nats::follow::FollowStatus {
        applied: first_seq,
        ..crate::nats::follow::FollowStatus::default()
    });
    // Receivers keep the stream's checkpoint fresh; viewers only read it.
    let checkpointer = match (&stream, &server) {
        (Some(stream), Some(_)) if args.nats_checkpoint_every > 0 => {
            let (stream, hub) = (stream.clone(), Arc::clone(&hub));
            let (every, mut applied) = (args.nats_checkpoint_every, follow_rx.clone());
            let mut stop = stop_rx.clone();
            Some(tokio::spawn(async move {
                let mut last = applied.borrow().applied;
                loop {
                    tokio::select! {
                        _ = stop.wait_for(|stopped| *stopped) => return,
                        changed = applied.changed() => if changed.is_err() { return },
                    }
                    let now = applied.borrow().applied;
                    if now < last.saturating_add(every) {
                        continue;
                    }
                    last = now;
                    match stream.save_checkpoint(hub.snapshot()).await {
                        Ok(saved) => {
                            tracing::debug!(seq = now, saved, "stream checkpoint");
                        }
                        Err(error) => {
                            tracing::warn!(%error, "the stream's checkpoint was not stored");
                        }
                    }
                }
            }))
        }
        _ => None,
    };
    let (follow_stop_tx, follow_stop_rx) = watch::channel(false);
    let follower = stream.clone().map(|stream| {
        let hub = Arc::clone(&hub);
        tokio::spawn(async move {
            // Until stopped: a stream that is not there yet (NATS away at start) or a consumer
            // that failed is tried again, from the last record applied.
            loop {
                let after = follow_status.borrow().applied;
                let stop = wait_for(follow_stop_rx.clone());
                match stream
                    .follow_into(&hub, after, &follow_status, false, stop)
                    .await
                {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::warn!(%error, "following the stream; trying again in 1 s");
                    }
                }
                tokio::select! {
                    () = wait_for(follow_stop_rx.clone()) => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        })
    });
    // Rooms a previous demo left live in the demo's own journal end before the new story.
    // Never in a named journal or a stream: those may hold a real app's rooms.
    let own_demo_journal = args.demo && args.journal.is_none() && args.nats.is_none();
    let leftover_rooms: Vec<crate::demo::Leftover> = if own_demo_journal {
        hub.read(|store| {
            store
                .rooms()
                .iter()
                .filter(|(_, room)| !room.is_ended())
                .map(|(key, room)| crate::demo::Leftover {
                    room: key.clone(),
                    last_event_ms: room.last_event_ms,
                })
                .collect()
        })
    } else {
        Vec::new()
    };
    let mut demo = args.demo.then(|| {
        let mut options = crate::demo::DemoOptions::from_args(&args, listen);
        options.leftover_rooms = leftover_rooms;
        tokio::spawn(crate::demo::run(options, wait_for(stop_rx.clone())))
    });
    let info = RunInfo {
        listen,
        sdkappids: args.sdkappids(),
        token_auth: args.token.is_some(),
        demo: args.demo,
        zone: if args.utc { Zone::UTC } else { Zone::local() },
        // https://no-color.org: any non-empty value turns colour off.
        no_color: args.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        journal,
        nats: stream.as_ref().map(|stream| NatsInfo {
            describe: stream.describe(),
            listening: server.is_some(),
            status: follow_rx.clone(),
            stream: stream.clone(),
            spool: sink.as_ref().and_then(|sink| sink.spool.clone()),
        }),
    };
    if server.is_some() && !listen.ip().is_loopback() && args.token.is_none() {
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
        if server.is_some() {
            eprintln!(
                "roomwatch: listening on http://{listen}/ (POST callbacks to any path; GET /healthz)"
            );
        }
        if let Some(stream) = &stream {
            eprintln!("roomwatch: following {}", stream.describe());
        }
        let rx = headless_rx.unwrap_or_else(|| hub.subscribe());
        let progress = Arc::new(headless::Progress::default());
        let (printer_done, printer_ended) = tokio::sync::oneshot::channel::<()>();
        let relay_lines = relay.clone().map(headless::RelayLines::new);
        if let Some(lines) = relay_lines.clone() {
            // Detached: it ends with the process; every line it writes is whole.
            let updates = lines.relay.subscribe();
            std::thread::spawn(move || {
                let _ = headless::print_relay_updates(&lines, updates, std::io::stdout());
            });
        }
        let thread = {
            let (hub, progress) = (Arc::clone(&hub), Arc::clone(&progress));
            std::thread::spawn(move || {
                // Unlocked when a relay runs: the relay printer writes whole lines in between.
                let result = headless::print_events_with_relay(
                    &hub,
                    rx,
                    headless::unbuffered_stdout(),
                    &progress,
                    relay_lines.as_ref(),
                );
                let _ = printer_done.send(());
                result
            })
        };
        printer = Some((thread, progress));
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
        let resend = resend_relay(&args, relay.as_ref())?;
        crate::tui::app::run_dashboard(Arc::clone(&hub), info, !args.no_mouse, resend).await?;
    }
    let _ = stop_tx.send(true);
    if let Some(demo) = demo {
        let _ = demo.await;
    }
    let server_result = match server {
        Some(server) => server.await,
        None => Ok(Ok(())),
    };
    if let Some(checkpointer) = checkpointer {
        checkpointer.abort();
    }
    if let Some(shared_relay) = shared_relay {
        let _ = shared_relay.await;
    }
    if let Some(spool) = sink.as_ref().and_then(|sink| sink.spool.as_ref())
        && spool.pending() > 0
        && stream
            .as_ref()
            .is_some_and(crate::nats::StreamLog::connected)
    {
        let mut waiting = spool.watch();
        let _ = tokio::time::timeout(
            Duration::from_secs(args.drain_timeout),
            waiting.wait_for(|pending| *pending == 0),
        )
        .await;
    }
    let _ = drain_stop_tx.send(true);
    if let Some(drainer) = drainer {
        let _ = drainer.await;
    }
    if let Some(spool) = sink.as_ref().and_then(|sink| sink.spool.as_ref())
        && spool.pending() > 0
    {
        eprintln!(
            "roomwatch: {} answered callback(s) wait in the spool {} for JetStream; they are published at the next start",
            spool.pending(),
            spool.path().display()
        );
    }
    if let (Some(stream), Some(follower)) = (&stream, follower) {
        // Every callback this process answered is in the stream: follow at least that far
        // (bounded), so the output holds them all, then stop following.
        let acked = stream.acked();
        let mut status = follow_rx.clone();
        let caught_up = tokio::time::timeout(
            Duration::from_secs(args.drain_timeout),
            status.wait_for(|s| s.applied >= acked),
        )
        .await;
        if caught_up.is_err() {
            eprintln!(
                "roomwatch: the stream was not followed up to this receiver's last callback (seq {acked}) within --drain-timeout"
            );
        }
        let _ = follow_stop_tx.send(true);
        let _ = follower.await;
    }
    if let Some(relay) = &relay {
        // Acknowledged callbacks still queued for the backend get the shutdown grace to go
        // out; whatever is left is said, never dropped silently.
        let waiting = relay.settle(args.shutdown_grace).await;
        if waiting > 0 {
            let kept = if hub.journal().is_some() {
                "; kept in the journal, they resume at the next start with --forward-to"
            } else {
                ""
            };
            eprintln!(
                "roomwatch: {waiting} acknowledged callbacks were not relayed to {}: still pending after --shutdown-grace ({:?}){kept}",
                relay.status().target,
                args.shutdown_grace
            );
        }
    }
    // Every answer is sent: nothing more can be published. Let the printer finish the queue.
    hub.close();
    if let Some((thread, progress)) = printer {
        // Numbers this run never had to print: those folded before it started (a journal's
        // or a stream checkpoint's) and stream records that were not readable.
        let not_printable = first_seq + follow_rx.borrow().unreadable;
        drain_printer(
            &hub,
            thread,
            &progress,
            not_printable,
            Duration::from_secs(args.drain_timeout),
        )
        .await;
    }
    match server_result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("receiver failed: {e}")),
        Err(e) => Err(format!("receiver task failed: {e}")),
    }
}

/// Opens the journal and restores the state it holds. An explicit `--journal` that cannot be
/// used is an error; the default one only turns journaling off, visibly.
fn open_journal(
    args: &RunArgs,
    limits: crate::store::StoreLimits,
    capacity: usize,
    skew_ms: i64,
) -> Result<
    (
        Hub,
        JournalInfo,
        Option<Arc<crate::eventlog::SqliteJournal>>,
    ),
    String,
> {
    use crate::eventlog::{JournalOptions, SqliteJournal, location};
    let Some(choice) = location::choose(args.journal.clone(), args.no_journal, args.demo) else {
        return Ok((
            Hub::with_limits(limits, capacity, skew_ms),
            JournalInfo::Off,
            None,
        ));
    };
    let options = JournalOptions {
        sync: args.journal_sync,
        log_capacity: args.history,
        retain_ms: Some(args.retain),
        retain_bytes: Some(args.retain_size),
        started: crate::outputs::headless::rfc3339(receiver::now_ms()),
        wal_pages: args.journal_wal_pages,
        ..JournalOptions::new(&choice.path)
    };
    match SqliteJournal::open(&options) {
        Ok((journal, restored)) => {
            if restored.skipped > 0 {
                tracing::warn!(
                    skipped = restored.skipped,
                    "damaged journal records skipped while restoring"
                );
                eprintln!(
                    "roomwatch: {} damaged journal record(s) in {} skipped while restoring",
                    restored.skipped,
                    choice.path.display()
                );
            }
            let info = JournalInfo::On {
                path: choice.path.display().to_string(),
                restored: restored.callbacks,
                since_ms: restored.since_ms,
                skipped: restored.skipped,
            };
            let mut store = restored.store;
            store.set_limits(limits);
            let journal = Arc::new(journal);
            let hub =
                Hub::with_journal(store, capacity, Arc::clone(&journal) as _).clock_skew(skew_ms);
            Ok((hub, info, Some(journal)))
        }
        Err(error) if choice.explicit => Err(error.to_string()),
        Err(error) => {
            eprintln!("roomwatch: running without a journal: {error}");
            tracing::error!(%error, "running without a journal");
            Ok((
                Hub::with_limits(limits, capacity, skew_ms),
                JournalInfo::Unavailable(error.to_string()),
                None,
            ))
        }
    }
}

/// Waits up to `timeout` for the printer to write every event, then says on stderr how many
/// events were not printed and why, if any. A stdout nobody reads must not keep roomwatch
/// from exiting, and must not make it lose lines silently either.
async fn drain_printer(
    hub: &Hub,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
    progress: &headless::Progress,
    not_printable: u64,
    timeout: Duration,
) {
    // A plain thread, not `spawn_blocking`: the runtime waits for its blocking tasks at exit,
    // and a printer stuck on a full pipe would then hold the process forever.
    let (joined_tx, joined) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = joined_tx.send(thread.join());
    });
    let outcome = tokio::time::timeout(timeout, joined).await;
    let events = hub
        .read(crate::store::RoomStore::last_seq)
        .saturating_sub(not_printable);
    let missing = events.saturating_sub(progress.printed());
    if missing == 0 {
        return;
    }
    let why = match outcome {
        Err(_) => format!(
            "stdout did not take them within {}s (--drain-timeout)",
            timeout.as_secs()
        ),
        Ok(Ok(Ok(Err(e)))) => format!("writing to stdout failed: {e}"),
        Ok(_) if progress.lost() > 0 => format!(
            "{} of them left the in-memory log before they could be printed",
            progress.lost()
        ),
        Ok(_) => "the printer stopped early".to_string(),
    };
    eprintln!("roomwatch: {missing} of {events} events were not printed: {why}");
}

/// The connection layer's limits and source policy, from the flags.
fn server_limits(args: &RunArgs) -> ServerLimits {
    ServerLimits {
        header_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
        idle_timeout: args.idle_timeout,
        max_connections: args.max_connections as usize,
        overflow_connections: args.overflow_connections as usize,
        max_head: args.max_head,
        shutdown_grace: args.shutdown_grace,
        sources: SourcePolicy {
            allow_from: args.allow_from.clone().unwrap_or_default(),
            trusted_proxies: args.trusted_proxy.clone().unwrap_or_default(),
        },
    }
}

/// The relay, when `--forward-to` is given. An unreachable target is not an error: it is
/// said on stderr, shown as failing, and callbacks queue until it answers.
/// With a journal, pending relays are recorded in it, and those left by the previous run are
/// queued again before the first new callback can arrive (so each room keeps its order).
async fn start_relay(
    args: &RunArgs,
    journal: Option<&Arc<crate::eventlog::SqliteJournal>>,
) -> Result<Option<Arc<Relay>>, String> {
    let Some(target) = &args.forward_to else {
        return Ok(None);
    };
    let mut config = RelayConfig::new(target.clone());
    config.before_timeout = args.before_timeout;
    config.fallback = args.before_fallback;
    config.attempt_timeout = args.relay_timeout;
    config.max_age = args.relay_max_age;
    config.backoff_max = args.relay_backoff_max;
    config.backlog_count = args.relay_backlog;
    config.backlog_bytes = args.relay_backlog_bytes;
    config.parallel = args.relay_parallel;
    config.token.clone_from(&args.token);
    config.history = args.history;
    config.extra_roots = extra_roots(args);
    let relay = match journal {
        Some(journal) => {
            let log = journal.relay_pending_log(target.as_str(), args.relay_max_age);
            Relay::with_pending_log(config, Arc::new(log))
        }
        None => Relay::new(config),
    }
    .map_err(|e| e.to_string())?;
    if let Some(journal) = journal {
        restore_outcomes(journal, &relay, args.history);
        resume_relays(journal, &relay, target.as_str(), args.relay_max_age);
    }
    if let Err(reason) = relay.probe().await {
        eprintln!(
            "roomwatch: forward target {target} is not reachable now ({reason}); callbacks will queue and be retried"
        );
    }
    Ok(Some(relay))
}

/// Gives the relay the outcomes the journal recorded for the callbacks restored into the log,
/// so their lines and callback views show how their relay ended.
fn restore_outcomes(journal: &crate::eventlog::SqliteJournal, relay: &Relay, recent: usize) {
    match journal.relay_outcomes(recent) {
        Ok(records) => relay.restore(records),
        Err(error) => {
            tracing::warn!(%error, "relay outcomes could not be read from the journal");
            eprintln!("roomwatch: relay outcomes could not be read from the journal: {error}");
        }
    }
}

/// Hands the callbacks still pending in the journal to the relay, and says how many.
fn resume_relays(
    journal: &crate::eventlog::SqliteJournal,
    relay: &Arc<Relay>,
    target: &str,
    max_age: std::time::Duration,
) {
    match journal.resume_relays(target, max_age, receiver::now_ms()) {
        Ok(resumed) => {
            let count = resumed.events.len();
            if count > 0 || resumed.gave_up > 0 {
                tracing::info!(
                    resumed = count,
                    gave_up = resumed.gave_up,
                    "pending relays from the journal"
                );
                eprintln!(
                    "roomwatch: resumed {count} pending relay(s) to {target} from the journal; {} given up (older than --relay-max-age or unreadable)",
                    resumed.gave_up
                );
            }
            relay.requeue(resumed.events);
        }
        Err(error) => {
            tracing::error!(%error, "pending relays could not be read from the journal");
            eprintln!("roomwatch: pending relays could not be read from the journal: {error}");
        }
    }
}

/// The CA certificates `--forward-ca` adds for https targets.
fn extra_roots(args: &RunArgs) -> Vec<reqwest::Certificate> {
    args.forward_ca
        .as_ref()
        .map(|ca| ca.certificates.clone())
        .unwrap_or_default()
}

/// Where the dashboard's `r` resends: `--resend-to`, else the forward target; through the
/// relay when there is one (its client and token), else a relay of its own that forwards
/// nothing.
fn resend_relay(
    args: &RunArgs,
    relay: Option<&Arc<Relay>>,
) -> Result<Option<(Arc<Relay>, reqwest::Url)>, String> {
    let Some(to) = args.resend_to.clone().or_else(|| args.forward_to.clone()) else {
        return Ok(None);
    };
    let relay = if let Some(relay) = relay {
        Arc::clone(relay)
    } else {
        let mut config = RelayConfig::new(to.clone());
        config.token.clone_from(&args.token);
        config.attempt_timeout = args.relay_timeout;
        config.extra_roots = extra_roots(args);
        Relay::new(config).map_err(|e| e.to_string())?
    };
    Ok(Some((relay, to)))
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
    // All three registered now: `tokio::signal::ctrl_c()` would register SIGINT only when first
    // polled, and a SIGINT before that would kill the process with the default action.
    let int = signal(SignalKind::interrupt());
    let term = signal(SignalKind::terminate());
    let hup = signal(SignalKind::hangup());
    async move {
        match (int, term, hup) {
            (Ok(mut int), Ok(mut term), Ok(mut hup)) => {
                tokio::select! {
                    _ = int.recv() => {}
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
/// Diagnostic lines held for a slow stderr before new ones are dropped.
const STDERR_LINES_BUFFERED: usize = 10_000;

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
        // Through a bounded background writer: a stderr nobody reads (a full pipe) must never
        // stall the handlers that log. Past the bound, diagnostics are dropped, not callbacks.
        let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .buffered_lines_limit(STDERR_LINES_BUFFERED)
            .lossy(true)
            .finish(std::io::stderr());
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .with_writer(writer)
            .init();
        return Ok(Some(guard));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_sized_from_the_byte_budget() {
        assert_eq!(channel_capacity(256 << 20, 1 << 20), 512);
        assert_eq!(channel_capacity(1 << 30, 1024), CHANNEL_CAPACITY);
        assert_eq!(channel_capacity(1 << 20, 1 << 20), MIN_CHANNEL_CAPACITY);
    }
}
