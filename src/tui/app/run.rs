//! The app loop: the only place that touches channels and the terminal while the dashboard runs.

use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::Event as TermEvent;
use futures_util::{FutureExt, Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, MissedTickBehavior};

use super::intake::{Intake, Lagged};
use super::{App, HistoryPage, HistoryRequest, Msg, update};
use crate::hub::Hub;
use crate::relay::{Relay, RelayRecord};
use crate::runner::RunInfo;
use crate::store::LogEntry;

/// The shortest time between two frames (about 30 per second).
const FRAME: Duration = Duration::from_millis(33);
/// Bus events taken in one go before other inputs get a turn.
const BUS_BATCH: usize = 512;
/// Events taken off the bus that are handed to the app before the frame is due, so that what
/// waits for a frame stays bounded under a flood.
const SYNC_AT: usize = 4096;
/// After a bus wake the bus is left alone this long, so that a flood is taken in batches: each
/// wake costs the receiver a futex wake and a context switch.
const BUS_LINGER: Duration = Duration::from_millis(2);

/// Why the loop stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("terminal input failed: {0}")]
    Input(io::Error),
    #[error("drawing failed: {0}")]
    Draw(String),
}

/// Runs the dashboard until a quit key, the end of `shutdown`, or an error.
///
/// Draws only when something changed, at most once per [`FRAME`]; when idle only the 1 Hz
/// tick redraws (ages and uptime). `clock` gives Unix ms for the tick.
pub async fn run<B, S, F>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    input: S,
    bus: broadcast::Receiver<LogEntry>,
    hub: &Hub,
    shutdown: F,
    clock: impl Fn() -> i64,
) -> Result<(), RunError>
where
    B: Backend,
    S: Stream<Item = io::Result<TermEvent>>,
    F: Future<Output = ()>,
{
    run_with_relay(terminal, app, input, bus, hub, shutdown, clock, None).await
}

/// The relay as the dashboard sees it: its updates, its status, and where `r` resends.
pub struct RelayFeed {
    pub relay: Arc<Relay>,
    pub updates: broadcast::Receiver<RelayRecord>,
    pub resend_to: reqwest::Url,
    /// Hands the real terminal to `$EDITOR` for `e`; `None` where there is no real terminal.
    pub editor: Option<crate::tui::editor::Editor>,
}

/// [`run`], with relay outcomes beside the log and `r` resending through `relay`.
#[allow(clippy::too_many_arguments)]
pub async fn run_with_relay<B, S, F>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    input: S,
    mut bus: broadcast::Receiver<LogEntry>,
    hub: &Hub,
    shutdown: F,
    clock: impl Fn() -> i64,
    mut relay: Option<RelayFeed>,
) -> Result<(), RunError>
where
    B: Backend,
    S: Stream<Item = io::Result<TermEvent>>,
    F: Future<Output = ()>,
{
    let mut relay_open = relay.is_some();
    app.set_history_available(hub.journal().is_some());
    // Pages read back from the journal, off this thread.
    let (history_tx, mut history_rx) = tokio::sync::mpsc::unbounded_channel();
    if let Some(feed) = &relay {
        app.relay.resend_to = Some(feed.resend_to.to_string());
        update(app, Msg::RelayStatus(feed.relay.status()));
        // Outcomes known before the loop (e.g. restored from the journal) for the restored lines.
        for record in feed.relay.records() {
            update(app, Msg::Relay(record));
        }
    }
    let mut input = pin!(input);
    let mut shutdown = pin!(shutdown);
    let mut input_open = true;
    let mut bus_open = true;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut last_draw: Option<Instant> = None;
    let mut last_bus_wake: Option<Instant> = None;
    // Events wait here for the frame: the app reads the hub's state once per frame instead of
    // folding every event into a store of its own.
    let mut intake = Intake::default();
    loop {
        if app.quit {
            break;
        }
        if let Some(feed) = &relay {
            for seq in std::mem::take(&mut app.relay.edits) {
                edit_and_resend(terminal, app, feed, seq);
            }
            for seq in std::mem::take(&mut app.relay.resends) {
                if let Some(entry) = app.entry(seq) {
                    let (relay, event, to) = (
                        Arc::clone(&feed.relay),
                        Arc::clone(&entry.event),
                        feed.resend_to.clone(),
                    );
                    // The outcome comes back through the relay's updates.
                    tokio::spawn(async move { relay.resend(&event, &to, None).await });
                }
            }
        }
        let frame_due = last_draw.map_or_else(Instant::now, |t| t + FRAME);
        let frame_wanted = app.dirty || !intake.is_empty();
        if frame_wanted && Instant::now() >= frame_due {
            sync(app, hub, &mut bus, &mut intake);
            app.prepare();
            terminal
                .draw(|frame| crate::tui::ui::draw(frame, app))
                .map_err(|e| RunError::Draw(e.to_string()))?;
            app.dirty = false;
            last_draw = Some(Instant::now());
            // Under a flood, the hub's rooms are not held between frames: see `release_rooms`.
            app.release_rooms();
        }
        if let Some(text) = app.copy_request.take() {
            // After the frame's own output, so the sequence never lands inside it.
            if let Err(e) = crate::tui::clipboard::send(&text) {
                tracing::warn!("clipboard copy failed: {e}");
            }
        }
        if let Some(request) = app.take_history_request() {
            read_history(hub, request, history_tx.clone());
        }
        // The bus is listened to again once the linger after its last wake is over; until
        // then a timer wakes the loop instead (one wake, where waiting after the bus's wake
        // would take two).
        let bus_due = last_bus_wake.map(|last| last + BUS_LINGER);
        let bus_listened = bus_due.is_none_or(|due| due <= Instant::now());
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            // Wakes the loop when a pending change may be drawn.
            () = tokio::time::sleep_until(frame_due), if frame_wanted => {}
            () = sleep_until_some(bus_due), if bus_open && !bus_listened => {}
            received = bus.recv(), if bus_open && bus_listened => {
                last_bus_wake = Some(Instant::now());
                match received {
                    Ok(entry) => {
                        intake.push(entry);
                        // Take what else is queued now, up to a bound, without waiting.
                        if let Err(Lagged(skipped)) = intake.drain(&mut bus, BUS_BATCH) {
                            intake.catch_up(app, hub, skipped);
                        }
                    }
                    Err(RecvError::Lagged(skipped)) => intake.catch_up(app, hub, skipped),
                    Err(RecvError::Closed) => bus_open = false,
                }
                if intake.len() >= SYNC_AT {
                    sync(app, hub, &mut bus, &mut intake);
                }
                // A sync between frames (above, or a catch-up) took the hub's rooms again.
                app.release_rooms();
                // A steady flood keeps the bus ready, and `biased` would then never reach the
                // branches below: take a ready key and a due tick here, without waiting.
                if input_open && let Some(event) = input.next().now_or_never() {
                    input_open = on_input(app, hub, &mut bus, &mut intake, event)?;
                }
                if tick.tick().now_or_never().is_some() {
                    app.journal_health = hub.journal_health();
                    update(app, Msg::Tick(clock()));
                }
            }
            event = input.next(), if input_open => {
                input_open = on_input(app, hub, &mut bus, &mut intake, event)?;
            }
            Some(page) = history_rx.recv() => {
                // The page is filtered against the rooms.
                if app.rooms_released() {
                    sync(app, hub, &mut bus, &mut intake);
                }
                update(app, Msg::History(Box::new(page)));
            }
            record = relay_update(relay.as_mut()), if relay_open => match record {
                Ok(record) => update(app, Msg::Relay(record)),
                // Missed updates only delay a label: the status and the next update catch up.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => relay_open = false,
            },
            _ = tick.tick() => {
                app.journal_health = hub.journal_health();
                update(app, Msg::Tick(clock()));
                if let Some(feed) = &relay {
                    update(app, Msg::RelayStatus(feed.relay.status()));
                }
            }
        }
    }
    Ok(())
}

/// `e`: the body in `$EDITOR`, then a resend of what came back, or a notice saying why not.
/// Blocks this (the dashboard's) thread while the editor runs; ingest runs elsewhere, and the
/// bus catches up afterwards.
fn edit_and_resend<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    feed: &RelayFeed,
    seq: u64,
) {
    let Some(event) = app.entry(seq).map(|entry| Arc::clone(&entry.event)) else {
        return;
    };
    let Some(editor) = &feed.editor else {
        app.push_notice("e: needs a real terminal".into());
        return;
    };
    let edited = editor.edit(seq, &event.raw_body);
    // The screen was cleared on the way back; a blank frame makes the next one draw every
    // cell. (`Terminal::clear` would ask the terminal for the cursor, which not all answer.)
    let _ = terminal.draw(|frame| frame.render_widget(ratatui::widgets::Clear, frame.area()));
    app.dirty = true;
    match edited {
        Ok(body) => {
            let (relay, to) = (Arc::clone(&feed.relay), feed.resend_to.clone());
            tokio::spawn(async move {
                relay
                    .resend(&event, &to, Some(bytes::Bytes::from(body)))
                    .await
            });
        }
        Err(error) => app.push_notice(format!("e: #{seq}: {error}")),
    }
}

/// Reads the page asked for on a blocking thread; the answer comes back through `done`.
fn read_history(
    hub: &Hub,
    request: HistoryRequest,
    done: tokio::sync::mpsc::UnboundedSender<HistoryPage>,
) {
    let Some(journal) = hub.journal().cloned() else {
        let result = Err("there is no journal".to_string());
        let _ = done.send(HistoryPage { request, result });
        return;
    };
    tokio::task::spawn_blocking(move || {
        let result = journal
            .read_page(request.from, request.limit)
            .map_err(|e| e.to_string());
        let _ = done.send(HistoryPage { request, result });
    });
}

/// Sleeps until `at`; never ends without one.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn relay_update(feed: Option<&mut RelayFeed>) -> Result<RelayRecord, RecvError> {
    match feed {
        Some(feed) => feed.updates.recv().await,
        None => std::future::pending().await,
    }
}

/// Applies one item from the terminal's event stream; returns whether the stream is still open.
/// Events taken off the bus are handed to the app first, with the hub's rooms if the app let
/// go of them: a key acts on everything received before it.
fn on_input(
    app: &mut App,
    hub: &Hub,
    bus: &mut broadcast::Receiver<LogEntry>,
    intake: &mut Intake,
    event: Option<io::Result<TermEvent>>,
) -> Result<bool, RunError> {
    match event {
        Some(Ok(event)) => {
            if let Some(msg) = msg_from_terminal(&event) {
                if !intake.is_empty() || app.rooms_released() {
                    sync(app, hub, bus, intake);
                }
                update(app, msg);
            }
            Ok(true)
        }
        Some(Err(e)) => Err(RunError::Input(e)),
        None => Ok(false),
    }
}

/// Hands what the intake holds to the app with the hub's state; catches up after a lag.
fn sync(app: &mut App, hub: &Hub, bus: &mut broadcast::Receiver<LogEntry>, intake: &mut Intake) {
    if let Err(Lagged(skipped)) = intake.sync(app, hub, bus) {
        intake.catch_up(app, hub, skipped);
    }
}

/// The message for a terminal event, if it means anything to the app.
pub fn msg_from_terminal(event: &TermEvent) -> Option<Msg> {
    match *event {
        TermEvent::Key(key) => Some(Msg::Key(key)),
        TermEvent::Mouse(mouse) => Some(Msg::Mouse(mouse)),
        TermEvent::Resize(width, height) => Some(Msg::Resize(width, height)),
        _ => None,
    }
}

/// Opens the dashboard on the real terminal and runs it until quit or a shutdown signal.
/// Restores the terminal on every way out.
///
/// The dashboard gets a thread and a single-threaded runtime of its own: a slow or stalled
/// terminal blocks only that thread, never the runtime that answers callbacks.
/// `relay` is the relay and where `r` resends, when there is one.
pub async fn run_dashboard(
    hub: Arc<Hub>,
    info: RunInfo,
    mouse: bool,
    relay: Option<(Arc<Relay>, reqwest::Url)>,
) -> Result<(), String> {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("dashboard".into())
        .spawn(move || {
            let result = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(dashboard(hub, info, mouse, relay)),
                Err(e) => Err(format!("cannot start the dashboard: {e}")),
            };
            let _ = done_tx.send(result);
        })
        .map_err(|e| format!("cannot start the dashboard thread: {e}"))?;
    done_rx
        .await
        .unwrap_or_else(|_| Err("the dashboard thread ended without a result".into()))
}

async fn dashboard(
    hub: Arc<Hub>,
    info: RunInfo,
    mouse: bool,
    relay: Option<(Arc<Relay>, reqwest::Url)>,
) -> Result<(), String> {
    // Before the terminal changes: a SIGTERM from here on quits cleanly instead of killing.
    let shutdown = crate::runner::shutdown_signal();
    // Subscribe first, then copy the state: events in both are skipped by sequence number.
    let bus = hub.subscribe();
    let (input, input_control) = crate::tui::editor::terminal_input();
    // Held until the dashboard ends: dropping the control ends the input thread.
    let mut input_control = Some(input_control);
    let relay = relay.map(|(relay, resend_to)| RelayFeed {
        updates: relay.subscribe(),
        relay,
        resend_to,
        editor: input_control
            .take()
            .map(|input| crate::tui::editor::Editor { input, mouse }),
    });
    let snapshot = hub.snapshot();
    crate::tui::terminal::install_panic_hook();
    let mut terminal = crate::tui::terminal::enter(mouse).map_err(|e| {
        crate::tui::terminal::restore();
        format!("cannot open the terminal: {e}")
    })?;
    let size = terminal.size().map_or((80, 24), |s| (s.width, s.height));
    let now = crate::ingest::receiver::now_ms();
    let mut app = App::new(info, snapshot, now, size);
    let result = run_with_relay(
        &mut terminal,
        &mut app,
        input,
        bus,
        &hub,
        shutdown,
        crate::ingest::receiver::now_ms,
        relay,
    )
    .await;
    crate::tui::terminal::restore();
    result.map_err(|e| e.to_string())
}
