//! The short stand-in for the fuzz targets (`fuzz/`): judging arbitrary requests never panics,
//! always yields a well-formed answer, and never lets a terminal control through the escaping.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use roomwatch::escape::{escape, escape_json, is_unsafe};
use roomwatch::event::Verdict;
use roomwatch::ingest::auth::AuthConfig;
use roomwatch::ingest::intake::{self, Arrival, BodyRead};

/// Bodies that are mostly near-callbacks, so the parser's deeper paths are reached too.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let sample = roomwatch::protocol::samples::SAMPLES
        .iter()
        .map(|s| s.json.as_bytes().to_vec())
        .collect::<Vec<_>>();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        (
            proptest::sample::select(sample),
            any::<usize>(),
            any::<u8>()
        )
            .prop_map(|(mut bytes, at, byte)| {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] = byte;
                }
                bytes
            }),
        (
            proptest::sample::select(roomwatch::protocol::samples::SAMPLES.to_vec()),
            "[ -~]{0,8}|-?[0-9]{1,30}(\\.[0-9]+)?(e[0-9]{1,4})?|null|true|\\[\\]|\\{\\}"
        )
            .prop_map(|(s, value)| {
                // Every string value in the sample replaced by a random token (often not JSON).
                let text = s.json.replace("\"live_", &format!("{value}\"live_"));
                text.into_bytes()
            }),
    ]
}

fn auth() -> impl Strategy<Value = AuthConfig> {
    (
        proptest::option::of("[0-9]{1,12}"),
        proptest::option::of("[ -~]{1,16}"),
        0u64..120,
    )
        .prop_map(|(sdkappid, token, window_s)| AuthConfig {
            sdkappids: sdkappid.into_iter().collect(),
            token,
            window_s,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn judging_any_request_never_panics_and_answers_well_formed_json(
        method in "[A-Z]{0,8}|\\PC{0,8}",
        path in "/\\PC{0,40}",
        raw_query in "([A-Za-z%0-9]{0,12}=[ -~\\PC]{0,24}&?){0,6}",
        body in body(),
        kind in 0u8..3,
        auth in auth(),
        received_at_ms in any::<i64>(),
    ) {
        let arrival = Arrival {
            method,
            path,
            raw_query,
            content_type: None,
            remote: Some("127.0.0.1:1".into()),
            received_at_ms,
        };
        let read = match kind {
            0 => BodyRead::Complete(body),
            1 => BodyRead::TooLarge { prefix: body, limit: 1 },
            _ => BodyRead::Broken { prefix: body, error: "reset".into() },
        };
        let event = intake::judge(arrival, read, &auth);
        let answer: serde_json::Value = serde_json::from_str(&event.reply.body).unwrap();
        prop_assert!(answer.get("ErrorCode").is_some());
        match event.verdict {
            Verdict::Rejected => prop_assert!((400..500).contains(&event.reply.status)),
            Verdict::Accepted | Verdict::Unrecognized => prop_assert_eq!(event.reply.status, 200),
        }
        // Whatever the event holds, its escaped forms are safe to print.
        let printed = format!("{:?} {} {:?}", event.path, event.raw_query, event.error);
        prop_assert!(!escape(&printed).chars().any(is_unsafe));
    }

    #[test]
    fn escaping_leaves_no_terminal_control_and_json_keeps_its_value(text in "\\PC*|[\\x00-\\x{ff}\\x{2000}-\\x{206f}]{0,64}") {
        prop_assert!(!escape(&text).chars().any(is_unsafe));
        let json = serde_json::Value::String(text.clone()).to_string();
        let safe = escape_json(&json);
        prop_assert!(!safe.chars().any(is_unsafe));
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        prop_assert_eq!(back, serde_json::Value::String(text));
    }
}
