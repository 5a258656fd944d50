//! Built-in demo traffic: a seeded simulation of live rooms, posted over loopback HTTP to
//! roomwatch's own receiver exactly as Tencent would post it.

pub mod model;
pub mod rng;
pub mod simulator;

pub use model::{RoomView, SeatView};
pub use simulator::{Delivery, DeliveryCounts, DeliveryKind, SimConfig, Simulator};

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;
use tokio::time::{Instant, MissedTickBehavior};

use crate::cli::RunArgs;
use crate::ingest::receiver::now_ms;
use crate::outputs::send::{self, Origin};
use crate::store::RoomKey;

/// The `SdkAppid` the demo claims when `--sdkappid` is not set.
pub const DEMO_SDKAPPID: &str = "1400000001";

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// roomwatch's own receiver. An unspecified address (0.0.0.0, ::) means its loopback.
    pub target: SocketAddr,
    /// The apps to post as, never empty: with several, each runs its own simulation, their
    /// rooms numbered alike so the same RoomIds show up under every app.
    pub sdkappids: Vec<String>,
    pub token: Option<String>,
    /// Callbacks per second.
    pub rate: f64,
    pub seed: u64,
    /// Stop after this many callbacks; `None` runs until stopped.
    pub events: Option<u64>,
    /// The first event time, Unix ms.
    pub start_ms: i64,
    /// Rooms an earlier demo run left live in the demo's journal: this run's story does not
    /// know them, so it ends them first (as the system would a room nobody is in), each
    /// under its own app (the first demo app for a room that has none).
    pub leftover_rooms: Vec<Leftover>,
}

impl DemoOptions {
    /// The demo for a run of roomwatch listening on `listen`. Without `--demo-seed` the seed
    /// comes from the clock.
    pub fn from_args(args: &RunArgs, listen: SocketAddr) -> Self {
        // Callbacks arrive a moment after the events they report.
        let start_ms = now_ms() - 1000;
        Self {
            target: listen,
            sdkappids: if args.sdkappid.is_empty() {
                vec![DEMO_SDKAPPID.to_string()]
            } else {
                args.sdkappids()
            },
            token: args.token.clone(),
            rate: args.demo_rate,
            seed: args.demo_seed.unwrap_or(start_ms.unsigned_abs()),
            events: args.demo_events,
            start_ms,
            leftover_rooms: Vec::new(),
        }
    }
}

/// A room an earlier demo run left live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub room: RoomKey,
    /// Its latest event time (Unix ms): a fast demo's story runs ahead of the clock, and the
    /// end must come after everything the room saw to take effect.
    pub last_event_ms: Option<i64>,
}

/// What a demo run did, with the simulation so its model can be inspected.
#[derive(Debug)]
pub struct DemoOutcome {
    /// The first app's simulation.
    pub simulator: Simulator,
    /// The other apps' simulations, in the order of [`DemoOptions::sdkappids`].
    pub more_apps: Vec<Simulator>,
    /// Requests answered, by HTTP status.
    pub answers: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection refused, timeout...).
    pub failed: u64,
}

/// Ends the rooms an earlier demo run left live, so that they do not stay on screen forever.
async fn end_leftover_rooms(options: &DemoOptions, client: &reqwest::Client, base: &Url) {
    let first_app = options
        .sdkappids
        .first()
        .map_or(DEMO_SDKAPPID, String::as_str);
    for Leftover {
        room: RoomKey { id: room, app },
        last_event_ms,
    } in &options.leftover_rooms
    {
        let event_ms = last_event_ms.map_or(now_ms(), |last| now_ms().max(last + 1));
        let origin = Origin {
            sdkappid: if app.is_empty() { first_app } else { app },
            token: options.token.as_deref(),
            client_ip: "127.0.0.1",
            platform: "Server",
        };
        let command = "Live.CallbackAfterDestroyRoom";
        let body = serde_json::json!({
            "CallbackCommand": command,
            "Operator_Account": "administrator",
            "RoomId": room,
            "EventType": "DestroyBySystem",
            "EventTime": event_ms,
            "RoomInfo": {"RoomId": room},
        })
        .to_string();
        let url = send::callback_url(base, command, &origin, now_ms() / 1000);
        if let Err(error) = send::post(client, url, body).await {
            tracing::warn!(error = %send::error_chain(&error), room = %crate::escape::Escaped(room), "demo: could not end a leftover room");
        }
    }
    if !options.leftover_rooms.is_empty() {
        tracing::info!(
            rooms = options.leftover_rooms.len(),
            "demo: ended the rooms an earlier demo run left live"
        );
    }
}

/// Posts the simulation's callbacks to `options.target` at `options.rate` per second, one
/// at a time and in order, until `options.events` were sent or `stop` resolves. Problems
/// go to `tracing`, never to stdout.
pub async fn run(options: DemoOptions, stop: impl Future<Output = ()>) -> DemoOutcome {
    let apps: Vec<&str> = if options.sdkappids.is_empty() {
        vec![DEMO_SDKAPPID]
    } else {
        options.sdkappids.iter().map(String::as_str).collect()
    };
    // Each app's story moves at its share of the rate.
    let mean_step_ms = ((apps.len() as f64 * 1000.0 / options.rate).round() as i64).max(1);
    let simulation = |i: u64| {
        Simulator::new(SimConfig {
            seed: options.seed.wrapping_add(i),
            start_ms: options.start_ms,
            mean_step_ms,
        })
    };
    let first = simulation(0);
    let first_room = first.next_room_number();
    let mut outcome = DemoOutcome {
        simulator: first,
        more_apps: (1..apps.len() as u64)
            .map(|i| simulation(i).numbering_rooms_from(first_room))
            .collect(),
        answers: BTreeMap::new(),
        failed: 0,
    };
    let base = match Url::parse(&format!("http://{}/callback", loopback_of(options.target))) {
        Ok(url) => url,
        Err(error) => {
            tracing::error!(%error, "demo: no URL for the receiver");
            return outcome;
        }
    };
    let client = match send::http_client(Duration::from_secs(5), true) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(error = %send::error_chain(&error), "demo: no HTTP client");
            return outcome;
        }
    };
    tracing::info!(
        seed = options.seed,
        apps = apps.join(","),
        rate = options.rate,
        target = %base,
        "demo: posting simulated callbacks (same seed, same story)"
    );
    end_leftover_rooms(&options, &client, &base).await;
    let period = Duration::from_secs_f64(1.0 / options.rate);
    let mut ticks = tokio::time::interval_at(Instant::now(), period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut stop = std::pin::pin!(stop);
    let mut sent = 0u64;
    loop {
        if options.events.is_some_and(|limit| sent >= limit) {
            tracing::info!(sent, "demo: done; the receiver keeps running");
            break;
        }
        tokio::select! {
            biased;
            () = &mut stop => break,
            _ = ticks.tick() => {}
        }
        // The apps take turns, one callback each.
        let turn = usize::try_from(sent % apps.len() as u64).unwrap_or(0);
        let simulator = match turn.checked_sub(1) {
            None => &mut outcome.simulator,
            Some(i) => &mut outcome.more_apps[i],
        };
        let delivery = simulator.next_delivery();
        let origin = Origin {
            sdkappid: apps[turn],
            token: options.token.as_deref(),
            client_ip: &delivery.client_ip,
            platform: delivery.platform,
        };
        let url = send::callback_url(&base, delivery.command, &origin, now_ms() / 1000);
        let result = tokio::select! {
            biased;
            () = &mut stop => break,
            result = send::post(&client, url, delivery.body) => result,
        };
        sent += 1;
        match result {
            Ok(answer) => {
                *outcome.answers.entry(answer.status.as_u16()).or_default() += 1;
                if answer.status.is_success() || delivery.kind == DeliveryKind::Malformed {
                    tracing::debug!(status = %answer.status, command = delivery.command, kind = ?delivery.kind, "demo: posted");
                } else {
                    tracing::warn!(status = %answer.status, command = delivery.command, answer = %crate::escape::Escaped(&answer.body), "demo: callback refused");
                }
            }
            Err(error) => {
                outcome.failed += 1;
                tracing::warn!(error = %send::error_chain(&error), command = delivery.command, "demo: cannot post");
            }
        }
    }
    outcome
}

/// Where to reach a listener: its own address, or loopback when it listens on all of them.
fn loopback_of(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}
