//! What the connection layer (timeouts, idle watchdog, connection cap, source check) costs:
//! callbacks per second through the same router served by `receiver::serve` and by plain
//! `axum::serve`, in one process, alternating runs, as a ratio.
//!
//!     cargo bench --bench edge_layer
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use roomwatch::hub::Hub;
use roomwatch::ingest::auth::AuthConfig;
use roomwatch::ingest::receiver::{self, ReceiverState};

const CALLBACKS: usize = 20_000;
const CONNS: usize = 16;
const RUNS: usize = 5;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layer {
    Edge,
    AxumServe,
}

fn body(i: usize) -> String {
    serde_json::json!({
        "CallbackCommand": "Live.CallbackAfterCreateRoom",
        "Operator_Account": "host",
        "RoomInfo": {"RoomId": format!("room_{i}"), "RoomName": "bench", "Owner_Account": "host",
                     "EventTime": 1_735_690_000_000_i64 + i as i64},
    })
    .to_string()
}

async fn throughput(bodies: &[String], layer: Layer) -> f64 {
    let state = Arc::new(ReceiverState {
        hub: Arc::new(Hub::new(10_000, 4096)),
        auth: AuthConfig {
            sdkappids: vec!["1400000001".into()],
            token: None,
            window_s: 60,
        },
        body_limit: 1 << 20,
        relay: None,
        stream: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = stopped.await;
    };
    let server = match layer {
        Layer::Edge => tokio::spawn(receiver::serve(listener, state, stopped)),
        Layer::AxumServe => tokio::spawn(async move {
            let app = receiver::router(state).into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
        }),
    };
    let url = format!(
        "http://{addr}/callback?SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterCreateRoom"
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CONNS {
        let client = reqwest::Client::new();
        let url = url.clone();
        let mine: Vec<String> = bodies.iter().skip(c).step_by(CONNS).cloned().collect();
        tasks.push(tokio::spawn(async move {
            for body in mine {
                let response = client.post(&url).body(body).send().await.unwrap();
                assert_eq!(response.status(), 200);
                black_box(response.bytes().await.unwrap());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rate = bodies.len() as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    rate
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let bodies: Vec<String> = (0..CALLBACKS).map(body).collect();
    let (edge, plain) = runtime.block_on(async {
        throughput(&bodies, Layer::Edge).await; // warm-up
        let (mut edge, mut plain) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            edge.push(throughput(&bodies, Layer::Edge).await);
            plain.push(throughput(&bodies, Layer::AxumServe).await);
        }
        (median(&mut edge), median(&mut plain))
    });
    println!(
        "{CALLBACKS} callbacks over {CONNS} keep-alive connections, median of {RUNS} alternating runs"
    );
    println!("axum::serve          {plain:>10.0} callbacks/s");
    println!("roomwatch edge layer {edge:>10.0} callbacks/s");
    println!("edge / axum::serve   {:>10.2}x", edge / plain);
}
