//! The relay's settings, and the parsers that turn flags into them: the forward URL, durations
//! and the per-command fallback policy for "before" callbacks.

use std::time::Duration;

use reqwest::Url;

use crate::protocol::Command;

/// What roomwatch answers a "before" callback when the backend cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    pub fn label(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// The fallback per "before" command. The defaults are what Tencent does itself when no answer
/// comes in time: a gift is blocked, a message is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FallbackPolicy {
    pub gift: Decision,
    pub msg: Decision,
}

impl Default for FallbackPolicy {
    fn default() -> Self {
        Self {
            gift: Decision::Deny,
            msg: Decision::Allow,
        }
    }
}

impl FallbackPolicy {
    pub fn for_command(self, command: Command) -> Decision {
        match command {
            Command::BeforeSendMsg => self.msg,
            _ => self.gift,
        }
    }
}

/// Everything the relay needs from the command line.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Where callbacks go; its own query string is kept in front of Tencent's.
    pub target: Url,
    /// How long a "before" callback waits for the backend before the fallback answers.
    pub before_timeout: Duration,
    pub fallback: FallbackPolicy,
    /// One attempt of an "after" callback.
    pub attempt_timeout: Duration,
    /// After this long since arrival, an undelivered callback is given up.
    pub max_age: Duration,
    /// The longest wait between two attempts.
    pub backoff_max: Duration,
    /// Callbacks waiting for delivery, at most.
    pub backlog_count: usize,
    /// Body bytes waiting for delivery, at most.
    pub backlog_bytes: usize,
    /// Deliveries in flight at once, over all rooms.
    pub parallel: usize,
    /// Re-signs stale retries and resends.
    pub token: Option<String>,
    /// Outcomes kept for the log (the same depth as the in-memory log).
    pub history: usize,
    /// Certificate authorities trusted for an https target beside the built-in roots
    /// (`--forward-ca`: a backend whose certificate a private CA signed).
    pub extra_roots: Vec<reqwest::Certificate>,
}

impl RelayConfig {
    /// The documented defaults, for `target`.
    pub fn new(target: Url) -> Self {
        Self {
            target,
            before_timeout: Duration::from_millis(1500),
            fallback: FallbackPolicy::default(),
            attempt_timeout: Duration::from_secs(10),
            max_age: Duration::from_hours(1),
            backoff_max: Duration::from_secs(30),
            backlog_count: 100_000,
            backlog_bytes: 256 * 1024 * 1024,
            parallel: 32,
            token: None,
            history: 10_000,
            extra_roots: Vec::new(),
        }
    }
}

/// An http or https URL with a host; anything else is refused with the reason.
pub fn parse_target(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{text:?} is not an http:// or https:// URL (scheme {:?})",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    if url.fragment().is_some() {
        return Err(format!("{text:?} has a #fragment, which HTTP never sends"));
    }
    Ok(url)
}

/// CA certificates (PEM) from `--forward-ca`, read and checked when the flags are.
#[derive(Debug, Clone)]
pub struct ForwardCa {
    pub path: std::path::PathBuf,
    pub certificates: Vec<reqwest::Certificate>,
}

pub fn parse_forward_ca(text: &str) -> Result<ForwardCa, String> {
    let path = std::path::PathBuf::from(text);
    let pem = std::fs::read(&path).map_err(|e| format!("cannot read {text:?}: {e}"))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("{text:?} is not PEM certificates: {e}"))?;
    if certificates.is_empty() {
        return Err(format!("{text:?} holds no PEM certificate"));
    }
    Ok(ForwardCa { path, certificates })
}

/// A relay span (see [`crate::units::parse_span`]), at most 30 days: longer than any backend
/// outage worth waiting out.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let span = crate::units::parse_span(text)?;
    if span > Duration::from_hours(30 * 24) {
        return Err(format!("{text:?} is longer than 30 days"));
    }
    Ok(span)
}

/// `allow`, `deny`, or per command: `gift=deny,msg=allow` (either part may be left out).
pub fn parse_fallback(text: &str) -> Result<FallbackPolicy, String> {
    let decision = |word: &str| match word.trim().to_ascii_lowercase().as_str() {
        "allow" => Ok(Decision::Allow),
        "deny" => Ok(Decision::Deny),
        other => Err(format!("{other:?} is neither allow nor deny")),
    };
    let text = text.trim();
    if !text.contains('=') {
        let both = decision(text)?;
        return Ok(FallbackPolicy {
            gift: both,
            msg: both,
        });
    }
    let mut policy = FallbackPolicy::default();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, word) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not COMMAND=allow|deny"))?;
        let slot = match name.trim().to_ascii_lowercase().as_str() {
            "gift" | "live.callbackbeforesendgift" => &mut policy.gift,
            "msg" | "group.callbackbeforesendmsg" => &mut policy.msg,
            other => {
                return Err(format!(
                    "{other:?} is not a \"before\" command: use gift or msg"
                ));
            }
        };
        *slot = decision(word)?;
    }
    Ok(policy)
}

/// A positive count.
pub fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{text:?} is not a positive whole number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert!(parse_target("http://127.0.0.1:8080/hook?x=1").is_ok());
        assert!(parse_target("https://api.example.com/live").is_ok());
        assert!(parse_target("ftp://example.com/").is_err());
        assert!(parse_target("example.com/hook").is_err());
        assert!(parse_target("http://").is_err());
        assert!(parse_target("mailto:a@b.c").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_hours(1)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_duration("3d"), Ok(Duration::from_hours(72)));
        assert!(parse_duration("31d").is_err());
    }

    #[test]
    fn fallbacks() {
        assert_eq!(parse_fallback("allow").map(|p| p.gift), Ok(Decision::Allow));
        let policy = parse_fallback("gift=allow").expect("valid");
        assert_eq!(
            (policy.gift, policy.msg),
            (Decision::Allow, Decision::Allow)
        );
        let policy = parse_fallback("msg=deny").expect("valid");
        assert_eq!((policy.gift, policy.msg), (Decision::Deny, Decision::Deny));
        assert!(parse_fallback("maybe").is_err());
        assert!(parse_fallback("member=deny").is_err());
    }
}
