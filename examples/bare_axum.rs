//! The baseline for `scripts/bench-ingest`: the least a callback receiver can do. It parses the
//! same JSON body and sends the same acknowledgement as roomwatch, and nothing else, so the ratio
//! roomwatch ÷ this server is the cost of everything roomwatch adds per callback.
//!
//!     cargo run --release --example bare_axum -- 127.0.0.1:9300

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

const ACK_OK: &str = r#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#;

async fn callback(body: Bytes) -> impl IntoResponse {
    let status = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::BAD_REQUEST,
    };
    (status, [(header::CONTENT_TYPE, "application/json")], ACK_OK)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9300".to_string());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, Router::new().fallback(callback)).await
}
