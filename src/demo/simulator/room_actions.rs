//! What happens inside a live room: members, seats, room info, admins, owner, metadata,
//! gifts and chat. Each action changes the simulator's truth first, then sends the callback
//! that reports it.

use serde_json::{Value, json};

use super::{
    BattlePhase, CHAT, GIFTS, METADATA, RENAME_SUFFIXES, SEAT_MODES, SimRoom, SimSeat, Simulator,
    Via,
};

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
        let Some(who) = self.pick_in_room(id, SimRoom::audience) else {
            return false;
        };
        self.edit_room(id, |room| {
            room.online.remove(&who);
            room.lost.insert(who.clone());
        });
        self.member_state(id, false, "HeartbeatInterrupt", &[who]);
        true
    }

    pub(super) fn heartbeat_recovered(&mut self, id: &str) -> bool {
        let Some(who) = self.pick_in_room(id, |room| room.lost.iter().cloned().collect()) else {
            return false;
        };
        self.edit_room(id, |room| {
            room.lost.remove(&who);
            room.online.insert(who.clone());
        });
        self.member_state(id, true, "HeartbeatRecover", &[who]);
        true
    }

    // ---- seats ----

    pub(super) fn seat_take(&mut self, id: &str) -> bool {
        let Some(room) = self.room(id) else {
            return false;
        };
        let audience = room.audience();
        let free = room.seats_where(|_, s| s.member.is_none() && !s.locked);
        if audience.is_empty() || free.is_empty() {
            return false;
        }
        let who = self.rng.pick(&audience).clone();
        let seat = *self.rng.pick(&free);
        self.edit_room(id, |room| room.seats[seat].member = Some(who.clone()));
        self.seat_changed(id, &who);
        true
    }

    pub(super) fn seat_leave(&mut self, id: &str) -> bool {
        let held_by_guest = |room: &SimRoom| {
            room.seats_where(|_, s| s.member.as_ref().is_some_and(|m| *m != room.owner))
        };
        let Some(seat) = self.pick_in_room(id, held_by_guest) else {
            return false;
        };
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
        // The owner's seat (0) stays open; an empty seat locks or unlocks.
        self.seat_toggle(
            id,
            |i, s| i > 0 && s.member.is_none(),
            |s| s.locked = !s.locked,
        )
    }

    pub(super) fn seat_mute(&mut self, id: &str) -> bool {
        self.seat_toggle(
            id,
            |_, s| s.member.is_some(),
            |s| s.audio_disabled = !s.audio_disabled,
        )
    }

    /// Whoever manages the room flips a switch on one of the seats `eligible` accepts.
    fn seat_toggle(
        &mut self,
        id: &str,
        eligible: impl Fn(usize, &SimSeat) -> bool,
        toggle: impl FnOnce(&mut SimSeat),
    ) -> bool {
        let Some(seat) = self.pick_in_room(id, |room| room.seats_where(eligible)) else {
            return false;
        };
        let Some(manager) = self.manager(id) else {
            return false;
        };
        self.edit_room(id, |room| toggle(&mut room.seats[seat]));
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
            2 => self.edit_room(id, |room| room.seat_mode = mode),
            3 => self.edit_room(id, |room| room.public = !room.public),
            4 => self.edit_room(id, |room| {
                let n = room.cover_url.len() % 7 + 2;
                room.cover_url = format!("https://cdn.example.com/covers/{id}-{n}.jpg");
                room.activity_status = (room.activity_status + 1) % 3;
            }),
            _ => self.edit_room(id, |room| room.category = vec![category]),
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
        self.edit_room(id, |room| room.admins.extend(chosen.iter().cloned()));
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
        let Some(who) = self.pick_in_room(id, |room| room.admins.iter().cloned().collect()) else {
            return false;
        };
        let owner = self.owner_of(id);
        self.edit_room(id, |room| {
            room.admins.remove(&who);
        });
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
        // An online admin takes over if there is one, else someone from the audience.
        let successors = |room: &SimRoom| {
            let admins = room.online_admins();
            if admins.is_empty() {
                room.audience()
            } else {
                admins
            }
        };
        let original = self.owner_of(id);
        let Some(current) = self.pick_in_room(id, successors) else {
            return false;
        };
        self.edit_room(id, |room| room.owner.clone_from(&current));
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
        self.edit_room(id, |room| {
            for (key, value) in &pairs {
                room.metadata.insert(key.clone(), value.clone());
            }
        });
        let list: Vec<Value> = pairs
            .iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect();
        let body = json!({ "Operator_Account": manager, "RoomId": id, "Metadata": list });
        self.send("Live.CallbackAfterSetMetadata", Some(id), Via::Client, body);
        true
    }

    pub(super) fn metadata_delete(&mut self, id: &str) -> bool {
        let Some(key) = self.pick_in_room(id, |room| room.metadata.keys().cloned().collect())
        else {
            return false;
        };
        let Some(manager) = self.manager(id) else {
            return false;
        };
        self.edit_room(id, |room| {
            room.metadata.remove(&key);
        });
        let body = json!({ "Operator_Account": manager, "RoomId": id, "Keys": [key] });
        self.send("Live.CallbackAfterDelMetadata", Some(id), Via::Client, body);
        true
    }

    // ---- gifts and chat ----

    pub(super) fn gift(&mut self, id: &str) -> bool {
        // Anyone online but the owner, seated or not, may send a gift.
        let senders = |room: &SimRoom| {
            room.online
                .iter()
                .filter(|m| **m != room.owner)
                .cloned()
                .collect()
        };
        let Some(from) = self.pick_in_room(id, senders) else {
            return false;
        };
        let owner = self.owner_of(id);
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
        self.edit_room(id, |room| {
            room.gifts += 1;
            room.coins += coins * count;
            room.senders.insert(from.clone());
        });
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
