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
        if text.is_ascii() {
            // Compared in place: lower-casing ASCII is ignoring ASCII case, and pieces with
            // other characters never match ASCII bytes.
            self.matches_in(text.as_bytes(), <[u8]>::eq_ignore_ascii_case)
        } else {
            self.matches_in(text.to_lowercase().as_bytes(), |a, b| a == b)
        }
    }

    /// Matches the pieces in order, `eq` comparing a piece with text of its length.
    fn matches_in(&self, text: &[u8], eq: impl Fn(&[u8], &[u8]) -> bool) -> bool {
        let mut rest = text;
        let last = self.pieces.len().saturating_sub(1);
        for (i, piece) in self.pieces.iter().enumerate() {
            let piece = piece.as_bytes();
            if i == 0 && !self.starts_open {
                match rest.split_at_checked(piece.len()) {
                    Some((head, tail)) if eq(head, piece) => rest = tail,
                    _ => return false,
                }
            } else if i == last && !self.ends_open {
                return rest
                    .len()
                    .checked_sub(piece.len())
                    .is_some_and(|at| eq(&rest[at..], piece));
            } else {
                let found = rest
                    .windows(piece.len())
                    .position(|window| eq(window, piece));
                let Some(at) = found else {
                    return false;
                };
                rest = &rest[at + piece.len()..];
            }
        }
        self.ends_open || rest.is_empty() || self.pieces.is_empty()
    }
}

/// Whether `haystack` contains `needle` (already lower case), ignoring case. ASCII text, the
/// usual case for ids and names, is compared in place: a scan over thousands of rooms per
/// keystroke allocates nothing.
fn contains(haystack: &str, needle: &str) -> bool {
    if !haystack.is_ascii() {
        return haystack.to_lowercase().contains(needle);
    }
    // A lower-case needle has no ASCII capitals, so ignoring ASCII case on both sides equals
    // lower-casing the haystack; a needle with other characters never matches ASCII bytes.
    let (hay, needle) = (haystack.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let Some(last_start) = hay.len().checked_sub(needle.len()) else {
        return false;
    };
    (0..=last_start).any(|i| {
        hay[i].to_ascii_lowercase() == first
            && hay[i + 1..i + needle.len()].eq_ignore_ascii_case(rest)
    })
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

/// One word of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
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
pub fn accounts(callback: &Callback) -> impl Iterator<Item = &str> {
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

/// The accounts `user:` finds in a room: its owner, admins, members online and seated
/// members.
pub fn room_accounts(room: &Room) -> impl Iterator<Item = &str> {
    let admins = room
        .admins
        .iter()
        .filter(|(_, v)| v.value)
        .map(|(k, _)| k.as_str());
    let online = room
        .members
        .iter()
        .filter(|(_, p)| p.value.online)
        .map(|(m, _)| m.as_str());
    let seated = room
        .seats
        .values()
        .filter_map(|s| s.value.member.as_deref());
    room.owner
        .as_ref()
        .map(|o| o.value.as_str())
        .into_iter()
        .chain(admins)
        .chain(online)
        .chain(seated)
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
        self.matches_room_by(room, now_ms, |pattern| {
            room_accounts(room).any(|a| pattern.matches(a))
        })
    }

    /// Whether the query has a `user:` term.
    pub fn uses_accounts(&self) -> bool {
        self.terms.iter().any(|t| matches!(t.field, Field::User(_)))
    }

    /// [`Self::matches_room`], with `users_hit` telling whether any of the room's accounts
    /// (see [`room_accounts`]) passes a `user:` pattern, e.g. from a copy of them kept
    /// together for a scan over many rooms.
    pub fn matches_room_by(
        &self,
        room: &Room,
        now_ms: i64,
        mut users_hit: impl FnMut(&Pattern) -> bool,
    ) -> bool {
        self.terms.iter().all(|term| {
            let hit = match &term.field {
                Field::Text(needle) => room_text_matches(Some(room), &room.id, needle),
                Field::Room(pattern) => pattern.matches(&room.id),
                Field::App(pattern) => pattern.matches(&room.app),
                Field::Command(needle) => room
                    .counts
                    .keys()
                    .any(|c| contains(c.name(), needle) || contains(c.short(), needle)),
                Field::User(pattern) => users_hit(pattern),
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
            let hit = match term.line_test() {
                LineTest::AnyRoom => rooms.iter().any(|key| term.room_hit(&key.id, room(key))),
                LineTest::App => term.app_hit(event.sdkappid()),
                LineTest::Command => event
                    .command
                    .as_deref()
                    .is_some_and(|c| term.command_hit(c)),
                LineTest::Account => event
                    .callback
                    .as_ref()
                    .is_some_and(|c| accounts(c).any(|a| term.account_hit(a))),
                LineTest::Verdict(verdict) => event.verdict == verdict,
                LineTest::Effect(effect) => entry.effect == effect,
                LineTest::Since(window) => event.received_at_ms >= now_ms.saturating_sub(window),
                LineTest::Line => term.line_hit(relay),
            };
            hit != term.negated
        })
    }

    /// The terms, for a scan that answers each one its own way (see [`Term::line_test`]).
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }
}

/// What a term looks at in a log line. A scan over many lines answers the room and command
/// terms once per distinct room or command, then only looks the answer up per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineTest {
    /// A hit when any room of the line passes [`Term::room_hit`].
    AnyRoom,
    /// A hit when the line's app passes [`Term::app_hit`].
    App,
    /// A hit when the line has a command that passes [`Term::command_hit`].
    Command,
    /// A hit when any account the line's callback names (see [`accounts`]) passes
    /// [`Term::account_hit`].
    Account,
    Verdict(Verdict),
    Effect(Effect),
    /// A hit when the line arrived within this many ms of now.
    Since(i64),
    /// Needs the line itself: [`Term::line_hit`].
    Line,
}

impl Term {
    /// Whether a hit means the line is left out.
    pub fn negated(&self) -> bool {
        self.negated
    }

    pub fn line_test(&self) -> LineTest {
        match &self.field {
            Field::Text(_) | Field::Room(_) => LineTest::AnyRoom,
            Field::App(_) => LineTest::App,
            Field::Command(_) => LineTest::Command,
            Field::Verdict(verdict) => LineTest::Verdict(*verdict),
            Field::Effect(effect) => LineTest::Effect(*effect),
            Field::Since(window) => LineTest::Since(*window),
            Field::User(_) => LineTest::Account,
            Field::Relay(_) => LineTest::Line,
        }
    }

    /// Whether [`Self::room_hit`] looks at the room's state (its name), not only its id.
    pub fn reads_room_state(&self) -> bool {
        matches!(self.field, Field::Text(_))
    }

    /// Whether the room `id` (`room` is its state, if stored) passes a room term.
    pub fn room_hit(&self, id: &str, room: Option<&Room>) -> bool {
        let name = room.and_then(|r| r.name.as_ref()).map(|n| n.value.as_str());
        self.room_hit_named(id, name)
    }

    /// [`Self::room_hit`] for a room known by its id and its name now (`None`: no name, or
    /// not stored).
    pub fn room_hit_named(&self, id: &str, name: Option<&str>) -> bool {
        match &self.field {
            Field::Text(needle) => {
                contains(id, needle) || name.is_some_and(|n| contains(n, needle))
            }
            Field::Room(pattern) => pattern.matches(id),
            _ => false,
        }
    }

    /// Whether an app (SdkAppid) passes an `app:` term.
    pub fn app_hit(&self, app: &str) -> bool {
        match &self.field {
            Field::App(pattern) => pattern.matches(app),
            _ => false,
        }
    }

    /// Whether a command name passes a `cmd:` term.
    pub fn command_hit(&self, command: &str) -> bool {
        match &self.field {
            Field::Command(needle) => {
                contains(command, needle) || contains(crate::protocol::short_name(command), needle)
            }
            _ => false,
        }
    }

    /// Whether an account passes a `user:` term.
    pub fn account_hit(&self, account: &str) -> bool {
        match &self.field {
            Field::User(pattern) => pattern.matches(account),
            _ => false,
        }
    }

    /// Whether a line passes a term that needs the line itself (`relay:`).
    pub fn line_hit(&self, relay: Option<&RelayState>) -> bool {
        match &self.field {
            Field::Relay(word) => relay_word(relay) == word,
            _ => false,
        }
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
