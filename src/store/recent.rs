//! A bounded memory of recent deliveries, to spot repeats without growing forever.

use imbl::OrdSet;

use crate::protocol::Command;

/// A command and a digest of the body it came with.
pub type Delivery = (Command, u64);

/// The recent deliveries in two generations of at most `capacity` each: new ones go into the
/// current generation; when it is full it becomes the previous one and the one before is let
/// go. A repeat is caught while it is in either, so at least the last `capacity` deliveries
/// (and at most twice that) are remembered. Tencent repeats a callback within seconds or
/// minutes. Two sets instead of a set and an arrival queue: one tree update per delivery.
/// Persistent sets: a copy of the store (a dashboard resynchronising) shares them.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(into = "Remembered", from = "Remembered")]
pub struct RecentDeliveries {
    current: OrdSet<Delivery>,
    previous: OrdSet<Delivery>,
    capacity: usize,
}

impl RecentDeliveries {
    pub fn new(capacity: usize) -> Self {
        Self {
            current: OrdSet::new(),
            previous: OrdSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records `delivery`; `false` when it was already among the recent ones.
    pub fn insert(&mut self, delivery: Delivery) -> bool {
        if self.previous.contains(&delivery) || self.current.insert(delivery).is_some() {
            return false;
        }
        if self.current.len() >= self.capacity {
            self.previous = std::mem::take(&mut self.current);
        }
        true
    }

    /// Deliveries remembered.
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.current.is_empty() && self.previous.is_empty()
    }

    fn contains(&self, delivery: &Delivery) -> bool {
        self.current.contains(delivery) || self.previous.contains(delivery)
    }
}

/// What a checkpoint keeps: every delivery remembered, the previous generation first. (The
/// same shape as when they were kept in arrival order, so older checkpoints still load.)
#[derive(serde::Serialize, serde::Deserialize)]
struct Remembered {
    capacity: usize,
    #[serde(with = "super::compact::deliveries")]
    order: Vec<Delivery>,
}

impl From<RecentDeliveries> for Remembered {
    fn from(recent: RecentDeliveries) -> Self {
        Self {
            capacity: recent.capacity,
            order: recent
                .previous
                .iter()
                .chain(recent.current.iter())
                .copied()
                .collect(),
        }
    }
}

impl From<Remembered> for RecentDeliveries {
    /// Everything listed becomes the previous generation: kept for at least `capacity` more
    /// deliveries, so nothing is forgotten sooner than it would have been without the restart
    /// (the list is not in arrival order, so no part of it may go first).
    fn from(kept: Remembered) -> Self {
        let mut recent = Self::new(kept.capacity);
        recent.previous = kept.order.into_iter().collect();
        recent
    }
}

/// Two memories are equal when they hold the same deliveries, whatever order (and so
/// whichever generation) they came in: state compared after different delivery orders must
/// compare equal.
impl PartialEq for RecentDeliveries {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .previous
                .iter()
                .chain(self.current.iter())
                .all(|delivery| other.contains(delivery))
    }
}

impl Eq for RecentDeliveries {}

/// The deliveries remembered, in order, whichever generation holds them: equal memories
/// print the same.
impl std::fmt::Debug for RecentDeliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let all: std::collections::BTreeSet<&Delivery> =
            self.previous.iter().chain(self.current.iter()).collect();
        f.debug_struct("RecentDeliveries")
            .field("deliveries", &all)
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_caught_until_they_fall_out_of_the_window() {
        let mut recent = RecentDeliveries::new(2);
        assert!(recent.insert((Command::CreateRoom, 1)));
        assert!(!recent.insert((Command::CreateRoom, 1)));
        assert!(
            recent.insert((Command::UpdateRoomInfo, 1)),
            "the command is part of the key"
        );
        assert!(recent.insert((Command::CreateRoom, 2)));
        assert!(
            !recent.insert((Command::CreateRoom, 1)),
            "two newer ones: kept"
        );
        assert!(recent.insert((Command::CreateRoom, 3)));
        assert!(
            recent.insert((Command::CreateRoom, 1)),
            "forgotten after four newer ones"
        );
    }

    #[test]
    fn at_least_the_last_capacity_are_remembered_and_at_most_twice_that() {
        let capacity = 50;
        let mut recent = RecentDeliveries::new(capacity);
        for n in 0..1_000u64 {
            assert!(recent.insert((Command::CreateRoom, n)));
            assert!(recent.len() < 2 * capacity);
            let oldest_kept = (n + 1).saturating_sub(capacity as u64);
            for kept in oldest_kept..=n {
                assert!(
                    recent.contains(&(Command::CreateRoom, kept)),
                    "{kept} at {n}"
                );
            }
        }
        assert!(!recent.contains(&(Command::CreateRoom, 0)));
    }

    #[test]
    fn a_checkpoint_keeps_every_remembered_delivery() {
        let mut recent = RecentDeliveries::new(4);
        for n in 0..7 {
            recent.insert((Command::CreateRoom, n));
        }
        let again = RecentDeliveries::from(Remembered::from(recent.clone()));
        assert_eq!(again, recent);
        assert_eq!(again.len(), recent.len());
        // An older checkpoint: up to `capacity` in arrival order.
        let old = Remembered {
            capacity: 4,
            order: (10..14).map(|n| (Command::CreateRoom, n)).collect(),
        };
        let mut loaded = RecentDeliveries::from(old);
        assert_eq!(loaded.len(), 4);
        assert!(!loaded.insert((Command::CreateRoom, 10)));
        assert!(loaded.insert((Command::CreateRoom, 14)));
    }

    /// A checkpoint lists the deliveries by digest, not by arrival: after a restore every one
    /// of them is still caught as long as it would have been without the restart.
    #[test]
    fn a_restore_forgets_nothing_sooner() {
        let mut running = RecentDeliveries::new(4);
        for n in [13, 12, 11, 10, 20] {
            assert!(running.insert((Command::CreateRoom, n)));
        }
        let mut restored = RecentDeliveries::from(Remembered::from(running.clone()));
        assert_eq!(restored, running);
        assert!(running.insert((Command::CreateRoom, 21)));
        assert!(restored.insert((Command::CreateRoom, 21)));
        assert!(
            !running.insert((Command::CreateRoom, 10)),
            "running: caught"
        );
        assert!(
            !restored.insert((Command::CreateRoom, 10)),
            "restored: caught"
        );
    }
}
