//! The headless printer's hand-written NDJSON against the plain serde version it replaced:
//! the same bytes for every sample callback and for every odd case (rejected, unrecognized,
//! not JSON, not UTF-8, terminal controls, trimmed lists, clock skew, a signature), and the
//! same value with a relay outcome attached. Also the printer end to end through a real hub.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use roomwatch::event::{Event, Verdict};
use roomwatch::hub::Hub;
use roomwatch::ingest::auth::AuthConfig;
use roomwatch::ingest::intake::{self, Arrival, BodyRead};
use roomwatch::outputs::headless::{self, reference};
use roomwatch::protocol::samples::SAMPLES;
use roomwatch::relay::RelayRecord;
use roomwatch::relay::outcome::{Mode, RelayState};
use roomwatch::store::LogEntry;
use serde_json::Value;

const T0: i64 = 1_763_000_000_123;

fn judge(query: &str, body: BodyRead, auth: &AuthConfig) -> Event {
    let arrival = Arrival {
        method: "POST".into(),
        path: "/callback".into(),
        raw_query: query.into(),
        content_type: Some("application/json".into()),
        remote: Some("127.0.0.1:5000".into()),
        received_at_ms: T0,
    };
    intake::judge(arrival, body, auth)
}

fn open() -> AuthConfig {
    AuthConfig {
        window_s: 60,
        ..AuthConfig::default()
    }
}

/// Every event through a real hub, so seq, effect and clock skew are what the printer sees.
fn entries(events: Vec<Event>) -> Vec<LogEntry> {
    let hub = Hub::new(10_000, 10_000);
    let mut rx = hub.subscribe();
    for event in events {
        hub.publish(event);
    }
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

fn assert_same(entry: &LogEntry) {
    let old = reference::line(entry);
    let new = headless::line(entry);
    assert_eq!(new, old, "seq {}", entry.event.seq);
    assert!(serde_json::from_str::<Value>(&new).is_ok(), "{new}");
}

#[test]
fn every_sample_callback_prints_the_same_bytes() {
    let events = SAMPLES
        .iter()
        .map(|s| {
            let query = format!("SdkAppid=1400000001&CallbackCommand={}", s.command);
            judge(
                &query,
                BodyRead::Complete(s.json.as_bytes().to_vec()),
                &open(),
            )
        })
        .collect();
    let entries = entries(events);
    assert_eq!(entries.len(), SAMPLES.len());
    for entry in &entries {
        assert_same(entry);
    }
}

#[test]
fn odd_callbacks_print_the_same_bytes() {
    let signed = AuthConfig {
        sdkappids: vec!["1400000001".into()],
        token: Some("secret".into()),
        window_s: 60,
    };
    let too_many: Vec<String> = (0..5000)
        .map(|i| format!("{{\"Member_Account\":\"u{i}\"}}"))
        .collect();
    let events = vec![
        // Rejected: wrong app, bad signature (the Sign is redacted), not JSON, not UTF-8.
        judge("SdkAppid=999", BodyRead::Complete(b"{}".to_vec()), &signed),
        judge(
            "SdkAppid=1400000001&Sign=deadbeef&RequestTime=1",
            BodyRead::Complete(b"{}".to_vec()),
            &signed,
        ),
        judge("", BodyRead::Complete(b"not json \x1b[2J".to_vec()), &open()),
        judge("", BodyRead::Complete(b"{\"a\":\xff\xfe}".to_vec()), &open()),
        judge("", BodyRead::Complete(Vec::new()), &open()),
        judge(
            "",
            BodyRead::TooLarge {
                prefix: b"{\"RoomId\":\"r".to_vec(),
                limit: 10,
            },
            &open(),
        ),
        judge(
            "",
            BodyRead::Broken {
                prefix: b"{\"Ro".to_vec(),
                error: "connection reset".into(),
            },
            &open(),
        ),
        judge("", BodyRead::Complete(b"[1, 2, 3]".to_vec()), &open()),
        // Unrecognized, with whitespace, escapes and unsafe characters inside strings.
        judge(
            "CallbackCommand=Trtc.Whatever&x=%E2%80%AE&q=%22a%5Cb%01%09%7F",
            BodyRead::Complete(
                "{ \"CallbackCommand\" : \"Trtc.Whatever\",\n \"n\": \"a\\\"b \u{7f}\u{9b}\u{202e} 直播\", \"num\": 1.50e3 }"
                    .as_bytes()
                    .to_vec(),
            ),
            &open(),
        ),
        // Accepted, with lists cut to the limits and an EventTime far ahead (clock skew).
        judge(
            "CallbackCommand=Live.CallbackAfterMemberStateChanged",
            BodyRead::Complete(
                format!(
                    "{{\"CallbackCommand\":\"Live.CallbackAfterMemberStateChanged\",\"RoomId\":\"r\\u001b1\",\"EventType\":\"Online\",\"EventTime\":{},\"Operator_Account\":\"op\u{202e}\",\"MemberList\":[{}]}}",
                    T0 + 86_400_000,
                    too_many.join(",")
                )
                .into_bytes(),
            ),
            &open(),
        ),
    ];
    let entries = entries(events);
    assert!(entries.iter().any(|e| e.event.verdict == Verdict::Rejected));
    assert!(
        entries
            .iter()
            .any(|e| e.event.verdict == Verdict::Unrecognized)
    );
    let last = entries.last().unwrap();
    assert!(
        last.event.clock_skew && !last.event.trimmed.is_empty(),
        "{}",
        headless::line(last)
    );
    for entry in &entries {
        assert_same(entry);
        let line = headless::line(entry);
        assert!(!line.contains("deadbeef"), "{line}");
        assert!(!line.chars().any(roomwatch::escape::is_unsafe), "{line}");
    }
}

#[test]
fn a_relay_outcome_is_added_to_the_same_value() {
    let sample = &SAMPLES[0];
    let entries = entries(vec![judge(
        "",
        BodyRead::Complete(sample.json.as_bytes().to_vec()),
        &open(),
    )]);
    let mut record = RelayRecord::new(entries[0].event.seq, Mode::After);
    record.state = RelayState::Failed {
        reason: "backend said \u{1b}]0;x".into(),
    };
    let line = headless::line_with_relay(&entries[0], Some(&record));
    let mut want: Value = serde_json::from_str(&reference::line(&entries[0])).unwrap();
    want["relay"] = record.summary();
    assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), want);
    assert!(line.ends_with('}') && !line.contains('\n'));
}

/// A writer that takes whatever it is given, so the printer can be read back after it ends.
#[derive(Clone, Default)]
struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_batched_printer_writes_every_event_once_in_order() {
    let hub = Arc::new(Hub::new(100_000, 100_000));
    let rx = hub.subscribe();
    let out = Shared::default();
    let progress = Arc::new(headless::Progress::default());
    let printer = {
        let (hub, out, progress) = (Arc::clone(&hub), out.clone(), Arc::clone(&progress));
        std::thread::spawn(move || headless::print_events(&hub, rx, out, &progress))
    };
    let count = 5_000;
    for i in 0..count {
        let sample = &SAMPLES[i % SAMPLES.len()];
        hub.publish(judge(
            "",
            BodyRead::Complete(sample.json.as_bytes().to_vec()),
            &open(),
        ));
    }
    hub.close();
    printer.join().unwrap().unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let seqs = seqs(&text);
    assert_eq!(seqs, (1..=count as u64).collect::<Vec<_>>());
    assert_eq!(progress.printed(), count as u64);
    assert_eq!(progress.lost(), 0);
}

/// An output that takes at most `step` bytes per write, and fails for good once it took
/// `fail_after` bytes: like a pipe that drains slowly, then closes.
#[derive(Clone)]
struct Trickle {
    taken: Arc<std::sync::Mutex<Vec<u8>>>,
    step: usize,
    fail_after: usize,
}

impl std::io::Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut taken = self.taken.lock().unwrap();
        let room = self.fail_after.saturating_sub(taken.len());
        if room == 0 {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let n = buf.len().min(self.step).min(room);
        taken.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn partial_writes_count_exactly_the_lines_the_output_took() {
    for (step, fail_after) in [(7, usize::MAX), (7, 5_000), (4096, 12_345)] {
        let hub = Arc::new(Hub::new(10_000, 10_000));
        let rx = hub.subscribe();
        let out = Trickle {
            taken: Arc::default(),
            step,
            fail_after,
        };
        let progress = Arc::new(headless::Progress::default());
        // Published before the printer starts: it takes them in batches.
        for i in 0..300 {
            let sample = &SAMPLES[i % SAMPLES.len()];
            hub.publish(judge(
                "",
                BodyRead::Complete(sample.json.as_bytes().to_vec()),
                &open(),
            ));
        }
        hub.close();
        let printer = {
            let (hub, out, progress) = (Arc::clone(&hub), out.clone(), Arc::clone(&progress));
            std::thread::spawn(move || headless::print_events(&hub, rx, out, &progress))
        };
        let result = printer.join().unwrap();
        let text = String::from_utf8_lossy(&out.taken.lock().unwrap()).into_owned();
        let complete = text.matches('\n').count();
        assert_eq!(progress.printed(), complete as u64, "step {step}");
        for (i, line) in text.lines().take(complete).enumerate() {
            let value: Value = serde_json::from_str(line).unwrap();
            assert_eq!(value["seq"].as_u64(), Some(i as u64 + 1));
        }
        if fail_after == usize::MAX {
            result.unwrap();
            assert_eq!(complete, 300);
        } else {
            assert!(
                result.is_err(),
                "step {step}: the broken output is reported"
            );
            assert!(complete < 300);
        }
    }
}

/// A hub journaling into `path` that holds 10 events in memory, with a bus of 4: a printer
/// started late misses almost everything.
fn small_journaled_hub(path: &std::path::Path) -> Arc<Hub> {
    let options = roomwatch::eventlog::JournalOptions {
        log_capacity: 10,
        ..roomwatch::eventlog::JournalOptions::new(path)
    };
    let (journal, restored) = roomwatch::eventlog::SqliteJournal::open(&options).unwrap();
    Arc::new(Hub::with_journal(restored.store, 4, Arc::new(journal)))
}

/// The `seq` of every NDJSON line in `text`.
fn seqs(text: &str) -> Vec<u64> {
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

/// The `i`th sample callback (cycling through the samples), judged with open auth.
fn sample_event(i: usize) -> Event {
    let sample = &SAMPLES[i % SAMPLES.len()];
    judge(
        "",
        BodyRead::Complete(sample.json.as_bytes().to_vec()),
        &open(),
    )
}

/// Publishes `count` sample callbacks to `hub`, waiting for each journal commit when there
/// is a journal.
fn publish_samples(hub: &Hub, count: usize) {
    for i in 0..count {
        let event = sample_event(i);
        if let (_, Some(commit)) = hub.publish_durably(event) {
            commit.wait_blocking().unwrap();
        }
    }
}

/// Runs the printer over everything `rx` missed until the hub closes; its output and progress.
fn print_all(
    hub: &Arc<Hub>,
    rx: tokio::sync::broadcast::Receiver<LogEntry>,
) -> (String, Arc<headless::Progress>) {
    hub.close();
    let out = Shared::default();
    let progress = Arc::new(headless::Progress::default());
    let printer = {
        let (hub, out, progress) = (Arc::clone(hub), out.clone(), Arc::clone(&progress));
        std::thread::spawn(move || headless::print_events(&hub, rx, out, &progress))
    };
    printer.join().unwrap().unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    (text, progress)
}

/// A printer that fell further behind than the in-memory log reaches reads the rest from the
/// journal: every line printed, in order, byte for byte what it would have printed live.
#[test]
fn a_printer_behind_the_in_memory_log_catches_up_from_the_journal() {
    let count = 2_500;
    let dir = tempfile::tempdir().unwrap();
    // A channel of 4 and a log of 10: the printer, started late, misses almost everything.
    let hub = small_journaled_hub(&dir.path().join("journal.sqlite"));
    let rx = hub.subscribe();
    publish_samples(&hub, count);
    // The same callbacks in a hub that keeps them all give the lines expected.
    let reference = Hub::new(count, count);
    publish_samples(&reference, count);
    let expected: String = reference.read(|store| {
        store
            .log()
            .iter()
            .map(|entry| headless::line(entry) + "\n")
            .collect()
    });

    let (text, progress) = print_all(&hub, rx);
    assert_eq!(progress.lost(), 0);
    assert_eq!(progress.printed(), count as u64);
    assert!(
        text == expected,
        "the caught-up lines differ from the live ones"
    );
}

/// Events that left the in-memory log before the journal committed them (its writer held up
/// by another process's write lock) are read once committed: none counted lost.
#[test]
fn a_printer_waits_for_a_journal_that_is_behind_the_in_memory_log() {
    let count = 300;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let hub = small_journaled_hub(&path);
    let rx = hub.subscribe();
    // Another writer holds the lock: the journal's commits wait (SQLite's busy timeout).
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut commits = Vec::new();
    for i in 0..count {
        let event = sample_event(i);
        commits.extend(hub.publish_durably(event).1);
    }
    assert_eq!(hub.journal().unwrap().health().committed, 0);
    hub.close();
    let out = Shared::default();
    let progress = Arc::new(headless::Progress::default());
    let printer = {
        let (hub, out, progress) = (Arc::clone(&hub), out.clone(), Arc::clone(&progress));
        std::thread::spawn(move || headless::print_events(&hub, rx, out, &progress))
    };
    // Let the printer reach the catch-up (nothing committed yet), then let the journal go on.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        progress.printed(),
        0,
        "printed before the journal held the events"
    );
    // Without the wait it would have counted them lost and finished (the hub is closed).
    assert!(
        !printer.is_finished(),
        "the printer did not wait for the journal"
    );
    blocker.execute_batch("ROLLBACK").unwrap();
    for commit in commits {
        commit.wait_blocking().unwrap();
    }
    printer.join().unwrap().unwrap();
    assert_eq!(progress.lost(), 0);
    assert_eq!(progress.printed(), count as u64);
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let seqs = seqs(&text);
    assert_eq!(seqs, (1..=count as u64).collect::<Vec<_>>());
}

/// A record read back from a stream (or a journal) whose body does not parse, whatever
/// verdict it carries (another publisher on the subject, another version): its line is still
/// JSON, the body escaped text, no raw terminal control in it.
#[test]
fn a_stored_body_that_does_not_parse_is_printed_as_escaped_text() {
    let sample = &SAMPLES[0];
    let judged = judge(
        "",
        BodyRead::Complete(sample.json.as_bytes().to_vec()),
        &open(),
    );
    assert_eq!(judged.verdict, Verdict::Accepted);
    let outgoing = roomwatch::nats::record::encode("rw", &judged, "test");
    let hostile = axum::body::Bytes::from_static(b"\x1b]0;owned\x07 {\"a\":\xff}");
    let event = roomwatch::nats::record::decode(Some(&outgoing.headers), &hostile, 1).unwrap();
    assert_eq!(
        event.verdict,
        Verdict::Accepted,
        "the recorded verdict is kept"
    );
    let hub = Arc::new(Hub::new(10, 10));
    let rx = hub.subscribe();
    hub.publish_numbered(event).unwrap();
    let (text, progress) = print_all(&hub, rx);
    assert_eq!(progress.printed(), 1);
    let line = text.lines().next().unwrap();
    assert!(
        !line.contains('\u{1b}') && !line.contains('\u{7}'),
        "{line}"
    );
    let value: Value = serde_json::from_str(line).unwrap();
    assert_eq!(value["body"], "\u{1b}]0;owned\u{7} {\"a\":\\xff}");
}

/// Without a journal, what left the in-memory log is counted as not printed (and said on
/// stderr); the rest is printed in order.
#[test]
fn without_a_journal_a_printer_behind_the_log_counts_what_it_lost() {
    let hub = Arc::new(Hub::new(10, 4));
    let rx = hub.subscribe();
    publish_samples(&hub, 100);
    let (text, progress) = print_all(&hub, rx);
    let seqs = seqs(&text);
    assert_eq!(seqs, (91..=100).collect::<Vec<_>>());
    assert_eq!(progress.printed(), 10);
    assert_eq!(progress.lost(), 90);
}

/// A long run of unreadable records in the journal is counted as not printed and stepped
/// over: the catch-up goes on to every readable line after it.
#[test]
fn a_run_of_unreadable_records_never_ends_the_catch_up() {
    let count = 2_500;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let hub = small_journaled_hub(&path);
    let rx = hub.subscribe();
    publish_samples(&hub, count);
    // Wait until the journal holds every record, then break 1,201 of them in a row (more
    // than one chunk of reading).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while hub.journal_health().unwrap().committed < count as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "records not committed"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let broken = rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE callbacks SET checksum = checksum + 1 WHERE seq BETWEEN 100 AND 1300",
            [],
        )
        .unwrap();
    assert_eq!(broken, 1201);

    let (text, progress) = print_all(&hub, rx);
    let seqs = seqs(&text);
    let expected: Vec<u64> = (1..100).chain(1301..=count as u64).collect();
    assert_eq!(seqs, expected);
    assert_eq!(progress.lost(), 1201);
    assert_eq!(progress.printed(), count as u64 - 1201);
}

/// While the journal fails (disk full), each line says whether its callback waits in memory
/// for the journal or was dropped from that backlog; every other byte is the usual line.
#[test]
fn lines_the_journal_does_not_hold_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let options = roomwatch::eventlog::JournalOptions {
        backlog_cap: 5,
        ..roomwatch::eventlog::JournalOptions::new(&path)
    };
    let (journal, restored) = roomwatch::eventlog::SqliteJournal::open(&options).unwrap();
    let pages: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "page_count", |r| r.get(0))
        .unwrap();
    // No room to grow: commits meet SQLITE_FULL once the file's free pages are used up.
    journal.set_max_pages(pages.try_into().unwrap());
    let journal = Arc::new(journal);
    let hub = Arc::new(Hub::with_journal(restored.store, 4096, journal.clone()));
    let rx = hub.subscribe();
    let count = 40;
    for i in 0..count {
        let event = sample_event(i);
        if let (_, Some(commit)) = hub.publish_durably(event) {
            // Answered either way: from memory when the commit fails.
            let _ = commit.wait_blocking();
        }
    }
    let health = roomwatch::eventlog::EventLog::health(journal.as_ref());
    assert!(health.failing.is_some(), "{health:?}");
    assert!(!health.lost_ranges.is_empty(), "{health:?}");
    let expected: Vec<String> = hub.read(|store| store.log().iter().map(headless::line).collect());

    let (text, progress) = print_all(&hub, rx);
    assert_eq!(progress.printed(), count as u64);
    let mut marks = std::collections::BTreeMap::new();
    for (line, plain) in text.lines().zip(&expected) {
        let value: Value = serde_json::from_str(line).unwrap();
        let seq = value["seq"].as_u64().unwrap();
        let mark = value
            .get("journal")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mark = mark.as_deref();
        let fate = match health.journaled(seq) {
            roomwatch::eventlog::Journaled::Yes => None,
            roomwatch::eventlog::Journaled::Waiting => Some("waiting"),
            roomwatch::eventlog::Journaled::Lost => Some("lost"),
        };
        assert_eq!(mark, fate, "line {seq}");
        *marks.entry(mark.map(str::to_owned)).or_insert(0) += 1;
        // The mark is the only difference from the usual line.
        let unmarked = match mark {
            Some(mark) => line.replacen(&format!(",\"journal\":\"{mark}\""), "", 1),
            None => line.to_string(),
        };
        assert_eq!(&unmarked, plain);
    }
    assert_eq!(
        marks.len(),
        3,
        "journaled, waiting and lost lines: {marks:?}"
    );
}
