//! The `/` query: words AND-ed together, each plain text (room id or name contains it) or a
//! field term such as `room:live_9*`, `app:1400000001`, `cmd:gift`, `user:bob`, `verdict:rejected`,
//! `effect:stale`, `relay:failed` or `since:10m`; `!` before a word negates it.
//!
//! Pure: [`Query::parse`] checks and compiles the text once per keystroke, so matching a room
//! or a log line allocates nothing for ASCII text.

use thiserror::Error;

use crate::event::{Event, Verdict};
use crate::protocol::{Callback, Payload};
use crate::relay::outcome::RelayState;
use crate::store::{Effect, LogEntry, Room, RoomKey};

/// The field terms, as help and errors list them.
pub const TERMS: &[(&str, &str)] = &[
    ("text", "room id or name contains the text"),
    ("room:live_9*", "room id, * matches any run of characters"),
    (
        "app:1400000001",
        "the app (SdkAppid) of the room or callback; 14000* too",
    ),
    (
        "cmd:gift",
        "command name contains it (gift, SendGift, full names)",
    ),
    (
        "user:bob",
        "an account in the callback (operator, sender, member, admin, owner, seat)",
    ),
    (
        "verdict:rejected",
        "accepted, rejected or unrecognized (log only)",
    ),
    (
        "effect:stale",
        "applied, stale, duplicate or none (log only)",
    ),
    (
        "relay:failed",
        "relay outcome: pending retrying delivered failed fallback refused none (log only)",
    ),
    ("since:10m", "last event / arrival within 30s, 10m, 2h, 1d"),
    (
        "!term",
        "negates a term; terms separated by spaces must all match",
    ),
];

/// Why a query cannot be used, said in the prompt.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueryError {
    #[error("unknown term {0:?}: use room: app: cmd: user: verdict: effect: relay: since:")]
    UnknownField(String),
    #[error("{0}: needs a value")]
    Empty(String),
    #[error("verdict: is accepted, rejected or unrecognized, not {0:?}")]
    Verdict(String),
    #[error("effect: is applied, stale, duplicate or none, not {0:?}")]
    Effect(String),
    #[error("relay: is pending, retrying, delivered, failed, fallback, refused or none, not {0:?}")]
    Relay(String),
    #[error("since: takes a duration like 30s, 10m, 2h or 1d, not {0:?}")]
    Since(String),
    #[error("a lone ! negates nothing")]
    LoneBang,
}

/// A case-insensitive pattern: exact, or with `*` matching any run of characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The literal pieces between the stars, lower case.
    pieces: Vec<String>,
    starts_open: bool,
    ends_open: bool,
}

impl Pattern {
    fn new(text: &str) -> Self {
        let lower = text.to_lowercase();
        Self {
            pieces: lower
                .split('*')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
            starts_open: lower.starts_with('*'),
            ends_open: lower.ends_with('*'),
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        let lower = lowercase(text);
        let mut rest: &str = &lower;
        let last = self.pieces.len().saturating_sub(1);
        for (i, piece) in self.pieces.iter().enumerate() {
            if i == 0 && !self.starts_open {
                let Some(after) = rest.strip_prefix(piece.as_str()) else {
                    return false;
                };
                rest = after;
            } else if i == last && !self.ends_open {
                return rest.len() >= piece.len() && rest.ends_with(piece.as_str());
            } else {
                let Some(at) = rest.find(piece.as_str()) else {
                    return false;
                };
                rest = &rest[at + piece.len()..];
            }
        }
        self.ends_open || rest.is_empty() || self.pieces.is_empty()
    }
}

/// Lower case without allocating when the text is already lower-case ASCII.
fn lowercase(text: &str) -> std::borrow::Cow<'_, str> {
    if text
        .bytes()
        .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
    {
        std::borrow::Cow::Owned(text.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Whether `haystack` contains `needle` (already lower case), ignoring case.
fn contains(haystack: &str, needle: &str) -> bool {
    lowercase(haystack).contains(needle)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    /// Room id or name contains it (lower case).
    Text(String),
    Room(Pattern),
    /// The app (SdkAppid).
    App(Pattern),
    /// Command name contains it (lower case).
    Command(String),
    User(Pattern),
    Verdict(Verdict),
    Effect(Effect),
    Relay(String),
    /// Within this many ms of now.
    Since(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    negated: bool,
    field: Field,
}

/// A parsed query; the empty query matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    terms: Vec<Term>,
}

fn duration_ms(value: &str) -> Option<i64> {
    let split = value.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = value.split_at(split);
    let n: i64 = number.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

fn parse_term(word: &str) -> Result<Term, QueryError> {
    let (negated, word) = match word.strip_prefix('!') {
        Some("") => return Err(QueryError::LoneBang),
        Some(rest) => (true, rest),
        None => (false, word),
    };
    let Some((name, value)) = word.split_once(':') else {
        return Ok(Term {
            negated,
            field: Field::Text(word.to_lowercase()),
        });
    };
    let name = name.to_ascii_lowercase();
    if value.is_empty() {
        return Err(if known_field(&name) {
            QueryError::Empty(name)
        } else {
            QueryError::UnknownField(format!("{name}:"))
        });
    }
    let lower = value.to_lowercase();
    let field = match name.as_str() {
        "room" => Field::Room(Pattern::new(value)),
        "app" => Field::App(Pattern::new(value)),
        "cmd" => Field::Command(lower),
        "user" => Field::User(Pattern::new(value)),
        "verdict" => Field::Verdict(match lower.as_str() {
            "accepted" | "ok" => Verdict::Accepted,
            "rejected" => Verdict::Rejected,
            "unrecognized" => Verdict::Unrecognized,
            _ => return Err(QueryError::Verdict(value.to_string())),
        }),
        "effect" => Field::Effect(match lower.as_str() {
            "applied" => Effect::Applied,
            "stale" => Effect::Stale,
            "duplicate" => Effect::Duplicate,
            "none" => Effect::NoState,
            _ => return Err(QueryError::Effect(value.to_string())),
        }),
        "relay" => match lower.as_str() {
            "pending" | "retrying" | "delivered" | "failed" | "fallback" | "refused" | "none" => {
                Field::Relay(lower)
            }
            _ => return Err(QueryError::Relay(value.to_string())),
        },
        "since" => {
            Field::Since(duration_ms(&lower).ok_or_else(|| QueryError::Since(value.to_string()))?)
        }
        _ => return Err(QueryError::UnknownField(format!("{name}:"))),
    };
    Ok(Term { negated, field })
}

fn known_field(name: &str) -> bool {
    matches!(
        name,
        "room" | "app" | "cmd" | "user" | "verdict" | "effect" | "relay" | "since"
    )
}

/// Every account a callback names: operator, senders, receivers, members, admins, owners,
/// seated members, recording user.
fn accounts(callback: &Callback) -> impl Iterator<Item = &str> {
    let mut found: Vec<&str> = callback.operator.as_deref().into_iter().collect();
    match &callback.payload {
        Payload::CreateRoom(info) | Payload::UpdateRoomInfo(info) => {
            found.extend(info.owner.as_deref());
        }
        Payload::MemberState { members, .. } => found.extend(members.iter().map(String::as_str)),
        Payload::ChangeOwner {
            current, original, ..
        } => found.extend(current.as_deref().into_iter().chain(original.as_deref())),
        Payload::ModifyAdmin { admins, .. } => found.extend(admins.iter().map(String::as_str)),
        Payload::SeatInfo { seats, .. } => {
            found.extend(seats.iter().filter_map(|s| s.member.as_deref()));
        }
        Payload::Gift { from, to, .. } | Payload::Follow { from, to, .. } => {
            found.extend(
                from.as_deref()
                    .into_iter()
                    .chain(to.iter().map(String::as_str)),
            );
        }
        Payload::Message { from, .. } => found.extend(from.as_deref()),
        Payload::Recording { user_id, .. } => found.extend(user_id.as_deref()),
        _ => {}
    }
    found.into_iter()
}

/// How `relay:` names a relay outcome; `none` when the callback was not relayed.
fn relay_word(state: Option<&RelayState>) -> &'static str {
    match state {
        None => "none",
        Some(RelayState::Pending) => "pending",
        Some(RelayState::Retrying { .. }) => "retrying",
        Some(RelayState::Delivered { .. }) => "delivered",
        Some(RelayState::Failed { .. }) => "failed",
        Some(RelayState::Fallback { .. }) => "fallback",
        Some(RelayState::Refused { .. }) => "refused",
    }
}

/// A room and what the query may look at in it.
fn room_text_matches(room: Option<&Room>, id: &str, needle: &str) -> bool {
    contains(id, needle)
        || room
            .and_then(|r| r.name.as_ref())
            .is_some_and(|n| contains(&n.value, needle))
}

impl Query {
    /// Parses the words of `text`; the first bad term is the error.
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        let terms = text
            .split_whitespace()
            .map(parse_term)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { terms })
    }

    /// Parses what it can: the valid terms make the query, the first bad one is reported.
    /// While a term is being typed the rest of the query stays in force.
    pub fn parse_lenient(text: &str) -> (Self, Option<QueryError>) {
        let mut terms = Vec::new();
        let mut error = None;
        for word in text.split_whitespace() {
            match parse_term(word) {
                Ok(term) => terms.push(term),
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        (Self { terms }, error)
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether matching depends on relay outcomes, which arrive after the log line.
    pub fn uses_relay(&self) -> bool {
        self.terms
            .iter()
            .any(|t| matches!(t.field, Field::Relay(_)))
    }

    /// Whether matching depends on the clock (`since:`), so results change without events.
    pub fn uses_clock(&self) -> bool {
        self.terms
            .iter()
            .any(|t| matches!(t.field, Field::Since(_)))
    }

    /// Whether a room belongs in the rooms table. Log-only terms (verdict, effect, relay)
    /// do not narrow the table.
    pub fn matches_room(&self, room: &Room, now_ms: i64) -> bool {
        self.terms.iter().all(|term| {
            let hit = match &term.field {
                Field::Text(needle) => room_text_matches(Some(room), &room.id, needle),
                Field::Room(pattern) => pattern.matches(&room.id),
                Field::App(pattern) => pattern.matches(&room.app),
                Field::Command(needle) => room
                    .counts
                    .keys()
                    .any(|c| contains(c.name(), needle) || contains(c.short(), needle)),
                Field::User(pattern) => {
                    room.owner
                        .as_ref()
                        .is_some_and(|o| pattern.matches(&o.value))
                        || room.admin_list().iter().any(|a| pattern.matches(a))
                        || room
                            .members
                            .iter()
                            .any(|(m, p)| p.value.online && pattern.matches(m))
                        || room.seats.values().any(|s| {
                            s.value
                                .member
                                .as_deref()
                                .is_some_and(|m| pattern.matches(m))
                        })
                }
                Field::Since(window) => room
                    .last_event_ms
                    .is_some_and(|t| t >= now_ms.saturating_sub(*window)),
                Field::Verdict(_) | Field::Effect(_) | Field::Relay(_) => return true,
            };
            hit != term.negated
        })
    }

    /// Whether a log line is shown. `rooms` are the rooms the event concerns; `room` looks a
    /// room up, for its name; `relay` is the line's relay outcome, if any.
    pub fn matches_entry<'a>(
        &self,
        entry: &LogEntry,
        rooms: &[RoomKey],
        room: impl Fn(&RoomKey) -> Option<&'a Room>,
        relay: Option<&RelayState>,
        now_ms: i64,
    ) -> bool {
        let event: &Event = &entry.event;
        self.terms.iter().all(|term| {
            let hit = match &term.field {
                Field::Text(needle) => rooms
                    .iter()
                    .any(|key| room_text_matches(room(key), &key.id, needle)),
                Field::Room(pattern) => rooms.iter().any(|key| pattern.matches(&key.id)),
                Field::App(pattern) => pattern.matches(event.sdkappid()),
                Field::Command(needle) => event.command.as_deref().is_some_and(|c| {
                    contains(c, needle) || contains(crate::protocol::short_name(c), needle)
                }),
                Field::User(pattern) => event
                    .callback
                    .as_ref()
                    .is_some_and(|c| accounts(c).any(|a| pattern.matches(a))),
                Field::Verdict(verdict) => event.verdict == *verdict,
                Field::Effect(effect) => entry.effect == *effect,
                Field::Relay(word) => relay_word(relay) == word,
                Field::Since(window) => event.received_at_ms >= now_ms.saturating_sub(*window),
            };
            hit != term.negated
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_ids_ignoring_case() {
        let p = Pattern::new("live_9*");
        assert!(p.matches("live_9001"));
        assert!(p.matches("LIVE_9"));
        assert!(!p.matches("xlive_9"));
        let exact = Pattern::new("Bob");
        assert!(exact.matches("bob"));
        assert!(!exact.matches("bobby"));
        let middle = Pattern::new("*jazz*");
        assert!(middle.matches("late-jazz-room"));
        let ends = Pattern::new("*_01");
        assert!(ends.matches("room_01"));
        assert!(!ends.matches("room_012"));
        let both = Pattern::new("a*b*c");
        assert!(both.matches("aXbYc"));
        assert!(!both.matches("aXbYcd"));
        assert!(Pattern::new("*").matches("anything"));
    }

    #[test]
    fn terms_parse_and_bad_ones_say_why() {
        let q = Query::parse("  room:live_9*  !cmd:gift since:10m jazz ").unwrap();
        assert_eq!(q.terms.len(), 4);
        assert!(q.terms[1].negated);
        assert_eq!(q.terms[2].field, Field::Since(600_000));
        assert!(q.uses_clock());
        assert!(Query::parse("").unwrap().is_empty());
        assert_eq!(
            Query::parse("colour:red"),
            Err(QueryError::UnknownField("colour:".into()))
        );
        assert_eq!(Query::parse("cmd:"), Err(QueryError::Empty("cmd".into())));
        assert_eq!(
            Query::parse("verdict:maybe"),
            Err(QueryError::Verdict("maybe".into()))
        );
        assert_eq!(
            Query::parse("since:10"),
            Err(QueryError::Since("10".into()))
        );
        assert_eq!(Query::parse("since:m"), Err(QueryError::Since("m".into())));
        assert_eq!(Query::parse("!"), Err(QueryError::LoneBang));
        assert!(Query::parse("relay:failed").unwrap().uses_relay());
        assert_eq!(
            Query::parse("relay:lost"),
            Err(QueryError::Relay("lost".into()))
        );
        let (kept, error) = Query::parse_lenient("jazz colour:red since:1m");
        assert_eq!(kept, Query::parse("jazz since:1m").unwrap());
        assert_eq!(error, Some(QueryError::UnknownField("colour:".into())));
        let message = QueryError::UnknownField("colour:".into()).to_string();
        assert!(message.contains("room: app: cmd: user:"), "{message}");
        assert_eq!(Query::parse("app:"), Err(QueryError::Empty("app".into())));
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms("30s"), Some(30_000));
        assert_eq!(duration_ms("2h"), Some(7_200_000));
        assert_eq!(duration_ms("1d"), Some(86_400_000));
        assert_eq!(duration_ms("5w"), None);
        assert_eq!(duration_ms("99999999999999999999m"), None);
    }
}
