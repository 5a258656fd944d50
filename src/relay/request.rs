//! The request the backend receives: the forward URL's path, its own query followed by Tencent's
//! query exactly as sent, and, when a copy is stale, a fresh `RequestTime` and `Sign`.

use reqwest::Url;

use crate::ingest::auth;
use crate::protocol::Command;
use crate::relay::config::Decision;

/// A retry or resend sent more than this long after its `RequestTime` is re-signed (when a
/// token is known): Tencent's window, and so most backends', is 60 s.
pub const RESIGN_AFTER_S: i64 = 50;

/// `target` with `raw_query` appended after the target's own query, both untouched.
pub fn relay_url(target: &Url, raw_query: &str) -> Url {
    let own = target.query().unwrap_or_default();
    let query = match (own.is_empty(), raw_query.is_empty()) {
        (true, _) => raw_query.to_string(),
        (false, true) => own.to_string(),
        (false, false) => format!("{own}&{raw_query}"),
    };
    let mut url = target.clone();
    url.set_query((!query.is_empty()).then_some(query.as_str()));
    url
}

/// [`relay_url`] as text, joined without parsing the URL again: the relay's hot path. The
/// query goes exactly as Tencent sent it (a parsed [`Url`] would percent-encode some bytes);
/// a fragment, which HTTP never sends, is left out.
pub fn relay_text(target: &Url, raw_query: &str) -> String {
    let text = target.as_str();
    // In a parsed URL the first '?' or '#' ends the path: neither appears raw before it.
    let bare = &text[..text.find(['?', '#']).unwrap_or(text.len())];
    let own = target.query().unwrap_or_default();
    let mut url = String::with_capacity(bare.len() + own.len() + raw_query.len() + 2);
    url.push_str(bare);
    match (own.is_empty(), raw_query.is_empty()) {
        (true, true) => {}
        (true, false) => {
            url.push('?');
            url.push_str(raw_query);
        }
        (false, true) => {
            url.push('?');
            url.push_str(own);
        }
        (false, false) => {
            url.push('?');
            url.push_str(own);
            url.push('&');
            url.push_str(raw_query);
        }
    }
    url
}

/// The `RequestTime` a query carries, in Unix seconds.
pub fn request_time(raw_query: &str) -> Option<i64> {
    raw_query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| name.eq_ignore_ascii_case("RequestTime"))
        .and_then(|(_, value)| value.trim().parse().ok())
}

/// Whether a copy sent at `now_s` would carry a `RequestTime` a backend may find stale.
pub fn is_stale(raw_query: &str, now_s: i64) -> bool {
    request_time(raw_query).is_some_and(|sent| now_s.saturating_sub(sent) > RESIGN_AFTER_S)
}

/// The query with `RequestTime` set to `now_s` and `Sign` to `sha256(token + RequestTime)`,
/// every other parameter as it was, in place (appended when missing).
pub fn resign(raw_query: &str, token: &str, now_s: i64) -> String {
    let time = now_s.to_string();
    let sign = auth::sign(token, &time);
    let (mut saw_time, mut saw_sign) = (false, false);
    let mut parts: Vec<String> = raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            if name.eq_ignore_ascii_case("RequestTime") {
                saw_time = true;
                format!("{name}={time}")
            } else if name.eq_ignore_ascii_case("Sign") {
                saw_sign = true;
                format!("{name}={sign}")
            } else {
                pair.to_string()
            }
        })
        .collect();
    if !saw_sign {
        parts.push(format!("Sign={sign}"));
    }
    if !saw_time {
        parts.push(format!("RequestTime={time}"));
    }
    parts.join("&")
}

/// Whether a command is answered by the backend while Tencent waits ("before" callbacks that
/// decide something). `Live.CallbackBeforeCallBackNotBlock` is a switch, not a decision, so it
/// is relayed like an "after" callback.
pub fn is_synchronous(command: Command) -> bool {
    matches!(command, Command::BeforeSendGift | Command::BeforeSendMsg)
}

/// The body roomwatch answers with when the backend could not decide. Allow is Tencent's
/// success body; deny uses each command's documented refusal: a custom gift code in Tencent's
/// pass-through range, and `ErrorCode` 1 (forbid) for a message.
pub fn fallback_body(command: Command, decision: Decision) -> &'static str {
    match (decision, command) {
        (Decision::Allow, _) => crate::protocol::ACK_OK,
        (Decision::Deny, Command::BeforeSendMsg) => {
            r#"{"ActionStatus":"OK","ErrorInfo":"backend unavailable","ErrorCode":1}"#
        }
        (Decision::Deny, _) => {
            r#"{"ActionStatus":"OK","ErrorInfo":"backend unavailable","ErrorCode":102100}"#
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("valid test URL")
    }

    #[test]
    fn query_is_the_targets_then_tencents_untouched() {
        let tencent = "SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterCreateRoom&contenttype=json&ClientIP=1.2.3.4&OptPlatform=RESTAPI&Sign=ABC%2B&RequestTime=1700000000";
        let plain = relay_url(&url("http://127.0.0.1:1/hook"), tencent);
        assert_eq!(plain.path(), "/hook");
        assert_eq!(plain.query(), Some(tencent));
        let with_own = relay_url(&url("http://127.0.0.1:1/hook?app=live"), tencent);
        assert_eq!(
            with_own.query(),
            Some(format!("app=live&{tencent}").as_str())
        );
        let none = relay_url(&url("http://127.0.0.1:1/hook"), "");
        assert_eq!(none.query(), None);
    }

    #[test]
    fn the_text_form_is_the_same_url() {
        let tencent = "SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterCreateRoom&Sign=ABC%2B&RequestTime=1700000000";
        for target in [
            "http://127.0.0.1:1/hook",
            "http://127.0.0.1:1/hook?app=live",
            "https://api.example.com/live/hook?a=1&b=2#frag",
            "http://[::1]:8080/",
            "http://backend.example",
        ] {
            for query in [tencent, ""] {
                let target = url(target);
                let mut expected = relay_url(&target, query);
                expected.set_fragment(None);
                assert_eq!(
                    relay_text(&target, query),
                    expected.as_str(),
                    "{target} {query}"
                );
            }
        }
    }

    #[test]
    fn resign_replaces_only_time_and_sign() {
        let query = "SdkAppid=1&sign=old&CallbackCommand=X&RequestTime=100";
        let fresh = resign(query, "tok", 2000);
        assert_eq!(
            fresh,
            format!(
                "SdkAppid=1&sign={}&CallbackCommand=X&RequestTime=2000",
                auth::sign("tok", "2000")
            )
        );
        assert_eq!(request_time(&fresh), Some(2000));
        assert!(resign("SdkAppid=1", "tok", 5).ends_with("&RequestTime=5"));
    }

    #[test]
    fn staleness() {
        assert!(!is_stale("RequestTime=1000", 1050));
        assert!(is_stale("RequestTime=1000", 1051));
        assert!(!is_stale("SdkAppid=1", 99_999));
    }

    #[test]
    fn fallback_bodies_are_json() {
        for command in [Command::BeforeSendGift, Command::BeforeSendMsg] {
            for decision in [Decision::Allow, Decision::Deny] {
                let body: serde_json::Value =
                    serde_json::from_str(fallback_body(command, decision)).expect("JSON");
                assert_eq!(
                    body["ErrorCode"].as_i64() == Some(0),
                    decision == Decision::Allow
                );
            }
        }
    }
}
