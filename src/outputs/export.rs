//! `roomwatch export`: recorded callbacks as NDJSON, one line each in exactly the headless
//! format. Reads through a read-only connection, so it works while roomwatch is running.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use rusqlite::Connection;

use crate::cli::{ExportArgs, SelectArgs};
use crate::eventlog::location;
use crate::eventlog::query::{Filter, SelectError, select};
use crate::eventlog::relay_outcome;
use crate::eventlog::sqlite::open_reader;
use crate::outputs::headless;

/// Why a journal could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadJournalError {
    #[error("no journal given and no data directory known: pass --journal PATH")]
    NoPath,
    #[error("no journal at {0}")]
    Missing(String),
    #[error("cannot read journal {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
}

/// The filter the flags describe.
pub fn filter(select: &SelectArgs) -> Filter {
    Filter {
        room: select.room.clone(),
        sdkappid: select.sdkappid.clone(),
        command: select.command.clone(),
        verdict: select.verdict.clone(),
        since_ms: select.since,
        until_ms: select.until,
    }
}

/// Opens the journal `select` names (or the default one) for reading.
pub fn open(select: &SelectArgs) -> Result<(PathBuf, Connection), ReadJournalError> {
    let path = location::for_reading(select.journal.clone()).ok_or(ReadJournalError::NoPath)?;
    if !path.exists() {
        return Err(ReadJournalError::Missing(path.display().to_string()));
    }
    let conn = open_reader(&path).map_err(|source| ReadJournalError::Sqlite {
        path: path.display().to_string(),
        source,
    })?;
    Ok((path, conn))
}

pub fn run(args: &ExportArgs) -> ExitCode {
    let (path, conn) = match open(&args.select) {
        Ok(opened) => opened,
        Err(error) => {
            eprintln!("roomwatch export: {error}");
            return ExitCode::FAILURE;
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let outcomes = relay_outcome::OutcomeReader::new(&conn).ok();
    let result = select(&conn, &filter(&args.select), |entry| {
        // The callback's relay outcome as recorded (unreadable: the line goes without it).
        let relay = outcomes
            .as_ref()
            .and_then(|reader| reader.newest(&conn, entry.event.seq).ok().flatten());
        writeln!(out, "{}", headless::line_with_relay(&entry, relay.as_ref()))
    });
    let flushed = out.flush();
    match (result, flushed) {
        (Ok(skipped), Ok(())) => {
            if skipped > 0 {
                eprintln!("roomwatch export: {skipped} damaged record(s) skipped");
            }
            ExitCode::SUCCESS
        }
        // A closed stdout (`| head`) is a normal end for a pipeline.
        (Err(SelectError::Sink(e)), _) | (_, Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        (Err(error), _) => {
            eprintln!("roomwatch export: {}: {error}", path.display());
            ExitCode::FAILURE
        }
        (_, Err(error)) => {
            eprintln!("roomwatch export: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `export --nats`: every record the stream held when export started, folded in stream order
/// (so each line's effect is the one a viewer saw), filtered, in the headless format.
pub async fn from_stream(args: &ExportArgs, servers: &[String]) -> ExitCode {
    let mut options = crate::nats::NatsOptions::new(servers.to_vec());
    options.creds.clone_from(&args.nats_creds);
    options.tls_ca.clone_from(&args.nats_tls_ca);
    options.stream.clone_from(&args.nats_stream);
    options.receiver = "export".to_string();
    options.create_stream = false;
    let filter = filter(&args.select);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut store = crate::store::RoomStore::new(1);
    let mut write_error = None;
    let result = async {
        let log = crate::nats::StreamLog::connect(options, false)
            .await
            .map_err(|e| e.to_string())?;
        let (status, _) = tokio::sync::watch::channel(crate::nats::follow::FollowStatus::default());
        log.read_stream(0, &status, true, std::future::pending(), |event| {
            let event = std::sync::Arc::new(event);
            let Some(effect) = store.apply(std::sync::Arc::clone(&event)) else {
                return;
            };
            if write_error.is_none() && filter.matches(&event) {
                let entry = crate::store::LogEntry { event, effect };
                if let Err(error) = writeln!(out, "{}", headless::line(&entry)) {
                    write_error = Some(error);
                }
            }
        })
        .await
        .map_err(|e| e.to_string())?;
        Ok::<u64, String>(status.borrow().unreadable)
    }
    .await;
    let flushed = out.flush();
    match (result, write_error, flushed) {
        (_, Some(e), _) | (_, None, Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        (Ok(unreadable), None, Ok(())) => {
            if unreadable > 0 {
                eprintln!("roomwatch export: {unreadable} unreadable record(s) skipped");
            }
            ExitCode::SUCCESS
        }
        (Err(error), _, _) => {
            eprintln!("roomwatch export: {error}");
            ExitCode::FAILURE
        }
        (_, Some(error), _) | (_, None, Err(error)) => {
            eprintln!("roomwatch export: {error}");
            ExitCode::FAILURE
        }
    }
}
