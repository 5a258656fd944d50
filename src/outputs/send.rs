//! `roomwatch send`: post one callback exactly as Tencent would, to roomwatch or any backend.
//!
//! The query string and HTTP helpers here are shared with the demo, so that both speak the
//! same dialect as Tencent: `SdkAppid`, `CallbackCommand`, `contenttype=json`, `ClientIP`,
//! `OptPlatform`, and `Sign` + `RequestTime` when a token is set.

use std::error::Error as StdError;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use reqwest::{Client, Url, header};
use serde_json::Value;

use crate::cli::SendArgs;
use crate::escape::Escaped;
use crate::ingest::auth;
use crate::ingest::receiver::now_ms;
use crate::protocol::samples::{self, SAMPLES};

/// Who the callback claims to come from: the rest of Tencent's query string.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub sdkappid: &'a str,
    /// Signs the request when set.
    pub token: Option<&'a str>,
    pub client_ip: &'a str,
    pub platform: &'a str,
}

/// `base` with Tencent's query parameters appended (after any it already has). With a token,
/// `RequestTime` is `now_s` and `Sign` is `sha256(token + RequestTime)` in lowercase hex.
pub fn callback_url(base: &Url, command: &str, origin: &Origin<'_>, now_s: i64) -> Url {
    let mut url = base.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("SdkAppid", origin.sdkappid)
            .append_pair("CallbackCommand", command)
            .append_pair("contenttype", "json")
            .append_pair("ClientIP", origin.client_ip)
            .append_pair("OptPlatform", origin.platform);
        if let Some(token) = origin.token {
            let request_time = now_s.to_string();
            query
                .append_pair("Sign", &auth::sign(token, &request_time))
                .append_pair("RequestTime", &request_time);
        }
    }
    url
}

/// An HTTP client for posting callbacks. Loopback targets bypass any configured proxy.
pub fn http_client(timeout: Duration, loopback: bool) -> Result<Client, reqwest::Error> {
    let builder = Client::builder()
        .timeout(timeout)
        .user_agent(concat!("roomwatch/", env!("CARGO_PKG_VERSION")));
    if loopback {
        builder.no_proxy().build()
    } else {
        builder.build()
    }
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: reqwest::StatusCode,
    pub body: String,
}

/// POSTs a callback body to a URL built by [`callback_url`].
pub async fn post(client: &Client, url: Url, body: String) -> Result<Answer, reqwest::Error> {
    let response = client
        .post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let body = response.text().await?;
    Ok(Answer { status, body })
}

/// An error with its causes, for one line of output.
pub fn error_chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Why `send` could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(
        "unknown callback command {given:?}{hint}: run `roomwatch send --list` for the built-in samples, or give a .json file"
    )]
    UnknownCommand { given: String, hint: String },
    #[error("cannot read {path}: {message}")]
    Unreadable { path: String, message: String },
    #[error("{path} is not JSON: {message}")]
    NotJson { path: String, message: String },
    #[error("{0} holds JSON but not an object; a callback body is a JSON object")]
    NotObject(String),
    #[error(
        "the body has no CallbackCommand; add one to the file or pass --set CallbackCommand=NAME"
    )]
    NoCommand,
    #[error("bad --set {given:?}: {reason}")]
    BadSet { given: String, reason: String },
    #[error("bad --to {given:?}: {reason}")]
    BadUrl { given: String, reason: String },
    #[error("--{0} is required (or use --list)")]
    Missing(&'static str),
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("the server answered {0}, not 2xx")]
    Status(reqwest::StatusCode),
}

impl SendError {
    /// 2 for bad input (like a usage error), 1 when the network or the server said no.
    fn exit_code(&self) -> u8 {
        match self {
            Self::Unreachable { .. } | Self::Status(_) => 1,
            _ => 2,
        }
    }
}

/// Runs `roomwatch send`; returns the process exit code.
pub async fn run(args: SendArgs) -> ExitCode {
    if args.list {
        print!("{}", list());
        return ExitCode::SUCCESS;
    }
    match send(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Error texts can quote the server or the URL given: escaped like all remote text.
            eprintln!("roomwatch: {}", Escaped(&error.to_string()));
            ExitCode::from(error.exit_code())
        }
    }
}

/// The built-in samples, one command per line.
pub fn list() -> String {
    SAMPLES.iter().fold(String::new(), |mut text, sample| {
        text.push_str(sample.command);
        text.push('\n');
        text
    })
}

async fn send(args: &SendArgs) -> Result<(), SendError> {
    let what = args.what.as_deref().ok_or(SendError::Missing("what"))?;
    let to = args.to.clone().unwrap_or_else(default_target);
    let base = parse_target(&to)?;
    let (mut body, fallback_command) = load_body(what)?;
    if !args.keep_time {
        refresh_times(&mut body, now_ms());
    }
    for assignment in &args.set {
        apply_set(&mut body, assignment)?;
    }
    let command = body
        .get("CallbackCommand")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or(fallback_command)
        .ok_or(SendError::NoCommand)?;
    let origin = Origin {
        sdkappid: &args.sdkappid,
        token: args.token.as_deref(),
        client_ip: &args.client_ip,
        platform: &args.platform,
    };
    let url = callback_url(&base, &command, &origin, now_ms() / 1000);
    let loopback = is_loopback(&base);
    let client =
        http_client(Duration::from_secs(10), loopback).map_err(|e| SendError::Unreachable {
            url: base.to_string(),
            message: error_chain(&e),
        })?;
    eprintln!(
        "roomwatch: POST {} to {}",
        Escaped(&command),
        Escaped(base.as_str())
    );
    let answer =
        post(&client, url, body.to_string())
            .await
            .map_err(|e| SendError::Unreachable {
                url: base.to_string(),
                message: error_chain(&e),
            })?;
    // A hostile server's answer must not drive the terminal. (The status prints with its
    // standard reason, never the server's own reason phrase.)
    println!("{}", answer.status);
    println!("{}", Escaped(&answer.body));
    if answer.status.is_success() {
        Ok(())
    } else {
        Err(SendError::Status(answer.status))
    }
}

/// The local listener: `ROOMWATCH_LISTEN` (a wildcard address reached on loopback), else
/// roomwatch's default address.
fn default_target() -> String {
    let listen = std::env::var("ROOMWATCH_LISTEN")
        .ok()
        .and_then(|l| crate::cli::parse_listen(&l).ok())
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 9000)));
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}/callback")
}

fn parse_target(to: &str) -> Result<Url, SendError> {
    const EXAMPLE: &str = "give a URL such as http://127.0.0.1:9000/callback, or host:port";
    let bad = |reason: String| SendError::BadUrl {
        given: to.to_string(),
        reason,
    };
    // `host:port` (no scheme) means plain http.
    let full = if to.contains("://") {
        to.to_string()
    } else {
        format!("http://{to}")
    };
    let url = Url::parse(&full).map_err(|e| bad(format!("{e}; {EXAMPLE}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!("not an http:// or https:// URL; {EXAMPLE}")));
    }
    if url.host().is_none() {
        return Err(bad("no host".into()));
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The body to send, from a built-in sample or a file, with the sample's command name.
fn load_body(what: &str) -> Result<(Value, Option<String>), SendError> {
    let path = Path::new(what);
    let looks_like_file = what == "-"
        || path.is_file()
        || Path::new(what)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || what.contains(std::path::MAIN_SEPARATOR);
    if !looks_like_file {
        let sample = samples::find(what).ok_or_else(|| SendError::UnknownCommand {
            given: what.into(),
            hint: suggestion(what),
        })?;
        let body = serde_json::from_str(sample.json).map_err(|e| SendError::NotJson {
            path: format!("built-in sample {}", sample.command),
            message: e.to_string(),
        })?;
        return Ok((body, Some(sample.command.to_string())));
    }
    let text = read_text(what).map_err(|e| SendError::Unreadable {
        path: what.to_string(),
        message: e.to_string(),
    })?;
    let body: Value = serde_json::from_str(&text).map_err(|e| SendError::NotJson {
        path: what.to_string(),
        message: e.to_string(),
    })?;
    if !body.is_object() {
        return Err(SendError::NotObject(what.to_string()));
    }
    Ok((body, None))
}

/// A file's text, or standard input's for `-`.
fn read_text(what: &str) -> std::io::Result<String> {
    if what == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(what)
    }
}

/// " (did you mean ...?)" naming the samples whose name contains `given`, else the one
/// nearest to it by edit distance (a typo), if any is near enough.
fn suggestion(given: &str) -> String {
    let wanted = given.trim().to_ascii_lowercase();
    if wanted.len() < 3 {
        return String::new();
    }
    let mut close: Vec<&str> = SAMPLES
        .iter()
        .map(|s| s.command)
        .filter(|c| c.to_ascii_lowercase().contains(&wanted))
        .take(3)
        .collect();
    if close.is_empty() {
        // Compare with the full name, the part after the dot, and that without `Callback`
        // (`AfterDestroyRoom`), whichever is nearest.
        let distance = |command: &str| {
            let lower = command.to_ascii_lowercase();
            let tail = lower.rsplit_once('.').map_or(lower.as_str(), |(_, t)| t);
            let short = tail.strip_prefix("callback").unwrap_or(tail);
            [lower.as_str(), tail, short]
                .iter()
                .map(|name| strsim::levenshtein(&wanted, name))
                .min()
                .unwrap_or(usize::MAX)
        };
        let limit = (wanted.len() / 4).max(2);
        close.extend(
            SAMPLES
                .iter()
                .map(|s| (distance(s.command), s.command))
                .filter(|(d, _)| *d <= limit)
                .min()
                .map(|(_, c)| c),
        );
    }
    if close.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", close.join(" or "))
    }
}

/// Moves every timestamp the body carries to `now_ms`, in the unit each one uses.
pub fn refresh_times(body: &mut Value, now_ms: i64) {
    let seconds = now_ms / 1000;
    let set = |value: &mut Value, key: &str, to: i64| {
        if let Some(slot) = value.get_mut(key) {
            *slot = Value::from(to);
        }
    };
    set(body, "EventTime", now_ms);
    set(body, "CallbackTs", now_ms);
    set(body, "MsgTime", seconds);
    if let Some(info) = body.get_mut("RoomInfo") {
        set(info, "EventTime", now_ms);
    }
    if let Some(gift) = body.get_mut("GiftWater") {
        set(gift, "Time", seconds);
    }
    if let Some(info) = body.get_mut("EventInfo") {
        set(info, "EventTs", seconds);
        set(info, "EventMsTs", now_ms);
    }
}

/// Applies one `Field=Value` or `Outer.Inner=Value` (array elements by index:
/// `SeatList.0.Member_Account=x`). The value is JSON when it parses as JSON, else a string.
pub fn apply_set(body: &mut Value, assignment: &str) -> Result<(), SendError> {
    let bad = |reason: &str| SendError::BadSet {
        given: assignment.to_string(),
        reason: reason.to_string(),
    };
    let (path, raw) = assignment
        .split_once('=')
        .ok_or_else(|| bad("expected FIELD=VALUE"))?;
    let keys: Vec<&str> = path.trim().split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(bad("empty field name"));
    }
    let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
    let mut slot = body;
    for (depth, key) in keys.iter().enumerate() {
        let last = depth + 1 == keys.len();
        slot = match slot {
            Value::Object(map) => {
                let entry = map.entry((*key).to_string());
                if last {
                    entry.or_insert(Value::Null)
                } else {
                    entry.or_insert_with(|| Value::Object(serde_json::Map::new()))
                }
            }
            Value::Array(items) => {
                let index: usize = key
                    .parse()
                    .map_err(|_| bad(&format!("{key:?} indexes an array: use a number")))?;
                let len = items.len();
                items.get_mut(index).ok_or_else(|| {
                    bad(&format!(
                        "index {index} is past the end of a {len}-element array"
                    ))
                })?
            }
            other => {
                return Err(bad(&format!(
                    "cannot go into {key:?}: the field before it is a {}",
                    crate::protocol::json_kind(other)
                )));
            }
        };
    }
    *slot = value;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_is_tencents() {
        let base = Url::parse("http://127.0.0.1:9000/cb?x=1").expect("url");
        let origin = Origin {
            sdkappid: "1400000001",
            token: Some("xxxxyyyy"),
            client_ip: "203.0.113.7",
            platform: "Android",
        };
        let url = callback_url(
            &base,
            "Live.CallbackAfterCreateRoom",
            &origin,
            1_669_872_112,
        );
        assert_eq!(
            url.query(),
            Some(
                "x=1&SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterCreateRoom&contenttype=json&ClientIP=203.0.113.7&OptPlatform=Android&Sign=17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061&RequestTime=1669872112"
            )
        );
        let unsigned = callback_url(
            &base,
            "Mic.CallbackAfterSeatInfoChanged",
            &Origin {
                token: None,
                ..origin
            },
            0,
        );
        assert!(!unsigned.as_str().contains("Sign"));
    }

    #[test]
    fn set_paths_and_values() {
        let mut body = json!({"RoomInfo": {"RoomName": "a"}, "SeatList": [{"Index": 0}]});
        apply_set(&mut body, "RoomInfo.RoomName=Late jazz").expect("set");
        apply_set(&mut body, "RoomInfo.MaxSeatCount=8").expect("set");
        apply_set(&mut body, "SeatList.0.Member_Account=\"42\"").expect("set");
        apply_set(&mut body, "New.Deep=[1,2]").expect("set");
        apply_set(&mut body, "Empty=").expect("set");
        assert_eq!(
            body,
            json!({"RoomInfo": {"RoomName": "Late jazz", "MaxSeatCount": 8},
                   "SeatList": [{"Index": 0, "Member_Account": "42"}],
                   "New": {"Deep": [1, 2]}, "Empty": ""})
        );
        for bad in [
            "NoEquals",
            "=x",
            "a..b=1",
            "SeatList.x=1",
            "SeatList.5.A=1",
            "RoomInfo.RoomName.X=1",
        ] {
            assert!(
                matches!(apply_set(&mut body, bad), Err(SendError::BadSet { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn times_move_to_now() {
        let mut body = json!({"EventTime": 1, "GiftWater": {"Time": 1}, "Other": 1});
        refresh_times(&mut body, 1_700_000_000_123);
        assert_eq!(
            body,
            json!({"EventTime": 1_700_000_000_123_i64, "GiftWater": {"Time": 1_700_000_000}, "Other": 1})
        );
    }
}
