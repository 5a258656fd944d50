//! Protocol parsing on arbitrary bytes: the body parser (with and without a query command),
//! query strings, and the escaping of whatever text comes out. None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roomwatch::escape::{escape, is_unsafe};
use roomwatch::ingest::query::QueryParams;

/// Query commands to pair with the body: none, a known one, and one no catalog has.
const COMMANDS: [Option<&str>; 4] = [
    None,
    Some("Live.CallbackAfterCreateRoom"),
    Some("Live.CallbackAfterCreateBattle"),
    Some("Nope.Unknown"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let command = COMMANDS[usize::from(pick) % COMMANDS.len()];
    if let Ok(parsed) = roomwatch::protocol::parse(command, body)
        && let Some(callback) = &parsed.callback
    {
        let _ = callback.room_id();
    }
    let text = String::from_utf8_lossy(body);
    let query = QueryParams::parse(Some(&text));
    let _ = query.get("CallbackCommand");
    let _ = query.redacted();
    assert!(!escape(&text).chars().any(is_unsafe));
});
