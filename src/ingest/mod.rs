//! The ingest path: an HTTP request in, a judged [`Event`](crate::event::Event) out, answered
//! the way Tencent expects.

pub mod auth;
pub mod intake;
pub mod query;
pub mod receiver;
pub mod server;
pub mod source;
