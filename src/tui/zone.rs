//! The time zone the dashboard shows times in: local by default, UTC with `--utc`.
//!
//! The local offset is read once, at start-up, while the process still has a single thread:
//! reading it later is refused on Unix (another thread could be changing the environment).

use std::sync::OnceLock;

use time::UtcOffset;

/// A fixed offset from UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    offset_s: i32,
}

static LOCAL: OnceLock<Zone> = OnceLock::new();

impl Zone {
    pub const UTC: Self = Self { offset_s: 0 };

    /// Reads the local offset (from `TZ` or the system zone). Call before any other thread
    /// starts; later calls return the first answer.
    pub fn detect_local() -> Self {
        *LOCAL.get_or_init(|| {
            UtcOffset::current_local_offset().map_or(Self::UTC, |o| Self {
                offset_s: o.whole_seconds(),
            })
        })
    }

    /// The local zone as detected at start-up; UTC when it could not be read.
    pub fn local() -> Self {
        Self::detect_local()
    }

    pub fn from_offset_seconds(offset_s: i32) -> Self {
        Self { offset_s }
    }

    /// How the header names the zone: `UTC`, `UTC+08:00`, `UTC-05:30`.
    pub fn label(self) -> String {
        if self.offset_s == 0 {
            return "UTC".to_string();
        }
        let sign = if self.offset_s < 0 { '-' } else { '+' };
        let abs = self.offset_s.unsigned_abs();
        format!("UTC{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60)
    }

    /// `YYYY-MM-DD HH:MM:SS` of a Unix time in ms, in this zone.
    pub fn date_time(self, ms: i64) -> String {
        let shifted = ms.saturating_add(i64::from(self.offset_s) * 1000);
        let days = shifted.div_euclid(86_400_000);
        let date =
            time::Date::from_julian_day(i32::try_from(days + 2_440_588).unwrap_or(2_440_588))
                .unwrap_or(time::Date::MIN);
        format!("{date} {}", self.clock(ms))
    }

    /// `HH:MM:SS` of a Unix time in ms, in this zone.
    pub fn clock(self, ms: i64) -> String {
        crate::tui::ui::text::clock(ms.saturating_add(i64::from(self.offset_s) * 1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_clocks() {
        assert_eq!(Zone::UTC.label(), "UTC");
        let tokyo = Zone::from_offset_seconds(9 * 3600);
        assert_eq!(tokyo.label(), "UTC+09:00");
        assert_eq!(
            Zone::from_offset_seconds(-(5 * 3600 + 1800)).label(),
            "UTC-05:30"
        );
        // 2025-01-01T00:10:00Z
        assert_eq!(Zone::UTC.clock(1_735_690_200_000), "00:10:00");
        assert_eq!(tokyo.clock(1_735_690_200_000), "09:10:00");
        assert_eq!(
            Zone::from_offset_seconds(-3600).clock(1_735_690_200_000),
            "23:10:00"
        );
        assert_eq!(
            Zone::from_offset_seconds(-3600).date_time(1_735_690_200_000),
            "2024-12-31 23:10:00"
        );
        assert_eq!(tokyo.date_time(1_735_690_200_000), "2025-01-01 09:10:00");
    }
}
