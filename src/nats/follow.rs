//! The viewer's side: rebuild room state from the stream, then follow it live. Every viewer
//! reads the same records in the same order (stream sequence) and folds them with the same
//! reducer, so every viewer shows the same state whichever receiver took which callback.

use std::sync::Arc;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use futures_util::StreamExt;
use tokio::sync::watch;

use super::{StreamLog, record};
use crate::hub::Hub;

/// How far a viewer has come, for the header and for callers waiting to catch up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowStatus {
    /// The stream sequence of the last record applied.
    pub applied: u64,
    /// The stream's last sequence when following started; reached means caught up.
    pub start_last: u64,
    /// Records that could not be read (written by a newer roomwatch, or damaged).
    pub unreadable: u64,
}

impl FollowStatus {
    pub fn caught_up(&self) -> bool {
        self.applied >= self.start_last
    }
}

/// Why following stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("JetStream stream {stream}: {reason}")]
    Stream { stream: String, reason: String },
}

impl StreamLog {
    /// Applies every record after `after` to `hub` in stream order, then keeps following
    /// until `stop` resolves or, with `until_caught_up`, until the records that were in the
    /// stream at the start are applied.
    pub async fn follow_into(
        &self,
        hub: &Arc<Hub>,
        after: u64,
        status: &watch::Sender<FollowStatus>,
        until_caught_up: bool,
        stop: impl Future<Output = ()>,
    ) -> Result<(), FollowError> {
        self.read_stream(after, status, until_caught_up, stop, |event| {
            hub.publish_numbered(event);
        })
        .await
    }

    /// Hands every readable record after `after` to `each`, numbered with its stream
    /// sequence, in stream order; stops as [`Self::follow_into`] does.
    pub async fn read_stream(
        &self,
        after: u64,
        status: &watch::Sender<FollowStatus>,
        until_caught_up: bool,
        stop: impl Future<Output = ()>,
        mut each: impl FnMut(crate::event::Event),
    ) -> Result<(), FollowError> {
        let stream_error = |reason: String| FollowError::Stream {
            stream: self.options.stream.clone(),
            reason,
        };
        tokio::pin!(stop);
        // Setting up can take a while with NATS away: a stop must not wait for it.
        let setup = async {
            let stream = self
                .ensure_stream()
                .await
                .map_err(|e| stream_error(e.to_string()))?;
            let info = stream
                .get_info()
                .await
                .map_err(|e| stream_error(e.to_string()))?;
            Ok::<_, FollowError>((stream, info))
        };
        let (stream, info) = tokio::select! {
            () = &mut stop => return Ok(()),
            setup = setup => setup?,
        };
        if info.state.last_sequence < after {
            // A stream younger than what was folded: it was deleted and made again.
            tracing::error!(
                applied = after,
                last = info.state.last_sequence,
                "the stream holds fewer records than were folded: it was deleted and created again; restart to rebuild from it"
            );
            return Err(stream_error(
                "the stream was deleted and created again; restart to rebuild from it".to_string(),
            ));
        }
        status.send_modify(|s| {
            s.applied = s.applied.max(after);
            s.start_last = info.state.last_sequence;
        });
        // Nothing left to read: caught up (an idle stream's records may all have expired).
        if until_caught_up && (after >= info.state.last_sequence || info.state.messages == 0) {
            return Ok(());
        }
        let deliver_policy = if after == 0 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: after + 1,
            }
        };
        let setup = async {
            let consumer = stream
                .create_consumer(pull::OrderedConfig {
                    deliver_policy,
                    ..pull::OrderedConfig::default()
                })
                .await
                .map_err(|e| stream_error(e.to_string()))?;
            consumer
                .messages()
                .await
                .map_err(|e| stream_error(e.to_string()))
        };
        let mut messages = tokio::select! {
            () = &mut stop => return Ok(()),
            messages = setup => messages?,
        };
        // After a reconnection the server may have lost this ephemeral consumer (a restarted
        // node): start a new one from the last record applied rather than wait to find out.
        let mut connection = self.connection();
        connection.mark_unchanged();
        loop {
            let message = tokio::select! {
                () = &mut stop => return Ok(()),
                changed = connection.changed() => {
                    if changed.is_ok() && *connection.borrow_and_update() {
                        return Err(stream_error("NATS reconnected; following again".to_string()));
                    }
                    continue;
                }
                next = messages.next() => match next {
                    Some(Ok(message)) => message,
                    Some(Err(error)) => {
                        // The ordered consumer recreates itself after a gap or a reconnect.
                        tracing::warn!(%error, "JetStream consumer");
                        continue;
                    }
                    None => return Err(stream_error("the consumer ended".to_string())),
                },
            };
            let Ok(info) = message.info() else {
                continue;
            };
            let seq = info.stream_sequence;
            match record::decode(message.headers.as_ref(), &message.payload, seq) {
                Ok(event) => each(event),
                Err(error) => {
                    tracing::warn!(seq, %error, "unreadable record in the stream, skipped");
                    status.send_modify(|s| s.unreadable += 1);
                }
            }
            status.send_modify(|s| s.applied = s.applied.max(seq));
            // `pending == 0`: nothing after this one now, even if the stream's last record
            // (the target) was deleted.
            if until_caught_up && (seq >= status.borrow().start_last || info.pending == 0) {
                return Ok(());
            }
        }
    }
}
