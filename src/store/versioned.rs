//! Last-writer-wins registers ordered by event time, so that any delivery order of the same
//! callbacks converges to the same state.

use serde::{Deserialize, Serialize};

/// When a write happened: the event's own time, then a digest of its body to order two
/// different events that claim the same millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    pub time_ms: i64,
    pub tiebreak: u64,
}

/// A value with the stamp of the write that set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned<T> {
    pub value: T,
    pub stamp: Stamp,
}

/// What a write did to a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// The callback did not carry this field.
    Absent,
    /// Stored, and the value changed.
    Changed,
    /// Stored, same value as before.
    Same,
    /// A newer write already holds the register; ignored.
    Stale,
}

/// Writes `value` into `field` unless a newer stamp holds it. `None` leaves it untouched:
/// a field missing from a payload is not evidence of anything.
pub fn write<T: PartialEq>(
    field: &mut Option<Versioned<T>>,
    value: Option<T>,
    stamp: Stamp,
) -> Write {
    let Some(value) = value else {
        return Write::Absent;
    };
    match field {
        Some(current) if current.stamp > stamp => Write::Stale,
        Some(current) if current.stamp == stamp => Write::Same,
        Some(current) => {
            let changed = current.value != value;
            *current = Versioned { value, stamp };
            if changed { Write::Changed } else { Write::Same }
        }
        None => {
            *field = Some(Versioned { value, stamp });
            Write::Changed
        }
    }
}

/// [`write`] from a borrowed value: copied only when it differs from the register's (into the
/// register's own buffer where it has one), so a repeated value costs no allocation.
pub fn write_from<T: PartialEq + Clone>(
    field: &mut Option<Versioned<T>>,
    value: Option<&T>,
    stamp: Stamp,
) -> Write {
    let Some(value) = value else {
        return Write::Absent;
    };
    match field {
        Some(current) if current.stamp > stamp => Write::Stale,
        Some(current) if current.stamp == stamp => Write::Same,
        Some(current) => {
            current.stamp = stamp;
            if current.value == *value {
                Write::Same
            } else {
                current.value.clone_from(value);
                Write::Changed
            }
        }
        None => {
            *field = Some(Versioned {
                value: value.clone(),
                stamp,
            });
            Write::Changed
        }
    }
}

/// The value of a register, if known.
pub fn known<T>(field: &Option<Versioned<T>>) -> Option<&T> {
    field.as_ref().map(|v| &v.value)
}
