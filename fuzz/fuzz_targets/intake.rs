//! Intake on arbitrary requests: method, path, query and body cut from the input at 0xFF
//! bytes, judged under open and strict auth. Never panics; the answer is always JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roomwatch::ingest::auth::AuthConfig;
use roomwatch::ingest::intake::{self, Arrival, BodyRead};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(5, |&b| b == 0xFF);
    let mut next = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (flags, method, path, raw_query) = (next(), next(), next(), next());
    let body = parts.next().unwrap_or_default().to_vec();
    let strict = flags.len() % 2 == 1;
    let auth = AuthConfig {
        sdkappid: strict.then(|| "1400000001".to_string()),
        token: strict.then(|| "secret".to_string()),
        window_s: 60,
    };
    let read = match flags.len() % 3 {
        0 => BodyRead::Complete(body),
        1 => BodyRead::TooLarge {
            prefix: body,
            limit: 1,
        },
        _ => BodyRead::Broken {
            prefix: body,
            error: "reset".into(),
        },
    };
    let arrival = Arrival {
        method,
        path,
        raw_query,
        content_type: None,
        remote: None,
        received_at_ms: 1_735_690_000_000,
    };
    let event = intake::judge(arrival, read, &auth);
    let answer: serde_json::Value =
        serde_json::from_str(&event.reply.body).expect("every answer is JSON");
    assert!(answer.get("ErrorCode").is_some());
});
