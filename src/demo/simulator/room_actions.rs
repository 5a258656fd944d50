//! What happens inside a live room: members, seats, room info, admins, owner, metadata,
//! gifts and chat. Each action changes the simulator's truth first, then sends the callback
//! that reports it.

use serde_json::{Value, json};

use super::{BattlePhase, CHAT, GIFTS, METADATA, RENAME_SUFFIXES, SEAT_MODES, Simulator, Via};

impl Simulator {
    // ---- members ----

    pub(super) fn members_enter(&mut self, id: &str) -> bool {
        let count = 1 + self.rng.index(4);
        let mut entering = Vec::new();
        for _ in 0..count {
            let returning = self
                .room(id)
                .filter(|r| !r.gone.is_empty())
                .map(|r| r.gone.len());
            let who = match returning {
                Some(len) if self.rng.chance(30) => {
                    let index = self.rng.index(len);
                    self.room_mut(id).map(|r| r.gone.swap_remove(index))
                }
                _ => Some(self.new_viewer()),
            };
            if let Some(who) = who.filter(|w| !entering.contains(w)) {
                entering.push(who);
            }
        }
        let Some(room) = self.room_mut(id) else {
            return false;
        };
        for member in &entering {
            room.online.insert(member.clone());
            room.viewers_total += 1;
        }
        self.member_state(id, true, "Enter", &entering);
        true
    }

    pub(super) fn members_leave(&mut self, id: &str) -> bool {
        let Some(room) = self.room(id) else {
            return false;
        };
        let mut audience = room.audience();
        if audience.is_empty() {
            return false;
        }
        let count = 1 + self.rng.index(3.min(audience.len()));
        let mut leaving = Vec::new();
        for _ in 0..count {
            let index = self.rng.index(audience.len());
            leaving.push(audience.swap_remove(index));
        }
        leaving.sort();
        let Some(room) = self.room_mut(id) else {
            return false;
        };
        for member in &leaving {
            room.online.remove(member);
            room.gone.push(member.clone());
        }
        self.member_state(id, false, "Leave", &leaving);
        true
    }

    pub(super) fn heartbeat_lost(&mut self, id: &str) -> bool {
        let Some(room) = self.room(id) else {
            return false;
        };
        let audience = room.audience();
        if audience.is_empty() {
            return false;
        }
        let who = self.rng.pick(&audience).clone();
        if let Some(room) = self.room_mut(id) {
            room.online.remove(&who);
            room.lost.insert(who.clone());
        }
        self.member_state(id, false, "HeartbeatInterrupt", &[who]);
        true
    }

    pub(super) fn heartbeat_recovered(&mut self, id: &str) -> bool {
        let Some(room) = self.room(id) else {
            return false;
        };
        let lost: Vec<String> = room.lost.iter().cloned().collect();
        if lost.is_empty() {
            return false;
        }
        let who = self.rng.pick(&lost).clone();
        if let Some(room) = self.room_mut(id) {
            room.lost.remove(&who);
            room.online.insert(who.clone());
        }
        self.member_state(id, true, "HeartbeatRecover", &[who]);
        true
    }

    // ---- seats ----

    pub(super) fn seat_take(&mut self, id: &str) -> bool {
        let Some(room) = self.room(id) else {
            return false;
        };
        let audience = room.audience();
        let free: Vec<usize> = room
            .seats
            .iter()
            .enumerate()
            .filter(|(_, s)| s.member.is_none() && !s.locked)
            .map(|(i, _)| i)
            .collect();
        if audience.is_empty() || free.is_empty() {
            return false;
        }
        let who = self.rng.pick(&audience).clone();
        let seat = *self.rng.pick(&free);
        if let Some(room) = self.room_mut(id) {
            room.seats[seat].member = Some(who.clone());
        }
        self.seat_changed(id, &who);
        true
    }

    pub(super) fn seat_leave(&mut self, id: &str) -> bool {
        let Some(room) = self.room(id) else {
            return false;
        };
        let taken: Vec<usize> = room
            .seats
            .iter()
            .enumerate()
            .filter(|(_, s)| s.member.as_ref().is_some_and(|m| *m != room.owner))
            .map(|(i, _)| i)
            .collect();
        if taken.is_empty() {
            return false;
        }
        let seat = *self.rng.pick(&taken);
        // Now and then the seat is taken from them (kicked) by whoever manages the room.
        let kicked = self.rng.chance(25);
        let manager = self.manager(id);
        let Some(room) = self.room_mut(id) else {
            return false;
        };
        let who = room.seats[seat].member.take().unwrap_or_default();
        let operator = if kicked { manager.unwrap_or(who) } else { who };
        self.seat_changed(id, &operator);
        true
    }

    pub(super) fn seat_lock(&mut self, id: &str) -> bool {
        let Some(room) = self.room(id) else {
            return false;
        };
        let empty: Vec<usize> = room
            .seats
            .iter()
            .enumerate()
            .filter(|(i, s)| *i > 0 && s.member.is_none())
            .map(|(i, _)| i)
            .collect();
        if empty.is_empty() {
            return false;
        }
        let seat = *self.rng.pick(&empty);
        let Some(manager) = self.manager(id) else {
            return false;
        };
        if let Some(room) = self.room_mut(id) {
            room.seats[seat].locked = !room.seats[seat].locked;
        }
        self.seat_changed(id, &manager);
        true
    }

    pub(super) fn seat_mute(&mut self, id: &str) -> bool {
        let Some(room) = self.room(id) else {
            return false;
        };
        let taken: Vec<usize> = room
            .seats
            .iter()
            .enumerate()
            .filter(|(_, s)| s.member.is_some())
            .map(|(i, _)| i)
            .collect();
        if taken.is_empty() {
            return false;
        }
        let seat = *self.rng.pick(&taken);
        let Some(manager) = self.manager(id) else {
            return false;
        };
        if let Some(room) = self.room_mut(id) {
            room.seats[seat].audio_disabled = !room.seats[seat].audio_disabled;
        }
        self.seat_changed(id, &manager);
        true
    }

    // ---- room info, admins, owner, metadata ----

    pub(super) fn rename(&mut self, id: &str) {
        let suffix = *self.rng.pick(RENAME_SUFFIXES);
        let alternative = *self.rng.pick(RENAME_SUFFIXES);
        if let Some(room) = self.room_mut(id) {
            let mut name = format!("{}{suffix}", room.base_name);
            if name == room.name {
                name = if alternative == suffix {
                    room.base_name.clone()
                } else {
                    format!("{}{alternative}", room.base_name)
                };
            }
            room.name = name;
        }
    }

    pub(super) fn update_info(&mut self, id: &str) -> bool {
        let Some(manager) = self.manager(id) else {
            return false;
        };
        let what = self.rng.below(6);
        let mode = *self.rng.pick(SEAT_MODES);
        let category = self.rng.range(1, 12);
        match what {
            0 | 1 => self.rename(id),
            2 => {
                if let Some(room) = self.room_mut(id) {
                    room.seat_mode = mode;
                }
            }
            3 => {
                if let Some(room) = self.room_mut(id) {
                    room.public = !room.public;
                }
            }
            4 => {
                if let Some(room) = self.room_mut(id) {
                    let n = room.cover_url.len() % 7 + 2;
                    room.cover_url = format!("https://cdn.example.com/covers/{id}-{n}.jpg");
                    room.activity_status = (room.activity_status + 1) % 3;
                }
            }
            _ => {
                if let Some(room) = self.room_mut(id) {
                    room.category = vec![category];
                }
            }
        }
        let Some(delivery) = self.info_updated(id, &manager) else {
            return false;
        };
        self.push(delivery);
        true
    }

    pub(super) fn admin_add(&mut self, id: &str) -> bool {
        let Some(room) = self.room(id) else {
            return false;
        };
        let candidates: Vec<String> = room
            .online
            .iter()
            .filter(|m| **m != room.owner && !room.admins.contains(*m))
            .cloned()
            .collect();
        if candidates.is_empty() {
            return false;
        }
        let owner = room.owner.clone();
        let mut chosen = vec![self.rng.pick(&candidates).clone()];
        if candidates.len() > 1 && self.rng.chance(30) {
            let other = self.rng.pick(&candidates).clone();
            if other != chosen[0] {
                chosen.push(other);
            }
        }
        if let Some(room) = self.room_mut(id) {
            room.admins.extend(chosen.iter().cloned());
        }
        let body = json!({
            "RoomId": id,
            "Operator_Account": owner,
            "Admin_Account": chosen,
            "opType": "add",
        });
        self.send("Live.CallbackAfterModifyAdmin", Some(id), Via::Client, body);
        true
    }

    pub(super) fn admin_remove(&mut self, id: &str) -> bool {
        let Some(room) = self.room(id) else {
            return false;
        };
        let admins: Vec<String> = room.admins.iter().cloned().collect();
        if admins.is_empty() {
            return false;
        }
        let owner = room.owner.clone();
        let who = self.rng.pick(&admins).clone();
        if let Some(room) = self.room_mut(id) {
            room.admins.remove(&who);
        }
        let body = json!({
            "RoomId": id,
            "Operator_Account": owner,
            "Admin_Account": [who],
            "opType": "delete",
        });
        self.send("Live.CallbackAfterModifyAdmin", Some(id), Via::Client, body);
        true
    }

    pub(super) fn change_owner(&mut self, id: &str) -> bool {
        let Some(room) = self.room(id) else {
            return false;
        };
        let admins: Vec<String> = room
            .admins
            .iter()
            .filter(|a| room.online.contains(*a))
            .cloned()
            .collect();
        let candidates = if admins.is_empty() {
            room.audience()
        } else {
            admins
        };
        if candidates.is_empty() {
            return false;
        }
        let original = room.owner.clone();
        let current = self.rng.pick(&candidates).clone();
        if let Some(room) = self.room_mut(id) {
            room.owner.clone_from(&current);
        }
        let body = json!({
            "RoomId": id,
            "Operator_Account": original,
            "CurrentOwner_Account": current,
            "OriginalOwner_Account": original,
        });
        self.send("Live.CallbackAfterChangeOwner", Some(id), Via::Client, body);
        true
    }

    pub(super) fn metadata_set(&mut self, id: &str) -> bool {
        let Some(manager) = self.manager(id) else {
            return false;
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        for _ in 0..=self.rng.index(2) {
            let (key, values) = *self.rng.pick(METADATA);
            let value = *self.rng.pick(values);
            if !pairs.iter().any(|(k, _)| k == key) {
                pairs.push((key.to_string(), value.to_string()));
            }
        }
        if let Some(room) = self.room_mut(id) {
            for (key, value) in &pairs {
                room.metadata.insert(key.clone(), value.clone());
            }
        }
        let list: Vec<Value> = pairs
            .iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect();
        let body = json!({ "Operator_Account": manager, "RoomId": id, "Metadata": list });
        self.send("Live.CallbackAfterSetMetadata", Some(id), Via::Client, body);
        true
    }

    pub(super) fn metadata_delete(&mut self, id: &str) -> bool {
        let Some(room) = self.room(id) else {
            return false;
        };
        let keys: Vec<String> = room.metadata.keys().cloned().collect();
        if keys.is_empty() {
            return false;
        }
        let key = self.rng.pick(&keys).clone();
        let Some(manager) = self.manager(id) else {
            return false;
        };
        if let Some(room) = self.room_mut(id) {
            room.metadata.remove(&key);
        }
        let body = json!({ "Operator_Account": manager, "RoomId": id, "Keys": [key] });
        self.send("Live.CallbackAfterDelMetadata", Some(id), Via::Client, body);
        true
    }

    // ---- gifts and chat ----

    pub(super) fn gift(&mut self, id: &str) -> bool {
        let Some(room) = self.room(id) else {
            return false;
        };
        let audience: Vec<String> = room
            .online
            .iter()
            .filter(|m| **m != room.owner)
            .cloned()
            .collect();
        if audience.is_empty() {
            return false;
        }
        let owner = room.owner.clone();
        let from = self.rng.pick(&audience).clone();
        let (gift, coins) = *self.rng.pick(GIFTS);
        let mut count = *self.rng.pick(&[1i64, 1, 1, 2, 5, 10]);
        // Gifts carry only a time in seconds; keep each one distinct so that two real gifts
        // are never mistaken for one delivered twice.
        let second = (self.clock_ms + 1) / 1000;
        if second != self.gift_second {
            self.gift_second = second;
            self.gift_keys.clear();
        }
        while !self.gift_keys.insert(format!("{id}/{from}/{gift}/{count}")) {
            count += 1;
        }
        if let Some(room) = self.room_mut(id) {
            room.gifts += 1;
            room.coins += coins * count;
            room.senders.insert(from.clone());
        }
        if let Some(battle) = self
            .battle
            .as_mut()
            .filter(|b| b.phase == BattlePhase::Started)
        {
            if battle.from == id {
                battle.scores.0 += coins * count;
            } else if battle.to == id {
                battle.scores.1 += coins * count;
            }
        }
        let body = json!({
            "Operator_Account": from,
            "RoomId": id,
            "GiftWater": {
                "From_Account": from,
                "To_Account": [owner],
                "Time": second,
                "GiftId": gift,
                "Count": count,
                "Coins": coins,
            },
        });
        self.send("Live.CallbackBeforeSendGift", Some(id), Via::Client, body);
        true
    }

    pub(super) fn chat_body(&mut self, id: &str) -> Option<(Value, Value)> {
        let room = self.room(id)?;
        let speakers: Vec<String> = room.online.iter().cloned().collect();
        if speakers.is_empty() {
            return None;
        }
        let from = self.rng.pick(&speakers).clone();
        let text = *self.rng.pick(CHAT);
        let random = self.rng.below(u64::from(u32::MAX));
        self.msg_seq += 1;
        let msg_id = format!("{}-{}-{}", 144_115, self.clock_ms / 1000, self.msg_seq);
        let before = json!({
            "GroupId": id,
            "Type": "Live",
            "From_Account": from,
            "Operator_Account": from,
            "Random": random,
            "MsgId": msg_id,
            "MsgBody": [{ "MsgType": "TIMTextElem", "MsgContent": { "Text": text } }],
            "CloudCustomData": "",
        });
        let mut after = before.clone();
        after["MsgSeq"] = json!(self.msg_seq);
        after["MsgTime"] = json!((self.clock_ms + 1) / 1000);
        Some((before, after))
    }

    pub(super) fn chat(&mut self, id: &str) -> bool {
        let Some((before, after)) = self.chat_body(id) else {
            return false;
        };
        self.send("Group.CallbackBeforeSendMsg", Some(id), Via::Client, before);
        self.send("Group.CallbackAfterSendMsg", Some(id), Via::Client, after);
        true
    }
}
