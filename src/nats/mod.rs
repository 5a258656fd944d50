//! The JetStream log: many receivers publish every callback to one stream, any number of
//! viewers rebuild room state from it and follow it. Receivers answer Tencent only once
//! JetStream acknowledged the publish (or the local spool holds the callback).
//!
//! - [`subject`]: the subject scheme (per app, kind and partition; no raw remote text).
//! - [`record`]: a callback as a message (the body as payload, the judgement in a header).
//! - [`connection`]: options, connecting, creating the stream.
//! - [`publish`]: the receiver's side, waiting for JetStream's acknowledgement.
//! - [`spool`]: the local file that holds callbacks while JetStream is away.
//! - [`relay`]: the relay to the backend, shared by the receivers through durable consumers.
//! - [`checkpoint`]: the folded state kept in an object store, so viewers start from it.
//! - [`follow`]: the viewer's side, feeding the hub from the stream.

pub mod checkpoint;
pub mod connection;
pub mod follow;
pub mod publish;
pub mod record;
pub mod relay;
pub mod spool;
pub mod subject;

pub use connection::{NatsOptions, StreamLog};
pub use publish::{Durable, StreamSink};
