//! One HTTP attempt at the backend, bounded in time and in answer size, and the rules that
//! turn its result into a decision (pass through, fall back, done, retry, give up).

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, USER_AGENT};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use reqwest::{Url, header};

/// Answer bytes kept at most. A larger answer is cut there: an "after" callback is still
/// delivered (the status counts), a "before" callback gets the fallback (a cut answer
/// cannot be passed on).
pub const ANSWER_LIMIT: usize = 64 * 1024;

const AGENT: &str = concat!("roomwatch/", env!("CARGO_PKG_VERSION"));

/// How long an idle connection to the backend is kept for reuse.
const IDLE: Duration = Duration::from_mins(1);

/// hyper-util's pooled HTTP/1.1 client, without reqwest's layers on top.
type Plain = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

/// The relay's clients: keep-alive pools connections per host; redirects are not followed
/// (a 3xx to a POST would silently lose the body). Plain `http://` goes through hyper-util's
/// pooled client directly, which costs a fraction of reqwest's per-request work; `https://`
/// (TLS, h2 negotiated) and anything a proxy from the environment applies to go through reqwest.
pub struct Clients {
    plain: Plain,
    full: reqwest::Client,
    /// `HTTP_PROXY` or `ALL_PROXY` is set: plain requests to other than loopback go through
    /// reqwest, which honours it.
    proxied: bool,
}

impl Clients {
    /// The plain client, when it may carry a request to `url`.
    fn plain_for(&self, url: &str) -> Option<&Plain> {
        let http = url
            .get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"));
        let direct = || !self.proxied || Url::parse(url).is_ok_and(|url| is_loopback(&url));
        // reqwest sends `user:pass@` as Basic auth; the plain client would drop it.
        let authority = url.get(7..).map_or("", |rest| {
            rest.split(['/', '?', '#']).next().unwrap_or_default()
        });
        (http && !authority.contains('@') && direct()).then_some(&self.plain)
    }
}

pub fn client(
    target: &Url,
    extra_roots: &[reqwest::Certificate],
) -> Result<Clients, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .user_agent(AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(IDLE)
        .tcp_nodelay(true);
    for root in extra_roots {
        builder = builder.add_root_certificate(root.clone());
    }
    let full = if is_loopback(target) {
        builder.no_proxy().build()?
    } else {
        builder.build()?
    };
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    let plain = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE)
        .pool_timer(TokioTimer::new())
        .build(connector);
    let proxied = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    Ok(Clients {
        plain,
        full,
        proxied,
    })
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What the backend answered.
#[derive(Debug, Clone)]
pub struct Answered {
    pub status: u16,
    pub body: Bytes,
    pub content_type: Option<String>,
    /// The body went past [`ANSWER_LIMIT`] and was cut.
    pub truncated: bool,
    /// The body broke off or stalled after the status arrived, and why.
    pub broken: Option<String>,
    pub latency_ms: u64,
}

impl Answered {
    /// The body for display.
    pub fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.body).into_owned();
        if self.truncated {
            text.push_str(" … (cut at 64 KiB)");
        }
        if let Some(why) = &self.broken {
            text.push_str(" … (answer broke off: ");
            text.push_str(why);
            text.push(')');
        }
        text
    }
}

/// How one attempt ended.
#[derive(Debug, Clone)]
pub enum Sent {
    Answered(Answered),
    Failed { reason: String, latency_ms: u64 },
}

impl Sent {
    pub fn latency_ms(&self) -> u64 {
        match self {
            Self::Answered(a) => a.latency_ms,
            Self::Failed { latency_ms, .. } => *latency_ms,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Answered(a) => Some(a.status),
            Self::Failed { .. } => None,
        }
    }
}

/// POSTs `body` to `url` and reads the answer, all within `limit`.
pub async fn once(
    clients: &Clients,
    url: &str,
    body: Bytes,
    content_type: Option<&str>,
    limit: Duration,
) -> Sent {
    if let Some(plain) = clients.plain_for(url) {
        return once_plain(plain, url, body, content_type, limit).await;
    }
    once_full(&clients.full, url, body, content_type, limit).await
}

/// [`once`] through hyper-util's client: the same request (method, URL, Content-Type, body,
/// User-Agent; Host from the URL), the same limits and the same outcomes.
async fn once_plain(
    client: &Plain,
    url: &str,
    body: Bytes,
    content_type: Option<&str>,
    limit: Duration,
) -> Sent {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    let elapsed_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let failed = |reason: String| Sent::Failed {
        reason,
        latency_ms: elapsed_ms(),
    };
    // A query byte a URI may not carry raw is sent percent-encoded, as a parsed URL has it.
    let uri = match url.parse::<hyper::Uri>() {
        Ok(uri) => uri,
        Err(raw_error) => match Url::parse(url).map(|u| u.as_str().parse::<hyper::Uri>()) {
            Ok(Ok(uri)) => uri,
            _ => return failed(format!("request failed: {raw_error}")),
        },
    };
    let mut request = hyper::Request::new(Full::new(body));
    *request.method_mut() = hyper::Method::POST;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.insert(USER_AGENT, HeaderValue::from_static(AGENT));
    // What the other client (reqwest) sends: a backend sees the same request either way.
    headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
    if let Some(content_type) = content_type {
        match HeaderValue::from_str(content_type) {
            Ok(value) => {
                headers.insert(header::CONTENT_TYPE, value);
            }
            Err(e) => return failed(format!("request failed: Content-Type: {e}")),
        }
    }
    let response = match tokio::time::timeout_at(deadline, client.request(request)).await {
        Err(_) => return failed(format!("no answer within {} ms", limit.as_millis())),
        Ok(Err(error)) => {
            let kind = if error.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            return failed(format!("{kind}: {}", root_cause(&error)));
        }
        Ok(Ok(response)) => response,
    };
    // As in `once_full`: once the status is in, the backend has taken the callback.
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut incoming = response.into_body();
    let mut body = BytesMut::new();
    let mut truncated = false;
    let read = async {
        while let Some(frame) = incoming.frame().await {
            let Ok(chunk) = frame?.into_data() else {
                continue;
            };
            if keep_within_limit(&mut body, &chunk) {
                truncated = true;
                break;
            }
        }
        Ok::<_, hyper::Error>(())
    };
    let broken = match tokio::time::timeout_at(deadline, read).await {
        Err(_) => Some(format!("no whole answer within {} ms", limit.as_millis())),
        Ok(Err(error)) => Some(format!("answer broke off: {}", root_cause(&error))),
        Ok(Ok(())) => None,
    };
    Sent::Answered(Answered {
        status,
        body: body.freeze(),
        content_type,
        truncated,
        broken,
        latency_ms: elapsed_ms(),
    })
}

/// [`once`] through reqwest (TLS, h2, proxies).
async fn once_full(
    client: &reqwest::Client,
    url: &str,
    body: Bytes,
    content_type: Option<&str>,
    limit: Duration,
) -> Sent {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    let mut request = client.post(url).body(body);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let elapsed_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut response = match tokio::time::timeout_at(deadline, request.send()).await {
        Err(_) => {
            return Sent::Failed {
                reason: format!("no answer within {} ms", limit.as_millis()),
                latency_ms: elapsed_ms(),
            };
        }
        Ok(Err(error)) => {
            return Sent::Failed {
                reason: describe(&error),
                latency_ms: elapsed_ms(),
            };
        }
        Ok(Ok(response)) => response,
    };
    // From here on the backend has given its status, so it has taken the callback: a body
    // that breaks off or stalls is recorded as such, never turned into a failed attempt
    // (an "after" callback would be sent again and arrive twice).
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = BytesMut::new();
    let mut truncated = false;
    let read = async {
        while let Some(chunk) = response.chunk().await? {
            if keep_within_limit(&mut body, &chunk) {
                truncated = true;
                break;
            }
        }
        Ok::<_, reqwest::Error>(())
    };
    let broken = match tokio::time::timeout_at(deadline, read).await {
        Err(_) => Some(format!("no whole answer within {} ms", limit.as_millis())),
        Ok(Err(error)) => Some(describe(&error)),
        Ok(Ok(())) => None,
    };
    Sent::Answered(Answered {
        status,
        body: body.freeze(),
        content_type,
        truncated,
        broken,
        latency_ms: elapsed_ms(),
    })
}

/// The innermost error of a chain: what actually went wrong.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut root = error;
    while let Some(source) = root.source() {
        root = source;
    }
    root.to_string()
}

/// A reqwest error in a few words, with its root cause.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_connect() {
        "cannot connect"
    } else if error.is_timeout() {
        "timed out"
    } else if error.is_body() || error.is_decode() {
        "answer broke off"
    } else {
        "request failed"
    };
    format!("{kind}: {}", root_cause(error))
}

/// Whether a "before" answer may go to Tencent as it is. A 2xx must carry a whole JSON object
/// (Tencent reads the decision from it); a 4xx is the backend's own deliberate refusal and is
/// passed on; a 3xx, a 5xx or a cut body means the backend could not decide.
pub fn judge_before(answer: &Answered) -> Result<(), String> {
    if answer.truncated {
        return Err(format!("answer larger than {} KiB", ANSWER_LIMIT / 1024));
    }
    if let Some(why) = &answer.broken {
        return Err(format!("{}: answer broke off ({why})", answer.status));
    }
    match answer.status {
        200..=299 => match serde_json::from_slice::<serde_json::Value>(&answer.body) {
            Ok(serde_json::Value::Object(_)) => Ok(()),
            Ok(_) => Err(format!(
                "{}: answer is JSON but not an object",
                answer.status
            )),
            Err(e) => Err(format!("{}: answer is not JSON ({e})", answer.status)),
        },
        400..=499 => Ok(()),
        status @ 300..=399 => Err(format!("{status}: redirects are not followed")),
        status => Err(format!("{status}: backend error")),
    }
}

/// What an "after" attempt leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Done,
    /// Never retried: the backend said no, or the URL is wrong.
    Final(String),
    Retry(String),
}

/// 2xx delivers; 408, 429 and 5xx, connection errors and timeouts are retried; any other 3xx
/// or 4xx is final.
pub fn judge_after(sent: &Sent) -> Step {
    match sent {
        Sent::Failed { reason, .. } => Step::Retry(reason.clone()),
        Sent::Answered(answer) => match answer.status {
            200..=299 => Step::Done,
            408 | 429 | 500..=599 => Step::Retry(format!("{}", answer.status)),
            status @ 300..=399 => Step::Final(format!(
                "{status}: redirects are not followed, check --forward-to"
            )),
            status => Step::Final(format!("{status}: refused by the backend, not retried")),
        },
    }
}

/// Opens (and closes) one TCP connection to the target's host and port.
pub async fn probe(target: &Url, limit: Duration) -> Result<(), String> {
    let host = target
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_string();
    let port = target.port_or_known_default().unwrap_or(80);
    match tokio::time::timeout(limit, tokio::net::TcpStream::connect((host.as_str(), port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("{host}:{port}: {e}")),
        Err(_) => Err(format!(
            "{host}:{port}: no connection within {} s",
            limit.as_secs()
        )),
    }
}

/// Appends what of `chunk` fits within [`ANSWER_LIMIT`]; true when some of it did not fit.
fn keep_within_limit(body: &mut BytesMut, chunk: &[u8]) -> bool {
    let room = ANSWER_LIMIT - body.len();
    let fits = chunk.len().min(room);
    body.extend_from_slice(&chunk[..fits]);
    fits < chunk.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("url")
    }

    #[test]
    fn the_plain_client_takes_only_http_that_no_proxy_applies_to() {
        let mut clients = client(&url("http://127.0.0.1:9/hook"), &[]).expect("clients");
        clients.proxied = false;
        assert!(clients.plain_for("http://backend.example/x").is_some());
        assert!(clients.plain_for("https://backend.example/x").is_none());
        clients.proxied = true;
        assert!(clients.plain_for("http://backend.example/x").is_none());
        assert!(clients.plain_for("http://127.0.0.1:8080/x").is_some());
        assert!(clients.plain_for("http://localhost:8080/x").is_some());
    }

    fn answered(status: u16, body: &str) -> Answered {
        Answered {
            status,
            body: Bytes::copy_from_slice(body.as_bytes()),
            content_type: None,
            truncated: false,
            broken: None,
            latency_ms: 1,
        }
    }

    #[test]
    fn before_decisions() {
        assert!(judge_before(&answered(200, r#"{"ErrorCode":0}"#)).is_ok());
        assert!(judge_before(&answered(403, "nope")).is_ok());
        assert!(judge_before(&answered(200, "garbage")).is_err());
        assert!(judge_before(&answered(200, "[1]")).is_err());
        assert!(judge_before(&answered(302, "")).is_err());
        assert!(judge_before(&answered(503, "{}")).is_err());
        let mut cut = answered(200, "{}");
        cut.truncated = true;
        assert!(judge_before(&cut).is_err());
        let mut broken = answered(200, "{}");
        broken.broken = Some("connection closed".into());
        assert!(judge_before(&broken).is_err());
    }

    #[test]
    fn after_decisions() {
        let step = |status| judge_after(&Sent::Answered(answered(status, "")));
        assert_eq!(step(204), Step::Done);
        assert!(matches!(step(503), Step::Retry(_)));
        assert!(matches!(step(429), Step::Retry(_)));
        assert!(matches!(step(404), Step::Final(_)));
        assert!(matches!(step(301), Step::Final(_)));
        assert!(matches!(
            judge_after(&Sent::Failed {
                reason: "x".into(),
                latency_ms: 0
            }),
            Step::Retry(_)
        ));
    }
}
