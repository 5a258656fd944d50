//! The reducer: examples, then properties over generated callback sequences.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use proptest::prelude::*;
use roomwatch::store::{
    BattleKey, Effect, Room, RoomKey, RoomLimits, RoomStore, StoreLimits, known,
};
use serde_json::{Value, json};

fn fold(bodies: &[Value]) -> RoomStore {
    let mut store = RoomStore::new(100);
    for (i, body) in bodies.iter().enumerate() {
        store.apply(common::event(i as u64 + 1, 1_000 + i as i64, body));
    }
    store
}

fn converged(store: &RoomStore) -> BTreeMap<RoomKey, Room> {
    store
        .rooms()
        .iter()
        .map(|(id, room)| (id.clone(), room.converged()))
        .collect()
}

fn update(room: &str, name: &str, time: i64) -> Value {
    json!({"CallbackCommand":"Live.CallbackAfterUpdateRoomInfo","Operator_Account":"op",
           "RoomInfo":{"RoomId":room,"RoomName":name},"EventTime":time})
}

#[test]
fn a_room_first_seen_through_an_update_has_unknown_fields() {
    let store = fold(&[update("r1", "first", 10)]);
    let room = store.room_by_id("r1").unwrap();
    assert_eq!(known(&room.name).map(String::as_str), Some("first"));
    assert!(room.public.is_none() && room.seat_mode.is_none() && room.owner.is_none());
    assert!(room.created.is_none());
    assert!(!room.is_ended());
}

#[test]
fn a_late_update_does_not_overwrite_a_newer_one_and_is_marked_stale() {
    let mut store = RoomStore::new(10);
    store.apply(common::event(1, 0, &update("r1", "newer", 20)));
    let effect = store.apply(common::event(2, 0, &update("r1", "older", 10)));
    assert_eq!(effect, Some(Effect::Stale));
    assert_eq!(
        known(&store.room_by_id("r1").unwrap().name).map(String::as_str),
        Some("newer")
    );
    assert_eq!(store.counters().stale, 1);
    assert_eq!(store.log().len(), 2, "the stale event is still logged");
}

#[test]
fn an_exact_duplicate_is_flagged_and_not_counted_twice() {
    let message = json!({"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":"r1","From_Account":"v",
        "MsgSeq":7,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}],"EventTime":1_735_692_400_210_i64});
    let mut store = RoomStore::new(10);
    assert_eq!(
        store.apply(common::event(1, 0, &message)),
        Some(Effect::Applied)
    );
    assert_eq!(
        store.apply(common::event(2, 0, &message)),
        Some(Effect::Duplicate)
    );
    assert_eq!(store.room_by_id("r1").unwrap().messages, 1);
    assert_eq!(store.counters().duplicate, 1);
}

#[test]
fn two_equal_gifts_are_two_gifts() {
    // "Before" callbacks are never retried, and a gift carries no id of its own.
    let gift = json!({"CallbackCommand":"Live.CallbackBeforeSendGift","RoomId":"r1",
        "GiftWater":{"From_Account":"v","To_Account":["h"],"Time":1_735_692_300,"GiftId":"heart","Count":1,"Coins":5}});
    let mut store = RoomStore::new(10);
    assert_eq!(
        store.apply(common::event(1, 0, &gift)),
        Some(Effect::Applied)
    );
    assert_eq!(
        store.apply(common::event(2, 0, &gift)),
        Some(Effect::Applied)
    );
    assert_eq!(store.room_by_id("r1").unwrap().gifts.gifts, 2);
}

#[test]
fn huge_gift_counts_saturate_instead_of_overflowing() {
    let gift = json!({"CallbackCommand":"Live.CallbackBeforeSendGift","RoomId":"r1",
        "GiftWater":{"From_Account":"v","Time":1_735_692_300,"Count":i64::MAX,"Coins":2}});
    let mut store = RoomStore::new(10);
    store.apply(common::event(1, 0, &gift));
    store.apply(common::event(2, 0, &gift));
    let gifts = &store.room_by_id("r1").unwrap().gifts;
    assert_eq!((gifts.items, gifts.coins), (i64::MAX, i64::MAX));
}

#[test]
fn a_repeated_follow_is_a_duplicate_too() {
    let follow = json!({"CallbackCommand":"Follow.CallbackAfterFollowAdd","From_Account":"v",
        "FollowList":[{"To_Account":"h"}],"EventTime":1_735_692_500_000_i64});
    let mut store = RoomStore::new(10);
    assert_eq!(
        store.apply(common::event(1, 0, &follow)),
        Some(Effect::Applied)
    );
    assert_eq!(
        store.apply(common::event(2, 0, &follow)),
        Some(Effect::Duplicate)
    );
    assert_eq!(store.follows(), 1);
}

#[test]
fn an_implausible_event_time_falls_back_to_arrival() {
    for time in [
        json!(i64::MIN),
        json!(-1),
        json!(-1e19),
        json!("99999999999999999"),
    ] {
        let body = json!({"CallbackCommand":"Live.CallbackAfterUpdateRoomInfo",
            "RoomInfo":{"RoomId":"r1","RoomName":"n"},"EventTime":time});
        let mut store = RoomStore::new(10);
        store.apply(common::event(1, 1_735_690_000_000, &body));
        assert_eq!(
            store.room_by_id("r1").unwrap().last_event_ms,
            Some(1_735_690_000_000),
            "{time}"
        );
    }
}

#[test]
fn a_destroyed_room_stays_listed_as_ended_and_a_recreation_revives_it() {
    let create = |t: i64| {
        json!({"CallbackCommand":"Live.CallbackAfterCreateRoom","Operator_Account":"h",
               "RoomInfo":{"RoomId":"r1","RoomName":"n","Owner_Account":"h"},"EventTime":t})
    };
    let destroy = json!({"CallbackCommand":"Live.CallbackAfterDestroyRoom","Operator_Account":"@TIM#SYSTEM",
                         "RoomId":"r1","EventType":"DestroyBySystem","EventTime":20});
    let store = fold(&[create(10), destroy.clone()]);
    let room = store.room_by_id("r1").unwrap();
    assert!(room.is_ended());
    let ending = &room.destroyed.as_ref().unwrap().value;
    assert_eq!(ending.cause.as_deref(), Some("DestroyBySystem"));
    assert_eq!(ending.by.as_deref(), Some("@TIM#SYSTEM"));
    let store = fold(&[create(10), destroy, create(30)]);
    assert!(!store.room_by_id("r1").unwrap().is_ended());
}

#[test]
fn admins_owner_members_seats_metadata_and_battles() {
    let store = fold(&[
        json!({"CallbackCommand":"Live.CallbackAfterModifyAdmin","RoomId":"r1","Admin_Account":["user1","user2","user3"],"opType":"add","EventTime":10}),
        json!({"CallbackCommand":"Live.CallbackAfterModifyAdmin","RoomId":"r1","Admin_Account":["user3"],"opType":"delete","EventTime":11}),
        json!({"CallbackCommand":"Live.CallbackAfterChangeOwner","RoomId":"r1","CurrentOwner_Account":"mei","OriginalOwner_Account":"lin","EventTime":12}),
        json!({"CallbackCommand":"Live.CallbackAfterMemberStateChanged","RoomId":"r1","EventType":"Online","EventCause":"Enter","MemberList":[{"Member_Account":"a"},{"Member_Account":"b"}],"EventTime":13}),
        json!({"CallbackCommand":"Live.CallbackAfterMemberStateChanged","RoomId":"r1","EventType":"Offline","EventCause":"HeartbeatInterrupt","MemberList":[{"Member_Account":"a"}],"EventTime":14}),
        json!({"CallbackCommand":"Mic.CallbackAfterSeatInfoChanged","RoomId":"r1","SeatList":[{"Index":0,"Member_Account":"mei"},{"Index":1,"IsTakenDisabled":true}],"EventTime":15}),
        json!({"CallbackCommand":"Live.CallbackAfterSetMetadata","RoomId":"r1","Metadata":[{"Key":"k1","Value":"v1"},{"Key":"k2","Value":"v2"}],"EventTime":16}),
        json!({"CallbackCommand":"Live.CallbackAfterDelMetadata","RoomId":"r1","Keys":["k1"],"EventTime":17}),
        json!({"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"b1","OpType":0,
               "FromRoomInfo":{"RoomId":"r1","Score":5},"ToRoomList":[{"RoomId":"r2","Score":3}],"EventTime":18}),
    ]);
    let room = store.room_by_id("r1").unwrap();
    assert_eq!(room.admin_list(), ["user1", "user2"]);
    assert_eq!(known(&room.owner).map(String::as_str), Some("mei"));
    assert_eq!(room.online_members(), ["b"]);
    assert_eq!(room.seats[&0].value.member.as_deref(), Some("mei"));
    assert_eq!(room.seats[&1].value.locked, Some(true));
    assert_eq!(room.metadata_pairs(), [("k2", "v2")]);
    assert!(store.room_by_id("r2").unwrap().battles.contains("b1"));
    assert_eq!(
        store.battles()[&BattleKey::new("", "b1")].scores[&"r2".to_string()],
        Some(3)
    );
    let change = room.last_change.as_ref().unwrap();
    assert_eq!(change.changes[0].after, "k1 deleted");
}

#[test]
fn rejected_and_unrecognized_events_never_touch_state() {
    let store = fold(&[json!({"RoomId":"r9","EventGroupId":1})]);
    assert!(store.rooms().is_empty());
    assert_eq!(store.counters().unrecognized, 1);
}

// ---- properties ----

const ROOMS: [&str; 3] = ["r0", "r1", "r2"];
const USERS: [&str; 4] = ["u0", "u1", "u2", "u3"];

/// One callback from a small universe, so that generated sequences collide often.
fn callback() -> impl Strategy<Value = Value> {
    let room = prop::sample::select(&ROOMS[..]);
    let user = prop::sample::select(&USERS[..]);
    let users = prop::sample::subsequence(&USERS[..], 1..3);
    let time = 1_735_690_000_000i64..1_735_690_000_010;
    prop_oneof![
        (room.clone(), user.clone(), any::<bool>(), time.clone()).prop_map(|(r, u, public, t)| json!({
            "CallbackCommand":"Live.CallbackAfterCreateRoom","Operator_Account":u,
            "RoomInfo":{"RoomId":r,"RoomName":format!("{r}-{t}"),"Owner_Account":u,"IsPublicVisible":public,"TakeSeatMode":"FreeToTake"},"EventTime":t})),
        (room.clone(), prop::option::of("[a-c]{1,2}"), prop::option::of(any::<bool>()), time.clone()).prop_map(|(r, name, public, t)| {
            let mut info = json!({"RoomId": r});
            if let Some(name) = name { info["RoomName"] = json!(name); }
            if let Some(public) = public { info["IsPublicVisible"] = json!(public); }
            json!({"CallbackCommand":"Live.CallbackAfterUpdateRoomInfo","RoomInfo":info,"EventTime":t})
        }),
        (room.clone(), time.clone()).prop_map(|(r, t)| json!({
            "CallbackCommand":"Live.CallbackAfterDestroyRoom","RoomId":r,"EventType":"DestroyByUser","EventTime":t})),
        (room.clone(), users.clone(), any::<bool>(), time.clone()).prop_map(|(r, us, online, t)| json!({
            "CallbackCommand":"Live.CallbackAfterMemberStateChanged","RoomId":r,
            "EventType": if online {"Online"} else {"Offline"}, "EventCause": if online {"Enter"} else {"Leave"},
            "MemberList": us.iter().map(|u| json!({"Member_Account":u})).collect::<Vec<_>>(),"EventTime":t})),
        (room.clone(), users, any::<bool>(), time.clone()).prop_map(|(r, us, add, t)| json!({
            "CallbackCommand":"Live.CallbackAfterModifyAdmin","RoomId":r,"Admin_Account":us,
            "opType": if add {"add"} else {"delete"},"EventTime":t})),
        (room.clone(), user.clone(), time.clone()).prop_map(|(r, u, t)| json!({
            "CallbackCommand":"Live.CallbackAfterChangeOwner","RoomId":r,"CurrentOwner_Account":u,"EventTime":t})),
        (room.clone(), 0i64..3, prop::option::of(user), time.clone()).prop_map(|(r, i, u, t)| {
            let mut seat = json!({"Index": i, "IsTakenDisabled": false});
            if let Some(u) = u { seat["Member_Account"] = json!(u); }
            json!({"CallbackCommand":"Mic.CallbackAfterSeatInfoChanged","RoomId":r,"SeatList":[seat],"EventTime":t})
        }),
        (room.clone(), "[kv]", prop::option::of("[x-z]"), time.clone()).prop_map(|(r, k, v, t)| match v {
            Some(v) => json!({"CallbackCommand":"Live.CallbackAfterSetMetadata","RoomId":r,"Metadata":[{"Key":k,"Value":v}],"EventTime":t}),
            None => json!({"CallbackCommand":"Live.CallbackAfterDelMetadata","RoomId":r,"Keys":[k],"EventTime":t}),
        }),
        (room.clone(), 1i64..4).prop_map(|(r, count)| json!({
            "CallbackCommand":"Live.CallbackBeforeSendGift","RoomId":r,
            "GiftWater":{"From_Account":"v","To_Account":["h"],"Time":1_735_690_000,"GiftId":"g","Count":count,"Coins":10}})),
        (0usize..2, 0u8..3, time).prop_map(|(b, phase, t)| {
            // A battle's rooms and scores follow from its id, as in real traffic.
            let (from, to) = (ROOMS[b], ROOMS[b + 1]);
            let id = format!("b{b}");
            match phase {
                0 => json!({"CallbackCommand":"Live.CallbackAfterCreateBattle","BattleId":id,"FromRoomId":from,"ToRoomIdList":[to],"Duration":1000,"EventTime":t}),
                1 => json!({"CallbackCommand":"Live.CallbackAfterStartBattle","BattleId":id,"FromRoomInfo":{"RoomId":from},"ToRoomList":[{"RoomId":to}],"EventTime":t}),
                _ => json!({"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":id,"OpType":0,"FromRoomInfo":{"RoomId":from,"Score":7},"ToRoomList":[{"RoomId":to,"Score":5}],"EventTime":t}),
            }
        }),
    ]
}

/// A sequence of distinct callbacks, and a shuffled copy with some delivered twice.
fn deliveries() -> impl Strategy<Value = (Vec<Value>, Vec<Value>)> {
    prop::collection::vec(callback(), 1..40)
        .prop_map(|mut v| {
            v.sort_by_key(Value::to_string);
            v.dedup();
            v
        })
        .prop_flat_map(|distinct| {
            // Only "after" callbacks are redelivered; a repeated gift is a second gift.
            let redeliverable: Vec<usize> = (0..distinct.len())
                .filter(|&i| distinct[i]["CallbackCommand"] != "Live.CallbackBeforeSendGift")
                .collect();
            let repeats = if redeliverable.is_empty() {
                Just(Vec::new()).boxed()
            } else {
                prop::collection::vec(prop::sample::select(redeliverable), 0..6).boxed()
            };
            (
                Just(distinct.clone()),
                Just(distinct).prop_shuffle(),
                repeats,
            )
        })
        .prop_map(|(distinct, mut shuffled, repeats)| {
            for i in repeats {
                let again = distinct[i].clone();
                let at = i.min(shuffled.len());
                shuffled.insert(at, again);
            }
            (distinct, shuffled)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_delivery_order_with_duplicates_converges((distinct, delivered) in deliveries()) {
        let once = fold(&distinct);
        let shuffled = fold(&delivered);
        prop_assert_eq!(converged(&once), converged(&shuffled));
        prop_assert_eq!(once.battles(), shuffled.battles());
        prop_assert_eq!(
            shuffled.counters().duplicate,
            (delivered.len() - distinct.len()) as u64,
            "every repeat and only repeats are flagged"
        );
    }

    #[test]
    fn applying_one_by_one_equals_a_replica_resynced_midway((distinct, _) in deliveries(), cut in 0usize..40) {
        // A replica that copies the store midway and then sees every event again (as a
        // lagged subscriber does) ends equal to the authoritative store.
        let mut store = RoomStore::new(1_000);
        let events: Vec<_> = distinct.iter().enumerate()
            .map(|(i, b)| common::event(i as u64 + 1, 0, b)).collect();
        let cut = cut.min(events.len());
        for e in &events[..cut] { store.apply(e.clone()); }
        let mut replica = store.clone();
        for e in &events[cut..] { store.apply(e.clone()); }
        for e in &events { replica.apply(e.clone()); }
        prop_assert_eq!(store.rooms(), replica.rooms());
        prop_assert_eq!(store.log().len(), replica.log().len());
    }

    #[test]
    fn the_log_cap_holds(bodies in prop::collection::vec(callback(), 0..60), cap in 1usize..20) {
        let mut store = RoomStore::new(cap);
        for (i, b) in bodies.iter().enumerate() {
            store.apply(common::event(i as u64 + 1, 0, b));
        }
        prop_assert!(store.log().len() <= cap);
        prop_assert_eq!(store.log().len() as u64 + store.dropped_log_entries(), bodies.len() as u64);
        prop_assert_eq!(store.log().back().map(|e| e.event.seq), (!bodies.is_empty()).then_some(bodies.len() as u64));
    }

    #[test]
    fn per_room_caps_hold_in_any_delivery_order((distinct, delivered) in deliveries(), cap in 1usize..4) {
        // At the cap which identities are tracked depends on arrival; the bound does not.
        let limits = StoreLimits {
            per_room: RoomLimits { members: cap, admins: cap, metadata: cap },
            ..StoreLimits::default()
        };
        let mut store = RoomStore::with_limits(limits);
        for (i, b) in delivered.iter().enumerate() {
            store.apply(common::event(i as u64 + 1, 0, b));
        }
        for room in store.rooms().values() {
            prop_assert!(room.members.len() <= cap && room.admins.len() <= cap && room.metadata.len() <= cap);
            prop_assert!(room.online_count() <= cap);
        }
        // Caps above what the traffic names change nothing: the same state as uncapped.
        let roomy = StoreLimits {
            per_room: RoomLimits { members: 8, admins: 8, metadata: 2 },
            ..StoreLimits::default()
        };
        let mut once = RoomStore::with_limits(roomy);
        let mut shuffled = RoomStore::with_limits(roomy);
        for (i, b) in distinct.iter().enumerate() { once.apply(common::event(i as u64 + 1, 0, b)); }
        for (i, b) in delivered.iter().enumerate() { shuffled.apply(common::event(i as u64 + 1, 0, b)); }
        prop_assert_eq!(converged(&once), converged(&shuffled));
        prop_assert_eq!(converged(&once), converged(&fold(&distinct)));
    }
}
