//! The subject scheme: `<prefix>.<app>.<kind>.<partition>`, built only from tokens roomwatch
//! makes itself, never from raw remote text (room ids, paths and commands can hold `.`, `*`,
//! `>` or spaces, which would split or widen a subject).
//!
//! - `<app>`: the SdkAppid when it is 1 to 20 ASCII digits, else `unknown`.
//! - `<kind>`: the command's short label (`CreateRoom`, `MemberEnter`, `SendGift`...) for a
//!   recognised callback, `Unrecognized` for a command roomwatch does not know, `Rejected` for a
//!   refused request.
//! - `<partition>`: `p00`..`p15`, from a hash of (app, room): every callback of one room lands
//!   in one partition, which is what keeps the shared relay in order per room.
//!
//! So `nats sub 'roomwatch.1400000001.>'` follows one app, `roomwatch.*.CreateRoom.*` every
//! room creation, `roomwatch.*.Rejected.*` what was refused.

use crate::event::{Event, Verdict};

/// Partitions of the relay: fixed, since changing it would move rooms between partitions.
pub const PARTITIONS: u32 = 16;

/// The app token: the SdkAppid if it is plain digits, else `unknown`.
pub fn app_token(sdkappid: Option<&str>) -> &str {
    match sdkappid {
        Some(id) if (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()) => id,
        _ => "unknown",
    }
}

/// The kind token of an event.
pub fn kind_token(event: &Event) -> &'static str {
    match (&event.verdict, &event.callback) {
        (Verdict::Rejected, _) => "Rejected",
        (_, Some(callback)) => callback.command.short(),
        _ => "Unrecognized",
    }
}

/// The partition of a room within an app: FNV-1a, stable across builds and machines.
pub fn partition(app: &str, room: Option<&str>) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in app
        .bytes()
        .chain(std::iter::once(0))
        .chain(room.unwrap_or("").bytes())
    {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % PARTITIONS
}

/// The partition token, `p00`..`p15`.
pub fn partition_token(partition: u32) -> String {
    format!("p{partition:02}")
}

/// The subject an event is published on.
pub fn for_event(prefix: &str, event: &Event) -> String {
    let app = app_token(event.query.get("SdkAppid"));
    let part = partition(app, event.room_id.as_deref());
    format!(
        "{prefix}.{app}.{}.{}",
        kind_token(event),
        partition_token(part)
    )
}

/// Every subject of the stream.
pub fn all(prefix: &str) -> String {
    format!("{prefix}.>")
}

/// Every subject of one partition, across apps and kinds.
pub fn of_partition(prefix: &str, partition: u32) -> String {
    format!("{prefix}.*.*.{}", partition_token(partition))
}

/// A prefix is one or more tokens of letters, digits, `-` and `_`, separated by dots.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    let valid = !prefix.is_empty()
        && prefix.split('.').all(|token| {
            !token.is_empty()
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "subject prefix {prefix:?} must be dot-separated tokens of letters, digits, '-' and '_'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digits_make_an_app_token() {
        assert_eq!(app_token(Some("1400000001")), "1400000001");
        assert_eq!(app_token(Some("14.>")), "unknown");
        assert_eq!(app_token(Some("")), "unknown");
        assert_eq!(app_token(Some("123456789012345678901")), "unknown");
        assert_eq!(app_token(None), "unknown");
    }

    #[test]
    fn a_room_always_lands_in_one_partition_and_rooms_spread() {
        assert_eq!(
            partition("1", Some("live_1")),
            partition("1", Some("live_1"))
        );
        let used: std::collections::BTreeSet<u32> = (0..200)
            .map(|i| partition("1400000001", Some(&format!("live_{i}"))))
            .collect();
        assert_eq!(used.len(), PARTITIONS as usize);
        assert!(used.iter().all(|p| *p < PARTITIONS));
    }

    #[test]
    fn hostile_room_ids_never_reach_the_subject() {
        let event = super::super::record::tests::judged(
            "SdkAppid=1.>&CallbackCommand=Live.CallbackAfterCreateRoom",
            r#"{"CallbackCommand":"Live.CallbackAfterCreateRoom","RoomInfo":{"RoomId":"a.b.*.>  x"},"EventTime":1}"#,
        );
        assert_eq!(event.room_id.as_deref(), Some("a.b.*.>  x"));
        let subject = for_event("roomwatch", &event);
        let tokens: Vec<&str> = subject.split('.').collect();
        assert_eq!(tokens.len(), 4, "{subject}");
        assert_eq!(tokens[1], "unknown");
        assert!(!subject.contains('*') && !subject.contains('>') && !subject.contains(' '));
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(check_prefix("roomwatch").is_ok());
        assert!(check_prefix("acme.live-1").is_ok());
        assert!(check_prefix("").is_err());
        assert!(check_prefix("a..b").is_err());
        assert!(check_prefix("a.*").is_err());
        assert!(check_prefix("a b").is_err());
    }
}
