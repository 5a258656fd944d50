//! The relay shared by every receiver: one durable JetStream consumer per partition
//! (`relay-p00`..`relay-p15`), each with at most one callback in flight across the whole group.
//! So each callback reaches the backend once per group (at least once: a receiver that dies
//! between the backend's answer and its acknowledgement hands that one callback on), in
//! order per room (a room lives in one partition), and a receiver that dies mid-relay hands
//! its partitions' pending work to the others once its acknowledgement deadline passes.
//! "Before" callbacks are not here: the receiver that took one relays it synchronously.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use futures_util::StreamExt;

use super::subject::{self, PARTITIONS};
use super::{StreamLog, record};
use crate::event::Verdict;
use crate::relay::Relay;
use crate::relay::request::is_synchronous;

/// How long one pull waits for a callback before asking again.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// The durable consumer's name for `partition`.
pub fn consumer_name(partition: u32) -> String {
    format!("relay-{}", subject::partition_token(partition))
}

impl StreamLog {
    /// Runs this receiver's share of the relay until `stop` resolves.
    pub async fn run_shared_relay(&self, relay: Arc<Relay>, stop: impl Future<Output = ()>) {
        let tasks: Vec<_> = (0..PARTITIONS)
            .map(|partition| {
                let (log, relay) = (self.clone(), Arc::clone(&relay));
                tokio::spawn(async move { log.relay_partition(partition, &relay).await })
            })
            .collect();
        stop.await;
        for task in tasks {
            task.abort();
        }
    }

    async fn relay_partition(&self, partition: u32, relay: &Relay) {
        loop {
            if let Err(error) = self.relay_partition_once(partition, relay).await {
                tracing::warn!(partition, %error, "shared relay: retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    async fn relay_partition_once(&self, partition: u32, relay: &Relay) -> Result<(), String> {
        let stream = self.ensure_stream().await.map_err(|e| e.to_string())?;
        let name = consumer_name(partition);
        let consumer: async_nats::jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(
                &name,
                pull::Config {
                    durable_name: Some(name.clone()),
                    description: Some("roomwatch: the relay to the app's backend".to_string()),
                    filter_subject: subject::of_partition(&self.options.subject_prefix, partition),
                    ack_policy: AckPolicy::Explicit,
                    // Only callbacks from when the relay was first started: never the whole
                    // history of a stream that existed before.
                    deliver_policy: DeliverPolicy::New,
                    max_ack_pending: 1,
                    ack_wait: self.options.relay_claim,
                    max_deliver: -1,
                    ..pull::Config::default()
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let mut batch = consumer
                .fetch()
                .max_messages(1)
                .expires(PULL_EXPIRES)
                .messages()
                .await
                .map_err(|e| e.to_string())?;
            while let Some(message) = batch.next().await {
                let message = message.map_err(|e| e.to_string())?;
                let seq = message.info().map_or(0, |info| info.stream_sequence);
                let event = match record::decode(message.headers.as_ref(), &message.payload, seq) {
                    Ok(event) => event,
                    Err(error) => {
                        tracing::warn!(seq, %error, "shared relay: unreadable record, skipped");
                        let _ = message.ack_with(AckKind::Term).await;
                        continue;
                    }
                };
                let relayed_elsewhere = event.verdict == Verdict::Rejected
                    || event
                        .callback
                        .as_ref()
                        .is_some_and(|c| is_synchronous(c.command));
                if !relayed_elsewhere {
                    // Renew the claim on this callback while the backend is retried.
                    let deliver = relay.deliver(&event);
                    tokio::pin!(deliver);
                    let mut progress = tokio::time::interval(self.options.relay_claim / 3);
                    progress.tick().await;
                    loop {
                        tokio::select! {
                            () = &mut deliver => break,
                            _ = progress.tick() => {
                                let _ = message.ack_with(AckKind::Progress).await;
                            }
                        }
                    }
                }
                // Waits for the server's confirmation, so that a lost acknowledgement shows.
                if let Err(error) = message.double_ack().await {
                    tracing::warn!(seq, %error, "shared relay: acknowledgement lost; the callback may be relayed again");
                }
            }
        }
    }
}
