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

/// The `SdkAppid` the demo claims when `--sdkappid` is not set.
pub const DEMO_SDKAPPID: &str = "1400000001";

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// roomwatch's own receiver. An unspecified address (0.0.0.0, ::) means its loopback.
    pub target: SocketAddr,
    pub sdkappid: String,
    pub token: Option<String>,
    /// Callbacks per second.
    pub rate: f64,
    pub seed: u64,
    /// Stop after this many callbacks; `None` runs until stopped.
    pub events: Option<u64>,
    /// The first event time, Unix ms.
    pub start_ms: i64,
    /// Rooms an earlier demo run left live in the demo's journal, with their latest event
    /// time: this run's story does not know them, so it ends them first (as the system would a
    /// room nobody is in).
    pub leftover_rooms: Vec<(String, Option<i64>)>,
}

impl DemoOptions {
    /// The demo for a run of roomwatch listening on `listen`. Without `--demo-seed` the seed
    /// comes from the clock.
    pub fn from_args(args: &RunArgs, listen: SocketAddr) -> Self {
        // Callbacks arrive a moment after the events they report.
        let start_ms = now_ms() - 1000;
        Self {
            target: listen,
            sdkappid: args
                .sdkappid
                .first()
                .cloned()
                .unwrap_or_else(|| DEMO_SDKAPPID.to_string()),
            token: args.token.clone(),
            rate: args.demo_rate,
            seed: args.demo_seed.unwrap_or(start_ms.unsigned_abs()),
            events: args.demo_events,
            start_ms,
            leftover_rooms: Vec::new(),
        }
    }
}

/// What a demo run did, with the simulation so its model can be inspected.
#[derive(Debug)]
pub struct DemoOutcome {
    pub simulator: Simulator,
    /// Requests answered, by HTTP status.
    pub answers: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection refused, timeout...).
    pub failed: u64,
}

/// Ends the rooms an earlier demo run left live, so that they do not stay on screen forever.
async fn end_leftover_rooms(options: &DemoOptions, client: &reqwest::Client, base: &Url) {
    let origin = Origin {
        sdkappid: &options.sdkappid,
        token: options.token.as_deref(),
        client_ip: "127.0.0.1",
        platform: "Server",
    };
    for (room, last_event_ms) in &options.leftover_rooms {
        // After the room's latest event, or the reducer would take the end for stale.
        let event_time = last_event_ms.map_or(now_ms(), |last| now_ms().max(last + 1));
        let command = "Live.CallbackAfterDestroyRoom";
        let body = serde_json::json!({
            "CallbackCommand": command,
            "Operator_Account": "administrator",
            "RoomId": room,
            "EventType": "DestroyBySystem",
            "EventTime": event_time,
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
    let mut outcome = DemoOutcome {
        simulator: Simulator::new(SimConfig {
            seed: options.seed,
            start_ms: options.start_ms,
            mean_step_ms: ((1000.0 / options.rate).round() as i64).max(1),
        }),
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
        let delivery = outcome.simulator.next_delivery();
        let origin = Origin {
            sdkappid: &options.sdkappid,
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
