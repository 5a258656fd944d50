//! The compact layout of remembered deliveries, for journal checkpoints. In the plain layout
//! each delivery is its command's full name and a varint digest, about 42 bytes: on a journal
//! of half a million callbacks over 500 rooms the deliveries were 17 of a checkpoint's 22 MB,
//! and every checkpoint (one per 20,000 records) wrote, freed and copied that much again. Here
//! each is one byte for the command and the digest's eight bytes, in one byte string per
//! memory: 9 bytes, read back without an allocation per delivery.
//!
//! The layout is chosen per encoding with [`compact_deliveries`], not per type: the plain one
//! stays what NATS checkpoints and older journals hold, and postcard is not self-describing,
//! so the reader must be told which layout it reads.

use std::cell::Cell;

use crate::protocol::Command;

use super::recent::Delivery;

thread_local! {
    static COMPACT: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (an encoding or a decoding on this thread) with deliveries in the compact layout.
pub fn compact_deliveries<R>(f: impl FnOnce() -> R) -> R {
    /// Restores the previous layout even if `f` unwinds.
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            COMPACT.set(self.0);
        }
    }
    let _reset = Reset(COMPACT.replace(true));
    f()
}

/// Each command's one-byte code: its place in this list. A stored format: append new
/// commands at the end, never reorder (the names, not the enum's order, anchor it).
const CODES: &[&str] = &[
    "Live.CallbackAfterCreateRoom",
    "Live.CallbackAfterDestroyRoom",
    "Live.CallbackAfterUpdateRoomInfo",
    "Live.CallbackAfterSetMetadata",
    "Live.CallbackAfterDelMetadata",
    "Live.CallbackAfterCreateRoomReachingThreshold",
    "Live.CallbackAfterMemberStateChanged",
    "Live.CallbackAfterChangeOwner",
    "Live.CallbackAfterModifyAdmin",
    "Mic.CallbackAfterSeatInfoChanged",
    "Live.CallbackAfterCreateBattle",
    "Live.CallbackAfterStartBattle",
    "Live.CallbackAfterEndBattle",
    "Live.CallbackBeforeSendGift",
    "Live.CallbackBeforeCallBackNotBlock",
    "Group.CallbackBeforeSendMsg",
    "Group.CallbackAfterSendMsg",
    "Follow.CallbackAfterFollowAdd",
    "Follow.CallbackAfterFollowDelete",
    "Live.CallbackAfterCloudRecordingChanged",
    "Room.CallbackAfterCreateRoom",
    "Room.CallbackAfterDestroyRoom",
    "Room.CallbackAfterUpdateRoomInfo",
    "Room.CallbackAfterMemberEnter",
    "Room.CallbackAfterMemberLeave",
];

/// [`CODES`] both ways, looked up once: a checkpoint holds hundreds of thousands of
/// deliveries, and a name search per delivery would cost more than the encoding itself.
struct Table {
    /// By the command's discriminant.
    codes: Vec<Option<u8>>,
    /// By code.
    commands: Vec<Option<Command>>,
}

static TABLE: std::sync::LazyLock<Table> = std::sync::LazyLock::new(|| {
    let mut codes = Vec::new();
    for cmd in Command::all() {
        let slot = cmd as usize;
        if codes.len() <= slot {
            codes.resize(slot + 1, None);
        }
        codes[slot] = CODES
            .iter()
            .position(|name| *name == cmd.name())
            .and_then(|i| u8::try_from(i).ok());
    }
    let commands = CODES.iter().map(|name| Command::from_name(name)).collect();
    Table { codes, commands }
});

fn code(command: Command) -> Option<u8> {
    TABLE.codes.get(command as usize).copied().flatten()
}

fn command(code: u8) -> Option<Command> {
    TABLE.commands.get(usize::from(code)).copied().flatten()
}

/// Bytes per delivery in the compact layout.
const ENTRY: usize = 9;

/// `#[serde(with)]` for a list of deliveries: the plain layout, or the compact one inside
/// [`compact_deliveries`].
pub mod deliveries {
    use serde::de::{self, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{COMPACT, Delivery, ENTRY, code, command};

    pub fn serialize<S: Serializer>(order: &[Delivery], serializer: S) -> Result<S::Ok, S::Error> {
        if !COMPACT.get() {
            return order.serialize(serializer);
        }
        let mut bytes = Vec::with_capacity(order.len() * ENTRY);
        for (cmd, digest) in order {
            let code = code(*cmd).ok_or_else(|| {
                serde::ser::Error::custom(format!("no compact code for {}", cmd.name()))
            })?;
            bytes.push(code);
            bytes.extend_from_slice(&digest.to_le_bytes());
        }
        serializer.serialize_bytes(&bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Delivery>, D::Error> {
        if !COMPACT.get() {
            return Vec::deserialize(deserializer);
        }
        deserializer.deserialize_bytes(Packed)
    }

    struct Packed;

    impl Visitor<'_> for Packed {
        type Value = Vec<Delivery>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("deliveries of 9 bytes each")
        }

        fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
            if !bytes.len().is_multiple_of(ENTRY) {
                return Err(E::custom("deliveries cut short"));
            }
            bytes
                .chunks_exact(ENTRY)
                .map(|entry| {
                    let cmd = command(entry[0])
                        .ok_or_else(|| E::custom(format!("unknown command code {}", entry[0])))?;
                    let mut digest = [0u8; 8];
                    digest.copy_from_slice(&entry[1..]);
                    Ok((cmd, u64::from_le_bytes(digest)))
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_one_code_and_back() {
        let mut seen = std::collections::BTreeSet::new();
        for cmd in Command::all() {
            let code = code(cmd).expect("every command has a code");
            assert!(seen.insert(code), "{} shares its code", cmd.name());
            assert_eq!(command(code), Some(cmd));
        }
        assert_eq!(seen.len(), CODES.len(), "no code without a command");
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Holder {
        #[serde(with = "deliveries")]
        order: Vec<Delivery>,
    }

    #[test]
    fn both_layouts_read_back_what_they_wrote_and_compact_is_nine_bytes_each() {
        let holder = Holder {
            order: Command::all()
                .zip([0, 1, u64::MAX, 1 << 63, 42].into_iter().cycle())
                .collect(),
        };
        let plain = postcard::to_allocvec(&holder).expect("plain");
        assert_eq!(
            postcard::from_bytes::<Holder>(&plain).expect("plain back"),
            holder
        );
        let compact = compact_deliveries(|| postcard::to_allocvec(&holder)).expect("compact");
        assert!(compact.len() <= 2 + holder.order.len() * ENTRY);
        assert!(compact.len() < plain.len() / 3);
        let back = compact_deliveries(|| postcard::from_bytes::<Holder>(&compact)).expect("back");
        assert_eq!(back, holder);
        // The flag is per encoding: outside, the plain layout again.
        assert!(!COMPACT.get());
    }

    #[test]
    fn damaged_compact_deliveries_are_an_error_not_a_panic() {
        let holder = Holder {
            order: vec![(Command::UpdateRoomInfo, 7)],
        };
        let mut bytes = compact_deliveries(|| postcard::to_allocvec(&holder)).expect("compact");
        // An unknown command code.
        bytes[1] = 200;
        assert!(compact_deliveries(|| postcard::from_bytes::<Holder>(&bytes)).is_err());
        // A length that is not a whole number of deliveries.
        let cut = [8u8, 2, 0, 0, 0, 0, 0, 0, 0];
        assert!(compact_deliveries(|| postcard::from_bytes::<Holder>(&cut)).is_err());
    }
}
