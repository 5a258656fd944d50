//! The receiver's side: store one callback before it is answered. JetStream first (the answer
//! waits for its acknowledgement, on every replica the stream asks for); when JetStream does not
//! acknowledge in time, or NATS is away, the local spool (see [`super::spool`]).

use std::sync::Arc;

use async_nats::jetstream::message::PublishMessage;

use super::StreamLog;
use super::record::{self, Outgoing};
use super::spool::{Spool, SpoolError};
use crate::event::Event;

/// Why a publish was not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("JetStream did not acknowledge within {0:?}")]
    Timeout(std::time::Duration),
    #[error("JetStream refused the publish: {0}")]
    Refused(String),
    #[error("not connected to NATS")]
    Disconnected,
    /// Body and record together exceed the servers' `max_payload`: no retry helps.
    #[error("too large for NATS: {0}")]
    TooLarge(String),
}

/// Where a callback was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Its stream sequence.
    pub seq: u64,
    /// JetStream had it already (a retry within the duplicate window): stored once.
    pub duplicate: bool,
}

impl StreamLog {
    /// Publishes `event` and waits for the acknowledgement, up to the publish timeout.
    pub async fn publish(&self, event: &Event) -> Result<Stored, PublishError> {
        let out = record::encode(&self.options.subject_prefix, event, &self.options.receiver);
        self.publish_outgoing(out).await
    }

    /// Publishes one prepared message and waits for the acknowledgement.
    pub async fn publish_outgoing(&self, out: Outgoing) -> Result<Stored, PublishError> {
        let mut message = PublishMessage::build()
            .payload(out.payload)
            .headers(out.headers);
        if let Some(id) = out.message_id {
            message = message.message_id(id);
        }
        let timeout = self.options.publish_timeout;
        let publish = async {
            let ack = self
                .jetstream
                .send_publish(out.subject, message)
                .await
                .map_err(|e| match e.kind() {
                    async_nats::jetstream::context::PublishErrorKind::MaxPayloadExceeded => {
                        PublishError::TooLarge(e.to_string())
                    }
                    _ => PublishError::Refused(e.to_string()),
                })?;
            ack.await.map_err(|e| PublishError::Refused(e.to_string()))
        };
        match tokio::time::timeout(timeout, publish).await {
            Ok(Ok(ack)) => {
                self.note_acked(ack.sequence);
                Ok(Stored {
                    seq: ack.sequence,
                    duplicate: ack.duplicate,
                })
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(PublishError::Timeout(timeout)),
        }
    }
}

/// Where a callback went before it was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durable {
    Stream(Stored),
    /// In the local spool, waiting for NATS: the position among those waiting.
    Spooled(u64),
}

/// Why a callback could not be made durable anywhere; it is answered 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Stream(PublishError),
    #[error("{stream}; {spool}")]
    Both {
        stream: PublishError,
        spool: SpoolError,
    },
}

/// The receiver's way to the stream: JetStream, with the spool behind it.
pub struct StreamSink {
    pub stream: StreamLog,
    /// `None` with `--no-nats-spool`: a callback JetStream did not take is answered 503.
    pub spool: Option<Arc<Spool>>,
    /// With the shared relay: true once its consumers exist. Until then callbacks go to the
    /// spool, so that none reaches the stream before the consumers that must relay it.
    pub relay_ready: Option<tokio::sync::watch::Receiver<bool>>,
}

impl StreamSink {
    /// Makes `event` durable: in the stream, or in the spool while the spool is not empty (to
    /// keep the order), NATS is disconnected, or JetStream did not acknowledge in time.
    pub async fn store(&self, event: &Event) -> Result<Durable, StoreError> {
        let out = record::encode(
            &self.stream.options.subject_prefix,
            event,
            &self.stream.options.receiver,
        );
        let Some(spool) = &self.spool else {
            return self
                .stream
                .publish_outgoing(out)
                .await
                .map(Durable::Stream)
                .map_err(StoreError::Stream);
        };
        let relay_waiting = self
            .relay_ready
            .as_ref()
            .is_some_and(|ready| !*ready.borrow());
        let reason = if spool.pending() > 0 || relay_waiting {
            None
        } else if !self.stream.connected() {
            Some(PublishError::Disconnected)
        } else {
            match self.stream.publish_outgoing(clone_outgoing(&out)).await {
                Ok(stored) => return Ok(Durable::Stream(stored)),
                // The spool could never publish it either.
                Err(error @ PublishError::TooLarge(_)) => return Err(StoreError::Stream(error)),
                Err(error) => Some(error),
            }
        };
        if let Some(reason) = &reason {
            tracing::warn!(%reason, "callback spooled locally until JetStream takes it");
        }
        let spool = Arc::clone(spool);
        let pushed = tokio::task::spawn_blocking(move || {
            spool.push(&out)?;
            Ok(spool.pending())
        })
        .await
        .unwrap_or_else(|e| Err(SpoolError::Write(e.to_string())));
        match pushed {
            Ok(position) => Ok(Durable::Spooled(position)),
            Err(spool) => Err(StoreError::Both {
                stream: reason.unwrap_or(PublishError::Disconnected),
                spool,
            }),
        }
    }
}

fn clone_outgoing(out: &Outgoing) -> Outgoing {
    Outgoing {
        subject: out.subject.clone(),
        headers: out.headers.clone(),
        payload: out.payload.clone(),
        message_id: out.message_id.clone(),
    }
}
