//! The wire protocol: command names, typed callbacks, and the answers roomwatch sends.
//! Pure: no I/O, no clock, no async runtime.

mod callback;
mod command;
mod fields;
pub mod json;
pub mod limits;
mod reply;
pub mod samples;

pub use callback::{
    AdminOp, BattleRoom, Callback, Payload, RoomInfo, Seat, SeatMode, Statistic, is_blank,
    parse_callback,
};
pub use command::{Command, short_name};
pub use fields::Fields;
pub use limits::Trim;
pub use reply::{ACK_OK, Rejection};

use serde_json::Value;

use json::Json;

/// A body that passed the JSON checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The command as named by the body, or else by the query.
    pub command_name: Option<String>,
    /// The typed callback when the command is one roomwatch knows.
    pub callback: Option<Callback>,
    /// Lists in the callback cut to the per-callback limits.
    pub trimmed: Vec<Trim>,
    /// The room the body names when the typed callback names none (top-level `RoomId`,
    /// `RoomInfo.RoomId` or `GroupId`), so its log line still names a room.
    pub guessed_room_id: Option<String>,
}

/// Parses a callback body. `query_command` is the `CallbackCommand` from the URL, if any;
/// the body's own `CallbackCommand` wins when the query has none, and a disagreement between
/// the two is an error.
pub fn parse(query_command: Option<&str>, body: &[u8]) -> Result<Parsed, Rejection> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejection::EmptyBody);
    }
    // Read once into a borrowed tree: no copy of the body's keys or plain strings.
    let value = Json::parse(body).map_err(|e| Rejection::NotJson {
        message: json_error_message(&e),
        line: e.line(),
        column: e.column(),
    })?;
    let Json::Object(object) = &value else {
        return Err(Rejection::NotObject {
            found: value.kind().to_string(),
        });
    };
    let body_command = Fields(object).string("CallbackCommand");
    let query_command = query_command.map(str::trim).filter(|c| !c.is_empty());
    if let (Some(query), Some(body)) = (query_command, body_command.as_deref())
        && !same_command(query, body)
    {
        return Err(Rejection::CommandMismatch {
            query: query.to_string(),
            body: body.to_string(),
        });
    }
    let command_name = body_command.or_else(|| query_command.map(str::to_string));
    let mut callback = command_name
        .as_deref()
        .and_then(Command::from_name)
        .map(|command| parse_callback(command, object));
    let trimmed = callback.as_mut().map(limits::apply).unwrap_or_default();
    let guessed_room_id = if callback.as_ref().and_then(Callback::room_id).is_none() {
        guess_room_id(Fields(object))
    } else {
        None
    };
    Ok(Parsed {
        command_name,
        callback,
        trimmed,
        guessed_room_id,
    })
}

/// A room id from a body roomwatch could not type, so its log line still names a room.
pub fn guess_room_id(fields: Fields<'_>) -> Option<String> {
    fields
        .string("RoomId")
        .or_else(|| fields.object("RoomInfo").and_then(|r| r.string("RoomId")))
        .or_else(|| fields.string("GroupId"))
        .filter(|id| !is_blank(id))
}

/// Two spellings name the same command when they resolve to one, or match ignoring case.
fn same_command(a: &str, b: &str) -> bool {
    match (Command::from_name(a), Command::from_name(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.eq_ignore_ascii_case(b),
    }
}

/// serde_json's message without its trailing " at line L column C", which we report apart.
fn json_error_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
