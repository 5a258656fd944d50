//! Bounded time series for the plots: callbacks (and rejections) per second for the header,
//! and per room, callbacks per minute and members online at the end of each minute.

use std::collections::{HashMap, VecDeque};

use crate::store::RoomKey;

/// Seconds of callback counts kept for the header sparkline.
pub const SECONDS_KEPT: usize = 300;
/// Minutes kept per room for its chart.
pub const MINUTES_KEPT: usize = 60;

/// One second's arrivals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SecondBucket {
    pub second: i64,
    pub total: u64,
    pub rejected: u64,
}

/// Arrivals per second over the last [`SECONDS_KEPT`] seconds.
#[derive(Debug, Clone, Default)]
pub struct Throughput {
    buckets: VecDeque<SecondBucket>,
}

impl Throughput {
    pub fn record(&mut self, at_ms: i64, rejected: bool) {
        let second = at_ms.div_euclid(1000);
        // Arrival times only go forward (the hub stamps them); an older one joins the
        // newest bucket rather than reordering the series.
        let newest = self.buckets.back().map(|b| b.second);
        if newest.is_none_or(|n| second > n) {
            self.buckets.push_back(SecondBucket {
                second,
                ..SecondBucket::default()
            });
        }
        if let Some(bucket) = self.buckets.back_mut() {
            bucket.total += 1;
            bucket.rejected += u64::from(rejected);
        }
        self.trim(second);
    }

    /// Drops seconds older than the window ending at `now_s`.
    pub fn trim(&mut self, now_s: i64) {
        let oldest = now_s - SECONDS_KEPT as i64;
        while self.buckets.front().is_some_and(|b| b.second <= oldest) {
            self.buckets.pop_front();
        }
    }

    /// The last `n` seconds up to `now_ms`, oldest first, zero where nothing arrived.
    pub fn last_seconds(&self, now_ms: i64, n: usize) -> Vec<SecondBucket> {
        let last = now_ms.div_euclid(1000);
        let first = last - n as i64 + 1;
        let mut out: Vec<SecondBucket> = (first..=last)
            .map(|second| SecondBucket {
                second,
                ..SecondBucket::default()
            })
            .collect();
        for bucket in self.buckets.iter().rev() {
            if bucket.second < first {
                break;
            }
            if let Some(slot) = out.get_mut((bucket.second - first) as usize) {
                *slot = *bucket;
            }
        }
        out
    }
}

/// One minute of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MinuteBucket {
    pub minute: i64,
    pub callbacks: u64,
    /// Members online after the minute's last callback.
    pub online: u64,
}

/// Each room's last [`MINUTES_KEPT`] minutes.
#[derive(Debug, Clone, Default)]
pub struct RoomSeries {
    rooms: HashMap<RoomKey, VecDeque<MinuteBucket>>,
}

impl RoomSeries {
    pub fn record(&mut self, room: RoomKey, at_ms: i64, online: u64) {
        let minute = at_ms.div_euclid(60_000);
        let series = self.rooms.entry(room).or_default();
        if series.back().is_none_or(|b| minute > b.minute) {
            series.push_back(MinuteBucket {
                minute,
                ..MinuteBucket::default()
            });
            while series.len() > MINUTES_KEPT {
                series.pop_front();
            }
        }
        if let Some(bucket) = series.back_mut() {
            bucket.callbacks += 1;
            bucket.online = online;
        }
    }

    /// The last `n` minutes of a room up to `now_ms`, oldest first: callbacks (zero when
    /// none) and online (carried over from the minute before when nothing arrived; `None`
    /// before the first known minute).
    pub fn last_minutes(&self, room: &RoomKey, now_ms: i64, n: usize) -> Vec<(u64, Option<u64>)> {
        let now_m = now_ms.div_euclid(60_000);
        let first = now_m - n as i64 + 1;
        let Some(series) = self.rooms.get(room) else {
            return vec![(0, None); n];
        };
        let mut online = series
            .iter()
            .rev()
            .find(|b| b.minute < first)
            .map(|b| b.online);
        let mut at = series.partition_point(|b| b.minute < first);
        (first..=now_m)
            .map(|minute| {
                let mut callbacks = 0;
                if let Some(bucket) = series.get(at).filter(|b| b.minute == minute) {
                    callbacks = bucket.callbacks;
                    online = Some(bucket.online);
                    at += 1;
                }
                (callbacks, online)
            })
            .collect()
    }

    /// Forgets rooms no longer held.
    pub fn retain(&mut self, keep: impl Fn(&RoomKey) -> bool) {
        self.rooms.retain(|id, _| keep(id));
    }

    /// Whether anything was recorded for this room.
    pub fn has(&self, room: &RoomKey) -> bool {
        self.rooms.contains_key(room)
    }

    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_bucketed_and_bounded() {
        let mut t = Throughput::default();
        t.record(10_100, false);
        t.record(10_900, true);
        t.record(12_000, false);
        let last = t.last_seconds(12_500, 4);
        let totals: Vec<u64> = last.iter().map(|b| b.total).collect();
        assert_eq!(totals, [0, 2, 0, 1]);
        assert_eq!(last[1].rejected, 1);
        for s in 0..1000 {
            t.record(20_000 + s * 1000, false);
        }
        assert!(t.buckets.len() <= SECONDS_KEPT);
    }

    #[test]
    fn minutes_carry_online_and_are_bounded() {
        let a = RoomKey::new("1400000001", "a");
        let mut r = RoomSeries::default();
        r.record(a.clone(), 60_000, 3);
        r.record(a.clone(), 61_000, 4);
        r.record(a.clone(), 180_000, 2);
        let last = r.last_minutes(&a, 240_000, 4);
        assert_eq!(
            last,
            [(2, Some(4)), (0, Some(4)), (1, Some(2)), (0, Some(2))]
        );
        let same_id_other_app = RoomKey::new("1400000002", "a");
        assert_eq!(
            r.last_minutes(&same_id_other_app, 240_000, 2),
            [(0, None), (0, None)]
        );
        for m in 0..500 {
            r.record(a.clone(), m * 60_000, 1);
        }
        assert!(r.rooms[&a].len() <= MINUTES_KEPT);
        r.retain(|key| *key != a);
        assert!(r.is_empty());
    }
}
