//! PK battles between two live rooms: created, started (or never), ended with scores.

use serde_json::json;

use super::{BATTLE_ID_ALPHABET, BattlePhase, SimBattle, Simulator, Via};

impl Simulator {
    // ---- battles ----

    pub(super) fn create_battle(&mut self) {
        let candidates: Vec<String> = self
            .live
            .iter()
            .filter(|id| self.room(id).is_some_and(|r| !r.in_battle))
            .cloned()
            .collect();
        if candidates.len() < 2 {
            return;
        }
        let from = self.rng.pick(&candidates).clone();
        let mut to = self.rng.pick(&candidates).clone();
        if to == from {
            to = candidates
                .iter()
                .find(|c| **c != from)
                .cloned()
                .unwrap_or_default();
        }
        let Some(owner) = self.room(&from).map(|r| r.owner.clone()) else {
            return;
        };
        self.battles += 1;
        let mut tag = String::new();
        for _ in 0..7 {
            tag.push(char::from(*self.rng.pick(BATTLE_ID_ALPHABET)));
        }
        let id = format!("b-{tag}=");
        let duration_ms = *self.rng.pick(&[120_000i64, 180_000, 300_000]);
        for room in [&from, &to] {
            if let Some(room) = self.room_mut(room) {
                room.in_battle = true;
            }
        }
        let body = json!({
            "Operator_Account": owner,
            "BattleId": id,
            "FromRoomId": from,
            "ToRoomIdList": [to],
            "Timeout": 15_000,
            "Duration": duration_ms,
            "NeedResponse": true,
            "ExtensionInfo": format!("round={}", self.battles),
        });
        self.battle = Some(SimBattle {
            id,
            from: from.clone(),
            to,
            phase: BattlePhase::Created,
            create_time_s: (self.clock_ms + 1) / 1000,
            start_time_s: 0,
            duration_ms,
            scores: (0, 0),
        });
        self.send(
            "Live.CallbackAfterCreateBattle",
            Some(&from),
            Via::Client,
            body,
        );
    }

    pub(super) fn advance_battle(&mut self) {
        let Some(mut battle) = self.battle.take() else {
            return;
        };
        let owner_of = |sim: &Self, room: &str| {
            sim.rooms
                .get(room)
                .map(|r| r.owner.clone())
                .unwrap_or_default()
        };
        let from_owner = owner_of(self, &battle.from);
        let to_owner = owner_of(self, &battle.to);
        let never_started = battle.phase == BattlePhase::Created && self.rng.chance(15);
        if battle.phase == BattlePhase::Created && !never_started {
            battle.phase = BattlePhase::Started;
            battle.start_time_s = (self.clock_ms + 1) / 1000;
            let body = json!({
                "BattleId": battle.id,
                "Duration": battle.duration_ms,
                "CreateTime": battle.create_time_s,
                "StartTime": battle.start_time_s,
                "FromRoomInfo": { "RoomId": battle.from, "Owner_Account": from_owner },
                "ToRoomList": [{ "RoomId": battle.to, "Owner_Account": to_owner }],
            });
            let from = battle.from.clone();
            self.battle = Some(battle);
            self.send(
                "Live.CallbackAfterStartBattle",
                Some(&from),
                Via::Rest,
                body,
            );
            return;
        }
        let (from_score, to_score, start, reason) = if never_started {
            (0, 0, 0, 2)
        } else {
            (
                battle.scores.0 + self.rng.range(200, 4000),
                battle.scores.1 + self.rng.range(200, 4000),
                battle.start_time_s,
                0,
            )
        };
        for room in [&battle.from, &battle.to] {
            if let Some(room) = self.rooms.get_mut(room) {
                room.in_battle = false;
            }
        }
        let body = json!({
            "BattleId": battle.id,
            "Duration": battle.duration_ms,
            "CreateTime": battle.create_time_s,
            "StartTime": start,
            "EndTime": (self.clock_ms + 1) / 1000,
            "OpType": reason,
            "FromRoomInfo": { "RoomId": battle.from, "Score": from_score, "Owner_Account": from_owner },
            "ToRoomList": [{ "RoomId": battle.to, "Score": to_score, "Owner_Account": to_owner }],
        });
        self.send(
            "Live.CallbackAfterEndBattle",
            Some(&battle.from),
            Via::Rest,
            body,
        );
    }
}
