//! A room's identity. Tencent's RoomId is unique only within one app (SdkAppid): the same
//! RoomId under two apps is two rooms, so everything that holds rooms keys them by both.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An app and a room (or battle) id within it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RoomKey {
    /// Compared first, so the same RoomId under several apps sorts together and a lookup by
    /// id alone is one range of the map.
    pub id: String,
    /// The callback's `SdkAppid`, trimmed; empty when it named none.
    pub app: String,
}

/// Battles are scoped to their app the same way.
pub type BattleKey = RoomKey;

impl RoomKey {
    pub fn new(app: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            app: app.into(),
        }
    }
}

impl fmt::Display for RoomKey {
    /// `1400000001/live_1`, or the bare id when no app is known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.app.is_empty() {
            f.write_str(&self.id)
        } else {
            write!(f, "{}/{}", self.app, self.id)
        }
    }
}
