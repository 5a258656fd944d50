//! `roomwatch replay`: re-sends recorded callbacks in their original order, exactly as
//! received (query string and body byte for byte, Content-Type as received), to a URL. With a
//! token, `Sign` and `RequestTime` are replaced by fresh ones, since a recorded Sign is stale
//! after 60 s.

use std::process::ExitCode;
use std::time::Duration;

use reqwest::{Url, header};

use crate::cli::ReplayArgs;
use crate::eventlog::query::select;
use crate::ingest::auth;
use crate::ingest::receiver::now_ms;
use crate::outputs::export;
use crate::outputs::send::{error_chain, http_client};
use crate::store::LogEntry;

/// How long one callback may take to be answered.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The recorded query string with `Sign` and `RequestTime` replaced (or added) for `token`,
/// every other parameter kept as received, in its place.
pub fn resign(raw_query: &str, token: &str, now_s: i64) -> String {
    let request_time = now_s.to_string();
    let sign = auth::sign(token, &request_time);
    let mut out = form_urlencoded::Serializer::new(String::new());
    let (mut signed, mut timed) = (false, false);
    for (name, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        if name.eq_ignore_ascii_case("Sign") {
            out.append_pair(&name, &sign);
            signed = true;
        } else if name.eq_ignore_ascii_case("RequestTime") {
            out.append_pair(&name, &request_time);
            timed = true;
        } else {
            out.append_pair(&name, &value);
        }
    }
    if !signed {
        out.append_pair("Sign", &sign);
    }
    if !timed {
        out.append_pair("RequestTime", &request_time);
    }
    out.finish()
}

/// The URL one recorded callback goes to: the target's path and own query, then the
/// recorded query (re-signed with a token).
pub fn target_url(to: &Url, entry: &LogEntry, token: Option<&str>, now_s: i64) -> Url {
    let recorded = match token {
        Some(token) => resign(&entry.event.raw_query, token, now_s),
        None => entry.event.raw_query.clone(),
    };
    let mut url = to.clone();
    let query = match (to.query().filter(|q| !q.is_empty()), recorded.is_empty()) {
        (Some(own), false) => Some(format!("{own}&{recorded}")),
        (Some(own), true) => Some(own.to_string()),
        (None, false) => Some(recorded),
        (None, true) => None,
    };
    url.set_query(query.as_deref());
    url
}

pub async fn run(args: ReplayArgs) -> ExitCode {
    let to = match Url::parse(&args.to) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        Ok(_) => {
            eprintln!("roomwatch replay: --to must be an http:// or https:// URL");
            return ExitCode::from(2);
        }
        Err(error) => {
            eprintln!("roomwatch replay: bad --to {:?}: {error}", args.to);
            return ExitCode::from(2);
        }
    };
    let (path, conn) = match export::open(&args.select) {
        Ok(opened) => opened,
        Err(error) => {
            eprintln!("roomwatch replay: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Read the selection first: the sends are async, the connection is not.
    let mut entries = Vec::new();
    let selected = select(&conn, &export::filter(&args.select), |entry| {
        entries.push(entry);
        Ok::<(), std::convert::Infallible>(())
    });
    drop(conn);
    match selected {
        Ok(0) => {}
        Ok(skipped) => eprintln!("roomwatch replay: {skipped} damaged record(s) skipped"),
        Err(error) => {
            eprintln!("roomwatch replay: {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let loopback = to.host_str().is_some_and(|h| {
        h == "localhost"
            || h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    let client = match http_client(TIMEOUT, loopback) {
        Ok(client) => client,
        Err(error) => {
            eprintln!("roomwatch replay: {}", error_chain(&error));
            return ExitCode::FAILURE;
        }
    };
    let gap = args.rate.map(|rate| Duration::from_secs_f64(1.0 / rate));
    let mut failed = 0usize;
    for (i, entry) in entries.iter().enumerate() {
        if i > 0
            && let Some(gap) = gap
        {
            tokio::time::sleep(gap).await;
        }
        let event = &entry.event;
        let url = target_url(&to, entry, args.token.as_deref(), now_ms() / 1000);
        let command = event.command.as_deref().unwrap_or("-");
        if args.dry_run {
            println!(
                "seq {} {command} -> {url} ({} bytes)",
                event.seq,
                event.raw_body.len()
            );
            continue;
        }
        let mut request = client
            .request(
                reqwest::Method::from_bytes(event.method.as_bytes())
                    .unwrap_or(reqwest::Method::POST),
                url,
            )
            .body(event.raw_body.clone());
        if let Some(content_type) = &event.content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                println!("seq {} {command} {} {body}", event.seq, status.as_u16());
                if !status.is_success() {
                    failed += 1;
                }
            }
            Err(error) => {
                println!(
                    "seq {} {command} failed: {}",
                    event.seq,
                    error_chain(&error)
                );
                failed += 1;
            }
        }
    }
    if failed > 0 {
        eprintln!("roomwatch replay: {failed} of {} failed", entries.len());
        ExitCode::FAILURE
    } else {
        if !args.dry_run {
            eprintln!("roomwatch replay: {} sent", entries.len());
        }
        ExitCode::SUCCESS
    }
}
