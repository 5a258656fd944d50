//! The relay to the app's own backend (`--forward-to`). Tencent allows one callback URL per
//! app; with a forward target roomwatch sits in front of the backend and passes every callback
//! that passed its checks on:
//!
//! - "before" callbacks ([`request::is_synchronous`]) while Tencent waits, the backend's answer
//!   passed back byte for byte, or the fallback policy's answer when it cannot decide in time;
//! - everything else from the [`backlog`] in the background, in arrival order per room, with
//!   retries, so a slow or dead backend never slows the answers Tencent gets.
//!
//! Outcomes live in the relay's own [`outcome::Board`], keyed by the event's seq, and every
//! change is broadcast as a [`RelayRecord`] for the dashboard and headless output.

pub mod backlog;
pub mod config;
pub mod outcome;
pub mod request;
mod send;

use std::borrow::Cow;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use reqwest::Url;
use serde::Serialize;
use tokio::sync::{Semaphore, broadcast};

use crate::event::Event;
use crate::ingest::receiver::now_ms;
use crate::protocol::Command;
use crate::store::RoomKey;
use backlog::{Backlog, Full, InMemory, PendingLog, Pushed};
pub use config::{Decision, FallbackPolicy, RelayConfig};
pub use outcome::RelayRecord;
use outcome::{Attempt, Board, Health, Mode, RelayState};
use send::Sent;

/// First wait between attempts; it doubles up to `--relay-backoff-max`.
const BACKOFF_START: Duration = Duration::from_millis(250);

/// Updates a subscriber may fall behind by before it lags.
const UPDATES_CAPACITY: usize = 4096;

/// The relay: its HTTP clients (keep-alive, HTTP/1.1 and h2), the backlog, the outcomes.
pub struct Relay {
    config: RelayConfig,
    client: send::Clients,
    backlog: Mutex<Backlog>,
    board: Mutex<Board>,
    updates: broadcast::Sender<RelayRecord>,
    /// Bounds deliveries in flight over all rooms.
    permits: Semaphore,
    pending_log: Arc<dyn PendingLog>,
}

/// The backend's answer to a "before" callback, or the fallback's, ready to send to Tencent.
#[derive(Debug, Clone)]
pub struct BeforeAnswer {
    pub status: u16,
    pub body: Bytes,
    pub content_type: Option<String>,
    state: RelayState,
    attempt: Attempt,
    answer: Option<String>,
}

impl BeforeAnswer {
    pub fn is_fallback(&self) -> bool {
        matches!(self.state, RelayState::Fallback { .. })
    }
}

/// The relay's state for the header and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelayStatus {
    pub target: String,
    #[serde(flatten)]
    pub health: Health,
    pub backlog: usize,
    pub backlog_bytes: usize,
    pub backlog_full: bool,
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
}

/// A place held in the backlog for one callback, before it is acknowledged.
pub struct Reservation<'a> {
    relay: &'a Arc<Relay>,
    bytes: usize,
    used: bool,
}

impl Reservation<'_> {
    /// Queues the (now numbered) event in the place held for it.
    pub fn enqueue(mut self, event: &Arc<Event>) {
        self.used = true;
        self.relay.enqueue(event);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.used {
            self.relay.backlog().release(self.bytes);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("cannot build the HTTP client for the relay: {0}")]
    Client(String),
}

impl Relay {
    pub fn new(config: RelayConfig) -> Result<Arc<Self>, RelayError> {
        Self::with_pending_log(config, Arc::new(InMemory))
    }

    /// A relay whose backlog is mirrored into `pending_log` (e.g. a journal).
    pub fn with_pending_log(
        config: RelayConfig,
        pending_log: Arc<dyn PendingLog>,
    ) -> Result<Arc<Self>, RelayError> {
        let client = send::client(&config.target, &config.extra_roots)
            .map_err(|e| RelayError::Client(crate::outputs::send::error_chain(&e)))?;
        let (updates, _) = broadcast::channel(UPDATES_CAPACITY);
        Ok(Arc::new(Self {
            backlog: Mutex::new(Backlog::new(config.backlog_count, config.backlog_bytes)),
            board: Mutex::new(Board::new(config.history)),
            permits: Semaphore::new(config.parallel.max(1)),
            config,
            client,
            updates,
            pending_log,
        }))
    }

    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// Every change of every record, as it happens.
    pub fn subscribe(&self) -> broadcast::Receiver<RelayRecord> {
        self.updates.subscribe()
    }

    /// Waits up to `within` for every queued callback to be settled (delivered or given up);
    /// returns how many are still waiting then.
    pub async fn settle(&self, within: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let waiting = self.backlog().len();
            if waiting == 0 || tokio::time::Instant::now() >= deadline {
                return waiting;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Puts the outcomes of a previous run (read back from a journal) in place, so that the
    /// callbacks restored with them show how their relay ended. Not broadcast: they are old news.
    pub fn restore(&self, records: impl IntoIterator<Item = RelayRecord>) {
        self.board().restore(records);
    }

    /// Every record held (bounded by `history`), oldest first.
    pub fn records(&self) -> Vec<RelayRecord> {
        self.board().records().cloned().collect()
    }

    /// The record of `seq`, if that callback was relayed (and is still remembered).
    pub fn record(&self, seq: u64) -> Option<RelayRecord> {
        self.board().get(seq).cloned()
    }

    pub fn status(&self) -> RelayStatus {
        let (backlog, backlog_bytes, backlog_full) = {
            let backlog = self.backlog();
            (backlog.len(), backlog.bytes(), backlog.is_full())
        };
        let mut board = self.board();
        let latency = board.latency(now_ms());
        RelayStatus {
            target: self.config.target.to_string(),
            health: board.health(),
            backlog,
            backlog_bytes,
            backlog_full,
            p50_ms: latency.map(|l| l.0),
            p99_ms: latency.map(|l| l.1),
        }
    }

    /// Tries to open a connection to the target once, so that a wrong URL shows at start.
    /// Marks the target failing when it cannot be reached.
    pub async fn probe(&self) -> Result<(), String> {
        let result = send::probe(&self.config.target, Duration::from_secs(2)).await;
        if let Err(reason) = &result {
            self.board().observe(
                now_ms(),
                None,
                Some(&format!("unreachable at start: {reason}")),
            );
        }
        result
    }

    /// Relays a "before" callback now and returns what Tencent must receive: the backend's
    /// answer, or the fallback's when the backend did not decide within `--before-timeout`.
    pub async fn before(&self, event: &Event, command: Command) -> BeforeAnswer {
        let url = request::relay_text(&self.config.target, &event.raw_query);
        let at_ms = now_ms();
        let sent = send::once(
            &self.client,
            &url,
            event.raw_body.clone(),
            event.content_type.as_deref(),
            self.config.before_timeout,
        )
        .await;
        let latency_ms = sent.latency_ms();
        self.observe(at_ms, &sent);
        let attempt = attempt(at_ms, &sent, false, false);
        let answer = match &sent {
            Sent::Answered(answer) => answer,
            Sent::Failed { reason, .. } => {
                return self.fallback(command, reason.clone(), attempt, None);
            }
        };
        if let Err(reason) = send::judge_before(answer) {
            return self.fallback(command, reason, attempt, Some(answer.text()));
        }
        BeforeAnswer {
            status: answer.status,
            body: answer.body.clone(),
            content_type: answer.content_type.clone(),
            state: RelayState::Delivered {
                status: answer.status,
                latency_ms,
            },
            attempt,
            answer: Some(answer.text()),
        }
    }

    fn fallback(
        &self,
        command: Command,
        reason: String,
        attempt: Attempt,
        answer: Option<String>,
    ) -> BeforeAnswer {
        let decision = self.config.fallback.for_command(command);
        // The reason can quote the backend's answer: escaped for the log file like all remote text.
        tracing::warn!(command = command.name(), reason = %crate::escape::Escaped(&reason), decision = decision.label(), "before-callback answered by the fallback");
        BeforeAnswer {
            status: 200,
            body: Bytes::from_static(request::fallback_body(command, decision).as_bytes()),
            content_type: Some("application/json".into()),
            state: RelayState::Fallback {
                decision: decision.label().into(),
                reason,
            },
            attempt,
            answer,
        }
    }

    /// Records a "before" callback's outcome under its seq.
    pub fn record_before(&self, seq: u64, answer: &BeforeAnswer) {
        let record = self.board().update(seq, Mode::Before, |record| {
            record.state = answer.state.clone();
            record.attempts.push(answer.attempt.clone());
            record.answer.clone_from(&answer.answer);
        });
        self.pending_log.finished(&record);
        let _ = self.updates.send(record);
    }

    /// Holds a backlog place for an "after" callback of `bytes`, or says the backlog is full.
    pub fn reserve(self: &Arc<Self>, bytes: usize) -> Result<Reservation<'_>, Full> {
        self.backlog().reserve(bytes)?;
        Ok(Reservation {
            relay: self,
            bytes,
            used: false,
        })
    }

    /// Records that an "after" callback was refused because the backlog was full.
    pub fn record_refused(&self, seq: u64, reason: &Full) {
        tracing::warn!(seq, %reason, "after-callback refused with 503");
        let record = self.board().update(seq, Mode::After, |record| {
            record.state = RelayState::Refused {
                reason: reason.to_string(),
            };
        });
        self.pending_log.finished(&record);
        let _ = self.updates.send(record);
    }

    /// Queues callbacks acknowledged before a restart (read back from a journal), in seq order,
    /// even beyond the backlog's bounds: they were acknowledged, so they are never refused.
    /// The pending log is not told again: it already holds them.
    pub fn requeue(self: &Arc<Self>, events: impl IntoIterator<Item = Arc<Event>>) {
        for event in events {
            self.backlog().force_reserve(event.raw_body.len());
            self.queue(&event);
        }
    }

    fn enqueue(self: &Arc<Self>, event: &Arc<Event>) {
        self.pending_log.pending(event);
        self.queue(event);
    }

    fn queue(self: &Arc<Self>, event: &Arc<Event>) {
        let room = RoomKey::new(
            event.sdkappid(),
            event.room_id.as_deref().unwrap_or_default(),
        );
        let record = self.board().update(event.seq, Mode::After, |record| {
            record.state = RelayState::Pending;
        });
        let _ = self.updates.send(record);
        if self.backlog().push(&room, Arc::clone(event)) == Pushed::StartDrainer {
            tokio::spawn(Arc::clone(self).drain(room));
        }
    }

    /// Delivers a room's callbacks one after the other until its line is empty.
    async fn drain(self: Arc<Self>, room: RoomKey) {
        loop {
            let Some(event) = self.backlog().front(&room) else {
                return;
            };
            self.deliver(&event).await;
            self.backlog().pop(&room);
            self.pending_log.settled(event.seq);
        }
    }

    /// Attempts one callback until it is delivered, refused for good, or too old.
    pub async fn deliver(&self, event: &Event) {
        let mut attempts: u32 = 0;
        loop {
            let at_ms = now_ms();
            let age =
                Duration::from_millis(u64::try_from(at_ms - event.received_at_ms).unwrap_or(0));
            if attempts > 0 && age > self.config.max_age {
                self.update(event.seq, |record| {
                    let last = record
                        .attempts
                        .last()
                        .map_or_else(String::new, |a| format!(", last: {}", a.result));
                    record.state = RelayState::Failed {
                        reason: format!(
                            "gave up after {} attempts in {}{last}",
                            attempts,
                            humanize(self.config.max_age)
                        ),
                    };
                });
                return;
            }
            attempts += 1;
            let (query, resigned, note) = self.query_for_copy(&event.raw_query, at_ms / 1000);
            let url = request::relay_text(&self.config.target, &query);
            let sent = {
                let _permit = self.permits.acquire().await;
                send::once(
                    &self.client,
                    &url,
                    event.raw_body.clone(),
                    event.content_type.as_deref(),
                    self.config.attempt_timeout,
                )
                .await
            };
            self.observe(at_ms, &sent);
            let step = send::judge_after(&sent);
            let try_again = matches!(step, send::Step::Retry(_));
            self.update(event.seq, |record| {
                record.attempts.push(attempt(at_ms, &sent, resigned, false));
                if let Sent::Answered(answer) = &sent {
                    record.answer = Some(answer.text());
                }
                if note.is_some() {
                    record.note.clone_from(&note);
                }
                record.state = match step {
                    send::Step::Done => RelayState::Delivered {
                        status: sent.status().unwrap_or_default(),
                        latency_ms: sent.latency_ms(),
                    },
                    send::Step::Final(reason) => RelayState::Failed { reason },
                    send::Step::Retry(reason) => RelayState::Retrying {
                        attempt: attempts + 1,
                        reason,
                    },
                };
            });
            if !try_again {
                return;
            }
            let remaining = self.config.max_age.saturating_sub(age);
            tokio::time::sleep(backoff(attempts, self.config.backoff_max).min(remaining)).await;
        }
    }

    /// The query a copy sent at `now_s` carries: re-signed when stale and a token is known;
    /// else as recorded, with a note when the backend may find it stale.
    fn query_for_copy<'q>(
        &self,
        raw_query: &'q str,
        now_s: i64,
    ) -> (Cow<'q, str>, bool, Option<String>) {
        if !request::is_stale(raw_query, now_s) {
            return (Cow::Borrowed(raw_query), false, None);
        }
        match &self.config.token {
            Some(token) => (
                Cow::Owned(request::resign(raw_query, token, now_s)),
                true,
                None,
            ),
            None => (
                Cow::Borrowed(raw_query),
                false,
                Some(format!(
                    "sent with its original RequestTime, over {} s old: without --token roomwatch cannot re-sign, and the backend may refuse it as stale",
                    request::RESIGN_AFTER_S
                )),
            ),
        }
    }

    /// Sends a recorded callback again (optionally with another body) to `to`, re-signed with
    /// a fresh `RequestTime` when a token is known. The outcome joins the event's record.
    pub async fn resend(&self, event: &Event, to: &Url, body: Option<Bytes>) -> RelayRecord {
        let at_ms = now_ms();
        let now_s = at_ms / 1000;
        let (query, resigned) = match &self.config.token {
            Some(token) => (request::resign(&event.raw_query, token, now_s), true),
            None => (event.raw_query.clone(), false),
        };
        let url = request::relay_text(to, &query);
        let body = body.unwrap_or_else(|| event.raw_body.clone());
        let sent = send::once(
            &self.client,
            &url,
            body,
            event.content_type.as_deref(),
            self.config.attempt_timeout,
        )
        .await;
        self.observe(at_ms, &sent);
        let mode = if event
            .callback
            .as_ref()
            .is_some_and(|c| request::is_synchronous(c.command))
        {
            Mode::Before
        } else {
            Mode::After
        };
        let record = self.board().update(event.seq, mode, |record| {
            record.attempts.push(attempt(at_ms, &sent, resigned, true));
            if let Sent::Answered(answer) = &sent {
                record.answer = Some(answer.text());
            }
            record.state = match &sent {
                Sent::Answered(answer) => RelayState::Delivered {
                    status: answer.status,
                    latency_ms: sent.latency_ms(),
                },
                Sent::Failed { reason, .. } => RelayState::Failed {
                    reason: reason.clone(),
                },
            };
        });
        self.pending_log.finished(&record);
        let _ = self.updates.send(record.clone());
        record
    }

    fn update(&self, seq: u64, change: impl FnOnce(&mut RelayRecord)) {
        let record = self.board().update(seq, Mode::After, change);
        if record.state.is_final() {
            self.pending_log.finished(&record);
        }
        let _ = self.updates.send(record);
    }

    fn observe(&self, at_ms: i64, sent: &Sent) {
        let failure = match sent {
            Sent::Answered(answer) if answer.status >= 500 => Some(format!("{}", answer.status)),
            Sent::Answered(_) => None,
            Sent::Failed { reason, .. } => Some(reason.clone()),
        };
        let answered = matches!(sent, Sent::Answered(_)).then(|| sent.latency_ms());
        self.board().observe(at_ms, answered, failure.as_deref());
    }

    fn backlog(&self) -> MutexGuard<'_, Backlog> {
        self.backlog.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn board(&self) -> MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The answer to an "after" callback refused because the backlog is full.
pub fn busy_body(full: &Full) -> String {
    serde_json::json!({
        "ActionStatus": "FAIL",
        "ErrorInfo": full.to_string(),
        "ErrorCode": 50301,
    })
    .to_string()
}

fn attempt(at_ms: i64, sent: &Sent, resigned: bool, resend: bool) -> Attempt {
    Attempt {
        at_ms,
        latency_ms: sent.latency_ms(),
        status: sent.status(),
        result: match sent {
            Sent::Answered(answer) => answer.status.to_string(),
            Sent::Failed { reason, .. } => reason.clone(),
        },
        resigned,
        resend,
    }
}

/// Exponential backoff with jitter: the `attempt`-th wait is between half and all of
/// `BACKOFF_START * 2^(attempt-1)`, capped at `max`, so that retries of many rooms spread out.
fn backoff(attempt: u32, max: Duration) -> Duration {
    let full = BACKOFF_START
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(max);
    full / 2 + full.mul_f64(fastrand::f64() / 2.0)
}

fn humanize(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0 => format!("{} ms", duration.as_millis()),
        1..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        let max = Duration::from_secs(30);
        for attempt in 1..40 {
            let wait = backoff(attempt, max);
            let full = BACKOFF_START
                .saturating_mul(1u32 << (attempt - 1).min(20))
                .min(max);
            assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
        }
    }
}
