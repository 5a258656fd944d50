//! The demo's storyteller: a seeded simulation of a handful of live rooms that turns what
//! happens in them into the callbacks Tencent would send, in event-time order, with a few
//! delivery accidents (late, duplicate, malformed) mixed in.
//!
//! The simulator's own state is the truth the receiver should converge to: every change is
//! made to it in event-time order, and [`Simulator::model`] exposes it per room.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use serde_json::{Value, json};

use super::model::{RoomView, SeatView};
use super::rng::SplitMix64;

mod battles;
mod room_actions;

/// The operator Tencent names when the system itself dissolves a room.
pub const SYSTEM_OPERATOR: &str = "@TIM#SYSTEM";

/// Rooms kept alive at least / at most.
const MIN_LIVE: usize = 3;
const MAX_LIVE: usize = 6;
/// The app's pretend room quota, and the live-room count that sets off the 70% alert.
const ROOM_QUOTA: usize = 7;
const THRESHOLD_AT: usize = 5;
/// Recent deliveries kept as candidates for a duplicate delivery.
const RECENT_KEPT: usize = 16;

const ROOM_NAMES: &[&str] = &[
    "Evening jazz",
    "深夜电台",
    "Lo-fi study hall",
    "周末K歌房",
    "Street food tour: Osaka",
    "Chess blitz arena",
    "Morning yoga flow",
    "Indie dev log",
    "Vinyl Sunday",
    "Синтвейв ночь",
    "Trivia night",
    "ラーメン探訪",
    "Retro speedruns",
    "Open mic",
    "Garden talk",
    "Late-night coding",
];
const RENAME_SUFFIXES: &[&str] = &[
    " (encore)",
    " · live",
    " — Q&A",
    " 🎶",
    " part 2",
    " · 第二场",
    " unplugged",
];
const HOSTS: &[&str] = &[
    "lin", "mei", "kai", "ana", "raj", "sora", "noah", "lea", "yuki", "omar", "ivy", "zoe", "chen",
    "mila",
];
const VIEWERS: &[&str] = &[
    "mia", "leo", "wei", "aiko", "sam", "nina", "tomas", "priya", "jin", "olga", "ravi", "emma",
    "felix", "hana", "diego", "lucas", "sofia", "yusuf", "kenji", "maya",
];
const CHAT: &[&str] = &[
    "hello from Lisbon 👋",
    "great set!",
    "晚上好！",
    "can you play it again?",
    "🔥🔥🔥",
    "first time here",
    "音质很好",
    "gg",
    "what's the song?",
    "love this room",
    "おやすみ〜",
    "same time tomorrow?",
];
/// Gift id and coins per gift.
const GIFTS: &[(&str, i64)] = &[
    ("heart", 1),
    ("rose", 10),
    ("coffee", 30),
    ("cake", 99),
    ("rocket", 500),
    ("castle", 1888),
];
const METADATA: &[(&str, &[&str])] = &[
    (
        "pinned_msg",
        &["Welcome!", "Be kind 🙏", "Q&A at the top of the hour"],
    ),
    ("theme", &["dark", "neon", "sunset"]),
    ("topic", &["requests open", "chill", "tournament final"]),
    (
        "poll",
        &[
            "{\"q\":\"next song?\",\"a\":[\"A\",\"B\"]}",
            "{\"q\":\"encore?\"}",
        ],
    ),
];
const BATTLE_ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const SEAT_MODES: &[&str] = &["FreeToTake", "ApplyToTake", "None"];
const CLIENT_PLATFORMS: &[&str] = &["Android", "iOS", "Web", "Mac", "Windows"];

/// How a delivery relates to the story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    /// Sent when it happened.
    Normal,
    /// An older update sent after a newer one that touches the same fields.
    Late,
    /// An exact copy of an earlier delivery.
    Duplicate,
    /// A body that is not valid JSON.
    Malformed,
}

/// One HTTP request the demo will make.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub command: &'static str,
    pub body: String,
    pub kind: DeliveryKind,
    pub room_id: Option<String>,
    /// The `ClientIP` query parameter.
    pub client_ip: String,
    /// The `OptPlatform` query parameter.
    pub platform: &'static str,
}

/// Deliveries handed out so far, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub total: u64,
    pub normal: u64,
    pub late: u64,
    pub duplicate: u64,
    pub malformed: u64,
}

/// Where a request came from, for the query string.
#[derive(Clone, Copy)]
enum Via {
    /// A user's app.
    Client,
    /// The REST API or the system.
    Rest,
}

#[derive(Debug, Clone)]
struct SimSeat {
    member: Option<String>,
    locked: bool,
    audio_disabled: bool,
}

#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // independent facts, not a state machine
struct SimRoom {
    id: String,
    base_name: String,
    name: String,
    owner: String,
    seat_mode: &'static str,
    public: bool,
    cover_url: String,
    category: Vec<i64>,
    max_members: i64,
    custom_info: String,
    activity_status: i64,
    create_time_s: i64,
    admins: BTreeSet<String>,
    online: BTreeSet<String>,
    /// Offline after a lost heartbeat; may recover.
    lost: BTreeSet<String>,
    /// Left; may come back.
    gone: Vec<String>,
    seats: Vec<SimSeat>,
    /// Whether a seat callback was sent yet (before it, the receiver knows no seats).
    seats_reported: bool,
    metadata: BTreeMap<String, String>,
    ended: bool,
    in_battle: bool,
    steps: u32,
    lifetime: u32,
    viewers_total: i64,
    gifts: i64,
    coins: i64,
    senders: BTreeSet<String>,
}

impl SimRoom {
    fn seated(&self, account: &str) -> bool {
        self.seats
            .iter()
            .any(|s| s.member.as_deref() == Some(account))
    }

    /// Online members other than the owner who are not on a seat.
    fn audience(&self) -> Vec<String> {
        self.online
            .iter()
            .filter(|m| **m != self.owner && !self.seated(m))
            .cloned()
            .collect()
    }

    /// Admins who are online now: the ones who can act for the owner.
    fn online_admins(&self) -> Vec<String> {
        self.admins
            .iter()
            .filter(|a| self.online.contains(*a))
            .cloned()
            .collect()
    }

    /// Indices of the seats that `keep` accepts.
    fn seats_where(&self, keep: impl Fn(usize, &SimSeat) -> bool) -> Vec<usize> {
        self.seats
            .iter()
            .enumerate()
            .filter(|(i, s)| keep(*i, s))
            .map(|(i, _)| i)
            .collect()
    }

    fn view(&self) -> RoomView {
        RoomView {
            name: Some(self.name.clone()),
            seat_mode: Some(self.seat_mode.to_string()),
            public: Some(self.public),
            cover_url: Some(self.cover_url.clone()),
            category: Some(self.category.clone()),
            owner: Some(self.owner.clone()),
            admins: self.admins.iter().cloned().collect(),
            online: self.online.iter().cloned().collect(),
            seats: self
                .seats
                .iter()
                .take(if self.seats_reported { usize::MAX } else { 0 })
                .enumerate()
                .map(|(i, s)| {
                    (
                        i as i64,
                        SeatView {
                            member: s.member.clone(),
                            locked: Some(s.locked),
                            audio_disabled: Some(s.audio_disabled),
                        },
                    )
                })
                .collect(),
            metadata: self.metadata.clone(),
            ended: self.ended,
        }
    }

    fn seat_list(&self) -> Value {
        Value::Array(
            self.seats
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let mut seat = json!({
                        "Index": i,
                        "IsTakenDisabled": s.locked,
                        "IsVideoDisabled": false,
                        "IsAudioDisabled": s.audio_disabled,
                    });
                    if let Some(member) = &s.member {
                        seat["Member_Account"] = json!(member);
                    }
                    seat
                })
                .collect(),
        )
    }

    /// `RoomInfo` as `Live.CallbackAfterCreateRoom` carries it.
    fn info_on_create(&self) -> Value {
        json!({
            "RoomId": self.id,
            "RoomName": self.name,
            "RoomType": "Live",
            "Owner_Account": self.owner,
            "MaxMemberCount": self.max_members,
            "IsMessageDisabled": false,
            "CustomInfo": self.custom_info,
            "IsSeatEnabled": true,
            "MaxSeatCount": self.seats.len(),
            "TakeSeatMode": self.seat_mode,
            "CreateTime": self.create_time_s,
            "IsPublicVisible": self.public,
            "CoverURL": self.cover_url,
            "Category": self.category,
        })
    }

    /// `RoomInfo` as `Live.CallbackAfterUpdateRoomInfo` carries it.
    fn info_on_update(&self) -> Value {
        json!({
            "RoomId": self.id,
            "RoomName": self.name,
            "MaxMemberCount": self.max_members,
            "IsMessageDisabled": false,
            "CustomInfo": self.custom_info,
            "TakeSeatMode": self.seat_mode,
            "IsPublicVisible": self.public,
            "CoverURL": self.cover_url,
            "Category": self.category,
            "ActivityStatus": self.activity_status,
        })
    }

    /// `RoomInfo` as `Live.CallbackAfterDestroyRoom` carries it.
    fn info_on_destroy(&self) -> Value {
        json!({
            "RoomId": self.id,
            "RoomName": self.name,
            "RoomType": "Live",
            "Owner_Account": self.owner,
            "IsSeatEnabled": true,
            "TakeSeatMode": self.seat_mode,
            "MaxMemberCount": self.max_members,
            "MaxSeatCount": self.seats.len(),
            "Category": self.category,
            "CustomInfo": self.custom_info,
            "IsMessageDisabled": false,
            "CoverURL": self.cover_url,
            "ActivityStatus": self.activity_status,
            "IsPublicVisible": self.public,
            "ViewCount": self.viewers_total,
            "BackgroundURL": "",
            "IsUnlimitedRoomEnabled": false,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BattlePhase {
    Created,
    Started,
}

#[derive(Debug, Clone)]
struct SimBattle {
    id: String,
    from: String,
    to: String,
    phase: BattlePhase,
    create_time_s: i64,
    start_time_s: i64,
    duration_ms: i64,
    /// Coins received during the battle: (from room, to room).
    scores: (i64, i64),
}

/// Where the story starts.
#[derive(Debug, Clone, Copy)]
pub struct SimConfig {
    pub seed: u64,
    /// The first `EventTime`, Unix ms (usually now).
    pub start_ms: i64,
    /// Average event-clock step between callbacks, ms (1000 / rate keeps it near real time).
    pub mean_step_ms: i64,
}

/// The simulation. Call [`next_delivery`](Self::next_delivery) for ever.
#[derive(Debug)]
pub struct Simulator {
    rng: SplitMix64,
    clock_ms: i64,
    mean_step_ms: i64,
    rooms: BTreeMap<String, SimRoom>,
    /// Live room ids, oldest first.
    live: Vec<String>,
    next_room: u64,
    next_user: u64,
    name_cursor: usize,
    /// Generated, not yet handed out; each with the view of its room right after it.
    queue: VecDeque<(Delivery, Option<(String, RoomView)>)>,
    /// The truth as far as the deliveries handed out so far tell it.
    delivered: BTreeMap<String, RoomView>,
    generated: u64,
    counts: DeliveryCounts,
    battle: Option<SimBattle>,
    battles: u64,
    threshold_armed: bool,
    next_late: u64,
    next_duplicate: u64,
    malformed_at: Option<u64>,
    recent: VecDeque<Delivery>,
    gift_second: i64,
    gift_keys: HashSet<String>,
    msg_seq: i64,
}

impl Simulator {
    pub fn new(config: SimConfig) -> Self {
        let mut rng = SplitMix64::new(config.seed);
        let next_room = 1000 + rng.below(8000);
        let name_cursor = rng.index(ROOM_NAMES.len());
        let next_late = 18 + rng.below(10);
        let next_duplicate = 30 + rng.below(10);
        let malformed_at = Some(42 + rng.below(12));
        Self {
            rng,
            clock_ms: config.start_ms,
            mean_step_ms: config.mean_step_ms.max(1),
            rooms: BTreeMap::new(),
            live: Vec::new(),
            next_room,
            next_user: 1,
            name_cursor,
            queue: VecDeque::new(),
            delivered: BTreeMap::new(),
            generated: 0,
            counts: DeliveryCounts::default(),
            battle: None,
            battles: 0,
            threshold_armed: true,
            next_late,
            next_duplicate,
            malformed_at,
            recent: VecDeque::new(),
            gift_second: 0,
            gift_keys: HashSet::new(),
            msg_seq: 100,
        }
    }

    /// The next request to make, in the order it must be sent.
    pub fn next_delivery(&mut self) -> Delivery {
        loop {
            if let Some((delivery, view)) = self.queue.pop_front() {
                if let Some((id, view)) = view {
                    self.delivered.insert(id, view);
                }
                self.counts.total += 1;
                match delivery.kind {
                    DeliveryKind::Normal => self.counts.normal += 1,
                    DeliveryKind::Late => self.counts.late += 1,
                    DeliveryKind::Duplicate => self.counts.duplicate += 1,
                    DeliveryKind::Malformed => self.counts.malformed += 1,
                }
                return delivery;
            }
            self.step();
        }
    }

    /// The number in the id of the next room it creates (`live_<n>`).
    pub fn next_room_number(&self) -> u64 {
        self.next_room
    }

    /// The same simulation with its rooms numbered from `number` on: two simulations started
    /// alike share RoomIds, as two apps may.
    #[must_use]
    pub fn numbering_rooms_from(mut self, number: u64) -> Self {
        self.next_room = number;
        self
    }

    /// Deliveries handed out so far.
    pub fn counts(&self) -> &DeliveryCounts {
        &self.counts
    }

    /// The truth told by the deliveries handed out so far, per room id: what a receiver
    /// that took them all in must show, whatever order they arrived in.
    pub fn model(&self) -> BTreeMap<String, RoomView> {
        self.delivered.clone()
    }

    fn step(&mut self) {
        let n = self.generated;
        if self.malformed_at.is_some_and(|at| n >= at) && self.malformed() {
            self.malformed_at = None;
            return;
        }
        if n >= self.next_late && self.late_rename() {
            self.next_late = n + 70 + self.rng.below(60);
            return;
        }
        if n >= self.next_duplicate && self.duplicate() {
            self.next_duplicate = n + 70 + self.rng.below(60);
            return;
        }
        if self.live.len() < MIN_LIVE || (self.live.len() < MAX_LIVE && self.rng.chance(3)) {
            self.create_room();
            return;
        }
        if self.battle.is_some() {
            if self.rng.chance(5) {
                self.advance_battle();
                return;
            }
        } else if self.live.len() >= 2 && self.rng.chance(2) {
            self.create_battle();
            return;
        }
        let id = self.live[self.rng.index(self.live.len())].clone();
        let Some(room) = self.rooms.get_mut(&id) else {
            return;
        };
        room.steps += 1;
        if room.steps >= room.lifetime && !room.in_battle {
            self.end_room(&id);
        } else {
            self.room_action(&id);
        }
    }

    // ---- plumbing ----

    fn tick(&mut self) -> i64 {
        let lo = (self.mean_step_ms / 2).max(1);
        let hi = (self.mean_step_ms * 3 / 2).max(lo);
        self.clock_ms += self.rng.range(lo, hi);
        self.clock_ms
    }

    fn client_ip(&mut self, via: Via) -> String {
        match via {
            Via::Client => {
                let net = *self.rng.pick(&["203.0.113", "198.51.100", "192.0.2"]);
                format!("{net}.{}", self.rng.range(2, 254))
            }
            Via::Rest => "127.0.0.1".to_string(),
        }
    }

    /// Stamps `body` with its command and a fresh `EventTime` and wraps it for sending.
    fn make(
        &mut self,
        command: &'static str,
        room: Option<&str>,
        via: Via,
        mut body: Value,
    ) -> Delivery {
        let time = self.tick();
        if let Value::Object(map) = &mut body {
            map.insert("CallbackCommand".into(), json!(command));
            // The gift pre-check carries no EventTime: only GiftWater.Time, in seconds.
            if command != "Live.CallbackBeforeSendGift" {
                map.insert("EventTime".into(), json!(time));
            }
        }
        let client_ip = self.client_ip(via);
        let platform = match via {
            Via::Client => *self.rng.pick(CLIENT_PLATFORMS),
            Via::Rest => "RESTAPI",
        };
        Delivery {
            command,
            body: body.to_string(),
            kind: DeliveryKind::Normal,
            room_id: room.map(str::to_string),
            client_ip,
            platform,
        }
    }

    /// Queues a delivery that tells the current state of its room.
    fn push(&mut self, delivery: Delivery) {
        let view = delivery
            .room_id
            .as_ref()
            .and_then(|id| Some((id.clone(), self.rooms.get(id)?.view())));
        self.push_with(delivery, view);
    }

    /// Queues a delivery with the room view it leaves behind (`None`: changes nothing).
    fn push_with(&mut self, delivery: Delivery, view: Option<(String, RoomView)>) {
        self.generated += 1;
        if delivery.kind == DeliveryKind::Normal
            && delivery.room_id.is_some()
            && delivery.command != "Live.CallbackAfterDestroyRoom"
        {
            if self.recent.len() == RECENT_KEPT {
                self.recent.pop_front();
            }
            self.recent.push_back(delivery.clone());
        }
        self.queue.push_back((delivery, view));
    }

    fn send(&mut self, command: &'static str, room: Option<&str>, via: Via, body: Value) {
        let delivery = self.make(command, room, via, body);
        self.push(delivery);
    }

    fn new_viewer(&mut self) -> String {
        let name = *self.rng.pick(VIEWERS);
        self.next_user += 1;
        format!("{name}_{}", self.next_user)
    }

    fn room(&self, id: &str) -> Option<&SimRoom> {
        self.rooms.get(id).filter(|r| !r.ended)
    }

    fn room_mut(&mut self, id: &str) -> Option<&mut SimRoom> {
        self.rooms.get_mut(id).filter(|r| !r.ended)
    }

    /// Applies `change` to a live room; nothing when the room has ended.
    fn edit_room(&mut self, id: &str, change: impl FnOnce(&mut SimRoom)) {
        if let Some(room) = self.room_mut(id) {
            change(room);
        }
    }

    /// Picks one of the `candidates` a live room offers for an action. `None` when the room
    /// has ended or offers nobody; then the rng is not drawn, so the story stays the same.
    fn pick_in_room<T: Clone>(
        &mut self,
        id: &str,
        candidates: impl FnOnce(&SimRoom) -> Vec<T>,
    ) -> Option<T> {
        let candidates = candidates(self.room(id)?);
        if candidates.is_empty() {
            return None;
        }
        Some(self.rng.pick(&candidates).clone())
    }

    /// The owner of a live room (empty once it has ended).
    fn owner_of(&self, id: &str) -> String {
        self.room(id).map(|r| r.owner.clone()).unwrap_or_default()
    }

    fn member_state(&mut self, id: &str, online: bool, cause: &str, members: &[String]) {
        if members.is_empty() {
            return;
        }
        let list: Vec<Value> = members
            .iter()
            .map(|m| json!({ "Member_Account": m }))
            .collect();
        let body = json!({
            "RoomId": id,
            "EventType": if online { "Online" } else { "Offline" },
            "EventCause": cause,
            "MemberList": list,
        });
        self.send(
            "Live.CallbackAfterMemberStateChanged",
            Some(id),
            Via::Client,
            body,
        );
    }

    fn seat_changed(&mut self, id: &str, operator: &str) {
        let Some(room) = self.room_mut(id) else {
            return;
        };
        room.seats_reported = true;
        let body = json!({
            "Operator_Account": operator,
            "RoomId": id,
            "SeatList": room.seat_list(),
        });
        self.send(
            "Mic.CallbackAfterSeatInfoChanged",
            Some(id),
            Via::Client,
            body,
        );
    }

    fn info_updated(&mut self, id: &str, operator: &str) -> Option<Delivery> {
        let room = self.room(id)?;
        let body = json!({ "Operator_Account": operator, "RoomInfo": room.info_on_update() });
        Some(self.make(
            "Live.CallbackAfterUpdateRoomInfo",
            Some(id),
            Via::Client,
            body,
        ))
    }

    /// The owner or, now and then, an admin: whoever manages the room.
    fn manager(&mut self, id: &str) -> Option<String> {
        let room = self.room(id)?;
        let admins = room.online_admins();
        let owner = room.owner.clone();
        if !admins.is_empty() && self.rng.chance(30) {
            Some(self.rng.pick(&admins).clone())
        } else {
            Some(owner)
        }
    }

    // ---- room lifecycle ----

    fn create_room(&mut self) {
        let id = format!("live_{}", self.next_room);
        self.next_room += 1;
        let base_name = ROOM_NAMES[self.name_cursor % ROOM_NAMES.len()].to_string();
        self.name_cursor += 1 + self.rng.index(2);
        let mut owner = format!("host_{}", self.rng.pick(HOSTS));
        if self
            .live
            .iter()
            .any(|r| self.rooms.get(r).is_some_and(|room| room.owner == owner))
        {
            owner = format!("{owner}{}", self.rng.range(2, 99));
        }
        let seat_count = *self.rng.pick(&[4usize, 6, 8]);
        let seats = vec![
            SimSeat {
                member: None,
                locked: false,
                audio_disabled: false,
            };
            seat_count
        ];
        let mut category = vec![self.rng.range(1, 12)];
        if self.rng.chance(40) {
            let extra = self.rng.range(1, 12);
            if extra != category[0] {
                category.push(extra);
            }
        }
        let room = SimRoom {
            id: id.clone(),
            name: base_name.clone(),
            base_name,
            owner: owner.clone(),
            seat_mode: SEAT_MODES[self.rng.index(SEAT_MODES.len())],
            public: self.rng.chance(80),
            cover_url: format!("https://cdn.example.com/covers/{id}-1.jpg"),
            category,
            max_members: *self.rng.pick(&[200i64, 500, 1000, 5000]),
            custom_info: format!("{{\"tier\":{}}}", self.rng.range(1, 3)),
            activity_status: 0,
            create_time_s: (self.clock_ms + 1) / 1000,
            admins: BTreeSet::new(),
            online: BTreeSet::new(),
            lost: BTreeSet::new(),
            gone: Vec::new(),
            seats,
            seats_reported: false,
            metadata: BTreeMap::new(),
            ended: false,
            in_battle: false,
            steps: 0,
            lifetime: 25 + self.rng.below(60) as u32,
            viewers_total: 0,
            gifts: 0,
            coins: 0,
            senders: BTreeSet::new(),
        };
        let body = json!({ "Operator_Account": owner, "RoomInfo": room.info_on_create() });
        self.rooms.insert(id.clone(), room);
        self.live.push(id.clone());
        self.send("Live.CallbackAfterCreateRoom", Some(&id), Via::Client, body);
        if self.live.len() >= THRESHOLD_AT && self.threshold_armed {
            self.threshold_armed = false;
            let body = json!({
                "Operator_Account": owner,
                "CurRoomCount": self.live.len(),
                "MaxRoomCount": ROOM_QUOTA,
            });
            self.send(
                "Live.CallbackAfterCreateRoomReachingThreshold",
                None,
                Via::Rest,
                body,
            );
        }
        if let Some(room) = self.room_mut(&id) {
            room.online.insert(owner.clone());
            room.viewers_total += 1;
        }
        self.member_state(&id, true, "Enter", std::slice::from_ref(&owner));
        if let Some(room) = self.room_mut(&id) {
            room.seats[0].member = Some(owner.clone());
        }
        self.seat_changed(&id, &owner);
        // The first viewers arrive right away.
        self.members_enter(&id);
    }

    fn end_room(&mut self, id: &str) {
        let by_system = self.rng.chance(40);
        let Some(room) = self.room(id) else { return };
        let owner = room.owner.clone();
        let leaving: Vec<String> = room
            .online
            .iter()
            .filter(|m| by_system || **m != owner)
            .cloned()
            .collect();
        // Viewers drift out in a couple of bursts.
        let half = leaving.len().div_ceil(2);
        for burst in [&leaving[..half], &leaving[half..]] {
            if let Some(room) = self.room_mut(id) {
                for member in burst {
                    room.online.remove(member);
                }
            }
            self.member_state(id, false, "Leave", burst);
        }
        let Some(room) = self.room(id) else { return };
        let statistic = json!({
            "TotalViewers": room.viewers_total,
            "TotalGiftsSent": room.gifts,
            "TotalGiftCoins": room.coins,
            "TotalUniqueGiftSenders": room.senders.len(),
            "TotalLikesReceived": room.viewers_total * 7 + room.gifts * 3,
        });
        let (operator, cause, via) = if by_system {
            (SYSTEM_OPERATOR.to_string(), "DestroyBySystem", Via::Rest)
        } else {
            (owner, "DestroyByUser", Via::Client)
        };
        let body = json!({
            "Operator_Account": operator,
            "RoomId": id,
            "EventType": cause,
            "RoomInfo": room.info_on_destroy(),
            "Statistic": statistic,
        });
        if let Some(room) = self.room_mut(id) {
            room.ended = true;
        }
        self.live.retain(|r| r != id);
        if self.live.len() < THRESHOLD_AT {
            self.threshold_armed = true;
        }
        self.send("Live.CallbackAfterDestroyRoom", Some(id), via, body);
    }

    fn room_action(&mut self, id: &str) {
        let done = match self.rng.below(100) {
            0..=15 => self.members_enter(id),
            16..=23 => self.members_leave(id),
            24..=27 => self.heartbeat_lost(id),
            28..=32 => self.heartbeat_recovered(id),
            33..=40 => self.seat_take(id),
            41..=45 => self.seat_leave(id),
            46..=48 => self.seat_lock(id),
            49..=52 => self.seat_mute(id),
            53..=58 => self.update_info(id),
            59..=61 => self.admin_add(id),
            62..=63 => self.admin_remove(id),
            64 => self.change_owner(id),
            65..=69 => self.metadata_set(id),
            70..=72 => self.metadata_delete(id),
            73..=84 => self.gift(id),
            _ => self.chat(id),
        };
        if !done {
            // Nothing to do that way (an empty room, no free seat...): someone drops in, or
            // the room chats.
            let small = self.room(id).is_none_or(|r| r.audience().len() < 3);
            if small || !self.chat(id) {
                self.members_enter(id);
            }
        }
    }

    // ---- delivery accidents ----

    /// Two renames in a row, the first delivered after the second: the receiver must keep
    /// the newer name and mark the late one stale.
    fn late_rename(&mut self) -> bool {
        let candidates: Vec<String> = self.live.clone();
        if candidates.is_empty() {
            return false;
        }
        let id = self.rng.pick(&candidates).clone();
        let Some(manager) = self.manager(&id) else {
            return false;
        };
        self.rename(&id);
        let Some(mut older) = self.info_updated(&id, &manager) else {
            return false;
        };
        self.rename(&id);
        let Some(newer) = self.info_updated(&id, &manager) else {
            return false;
        };
        older.kind = DeliveryKind::Late;
        self.push(newer);
        self.push_with(older, None);
        true
    }

    /// A recent callback delivered a second time, byte for byte.
    fn duplicate(&mut self) -> bool {
        let candidates: Vec<Delivery> = self
            .recent
            .iter()
            .filter(|d| d.room_id.as_deref().is_some_and(|r| self.room(r).is_some()))
            .filter(|d| !d.command.starts_with("Group."))
            // Tencent never retries "before" callbacks, so they are never redelivered.
            .filter(|d| {
                crate::protocol::Command::from_name(d.command).is_none_or(|c| !c.is_before())
            })
            .cloned()
            .collect();
        if candidates.is_empty() {
            return false;
        }
        let mut copy = self.rng.pick(&candidates).clone();
        copy.kind = DeliveryKind::Duplicate;
        self.push_with(copy, None);
        true
    }

    /// A chat message whose body was cut short: not JSON, so the receiver rejects it.
    fn malformed(&mut self) -> bool {
        let Some(id) = self
            .live
            .iter()
            .find(|id| self.room(id).is_some_and(|r| !r.online.is_empty()))
            .cloned()
        else {
            return false;
        };
        let Some((_, after)) = self.chat_body(&id) else {
            return false;
        };
        let mut delivery = self.make("Group.CallbackAfterSendMsg", Some(&id), Via::Client, after);
        let mut cut = delivery.body.len() * 2 / 3;
        while !delivery.body.is_char_boundary(cut) {
            cut -= 1;
        }
        delivery.body.truncate(cut);
        delivery.kind = DeliveryKind::Malformed;
        self.push_with(delivery, None);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64, n: usize) -> (Vec<Delivery>, Simulator) {
        let mut sim = Simulator::new(SimConfig {
            seed,
            start_ms: 1_767_225_600_000,
            mean_step_ms: 250,
        });
        let deliveries = (0..n).map(|_| sim.next_delivery()).collect();
        (deliveries, sim)
    }

    #[test]
    fn same_seed_same_story() {
        let (a, _) = run(9, 300);
        let (b, _) = run(9, 300);
        let bodies = |d: &[Delivery]| d.iter().map(|x| x.body.clone()).collect::<Vec<_>>();
        assert_eq!(bodies(&a), bodies(&b));
        let (c, _) = run(10, 300);
        assert_ne!(bodies(&a), bodies(&c));
    }

    #[test]
    fn the_story_covers_every_kind_of_callback() {
        let (deliveries, sim) = run(1, 3000);
        let commands: BTreeSet<&str> = deliveries.iter().map(|d| d.command).collect();
        for wanted in [
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
            "Group.CallbackBeforeSendMsg",
            "Group.CallbackAfterSendMsg",
        ] {
            assert!(commands.contains(wanted), "{wanted} never sent");
        }
        let bodies: String = deliveries.iter().map(|d| d.body.as_str()).collect();
        for needle in [
            "DestroyBySystem",
            "DestroyByUser",
            SYSTEM_OPERATOR,
            "HeartbeatInterrupt",
            "HeartbeatRecover",
        ] {
            assert!(bodies.contains(needle), "{needle} never sent");
        }
        let counts = sim.counts();
        assert_eq!(counts.malformed, 1);
        assert!(counts.late >= 2 && counts.duplicate >= 2, "{counts:?}");
        assert_eq!(counts.total, 3000);
    }

    #[test]
    fn every_body_but_the_malformed_one_is_json() {
        let (deliveries, _) = run(3, 500);
        for d in &deliveries {
            let parsed = serde_json::from_str::<Value>(&d.body);
            assert_eq!(parsed.is_err(), d.kind == DeliveryKind::Malformed, "{d:?}");
        }
    }
}
