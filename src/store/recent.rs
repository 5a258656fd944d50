//! A bounded memory of recent deliveries, to spot repeats without growing forever.

use imbl::{OrdSet, Vector};

use crate::protocol::Command;

/// A command and a digest of the body it came with.
pub type Delivery = (Command, u64);

/// The last `capacity` deliveries. Tencent repeats a callback within seconds or minutes, so a
/// repeat that arrives after `capacity` newer callbacks for the same room is no longer caught.
/// Persistent collections: a copy of the store (a dashboard resynchronising) shares them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(into = "Remembered", from = "Remembered")]
pub struct RecentDeliveries {
    set: OrdSet<Delivery>,
    order: Vector<Delivery>,
    capacity: usize,
}

impl RecentDeliveries {
    pub fn new(capacity: usize) -> Self {
        Self {
            set: OrdSet::new(),
            order: Vector::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records `delivery`; `false` when it was already among the recent ones.
    pub fn insert(&mut self, delivery: Delivery) -> bool {
        if self.set.insert(delivery).is_some() {
            return false;
        }
        self.order.push_back(delivery);
        if self.order.len() > self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        true
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// What a checkpoint keeps: the deliveries in order; the set is rebuilt from them.
#[derive(serde::Serialize, serde::Deserialize)]
struct Remembered {
    capacity: usize,
    order: Vec<Delivery>,
}

impl From<RecentDeliveries> for Remembered {
    fn from(recent: RecentDeliveries) -> Self {
        Self {
            capacity: recent.capacity,
            order: recent.order.iter().copied().collect(),
        }
    }
}

impl From<Remembered> for RecentDeliveries {
    fn from(kept: Remembered) -> Self {
        let mut recent = Self::new(kept.capacity);
        for delivery in kept.order {
            recent.insert(delivery);
        }
        recent
    }
}

/// Two memories are equal when they hold the same deliveries, whatever order they came in:
/// state compared after different delivery orders must compare equal.
impl PartialEq for RecentDeliveries {
    fn eq(&self, other: &Self) -> bool {
        self.set == other.set
    }
}

impl Eq for RecentDeliveries {}

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
        assert_eq!(recent.len(), 2);
        assert!(
            recent.insert((Command::CreateRoom, 1)),
            "forgotten after two newer ones"
        );
    }
}
