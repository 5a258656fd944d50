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
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use futures_util::StreamExt;
use tokio::sync::watch;

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

/// How a partition's turn with one callback ended.
enum Turn {
    /// Relayed (or nothing to relay): acknowledge it.
    Done,
    /// Stopping, or the claim could not be renewed: leave it to the next receiver.
    Release,
}

impl StreamLog {
    fn consumer_config(&self, partition: u32) -> pull::Config {
        let name = consumer_name(partition);
        pull::Config {
            durable_name: Some(name),
            description: Some("roomwatch: the relay to the app's backend".to_string()),
            filter_subject: subject::of_partition(&self.options.subject_prefix, partition),
            ack_policy: AckPolicy::Explicit,
            // Only callbacks from when the relay was first set up: never the whole history of
            // a stream that existed before. Receivers set the consumers up before they publish
            // anything (see `ensure_relay_consumers`), so no callback falls before that.
            deliver_policy: DeliverPolicy::New,
            max_ack_pending: 1,
            ack_wait: self.options.relay_claim,
            max_deliver: -1,
            ..pull::Config::default()
        }
    }

    /// Makes sure the sixteen relay consumers exist. A receiver with `--forward-to` publishes
    /// nothing (it spools) until this succeeded, so that no callback lands in the stream
    /// before the consumers that must relay it.
    pub async fn ensure_relay_consumers(&self) -> Result<Vec<PullConsumer>, String> {
        let stream = self.ensure_stream().await.map_err(|e| e.to_string())?;
        let mut consumers = Vec::new();
        for partition in 0..PARTITIONS {
            let consumer: PullConsumer = stream
                .get_or_create_consumer(&consumer_name(partition), self.consumer_config(partition))
                .await
                .map_err(|e| e.to_string())?;
            consumers.push(consumer);
        }
        Ok(consumers)
    }

    /// Runs this receiver's share of the relay until `stop` turns true: sets the consumers up
    /// (then says so on `ready`), and relays. On stop, a callback in flight is handed back at
    /// once (a negative acknowledgement) rather than after the claim runs out.
    pub async fn run_shared_relay(
        &self,
        relay: Arc<Relay>,
        ready: watch::Sender<bool>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            match self.ensure_relay_consumers().await {
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "shared relay: the consumers are not set up yet; retrying in 1 s");
                }
            }
            tokio::select! {
                () = until_stopped(&mut stop) => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        ready.send_replace(true);
        let tasks: Vec<_> = (0..PARTITIONS)
            .map(|partition| {
                let (log, relay, stop) = (self.clone(), Arc::clone(&relay), stop.clone());
                tokio::spawn(async move { log.relay_partition(partition, &relay, stop).await })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }

    async fn relay_partition(
        &self,
        partition: u32,
        relay: &Relay,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            match self.relay_partition_once(partition, relay, &mut stop).await {
                Ok(()) => return,
                Err(error) => tracing::warn!(partition, %error, "shared relay: retrying in 1 s"),
            }
            tokio::select! {
                () = until_stopped(&mut stop) => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Relays the partition's callbacks one at a time; `Ok` once stopped.
    async fn relay_partition_once(
        &self,
        partition: u32,
        relay: &Relay,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), String> {
        let stream = self.ensure_stream().await.map_err(|e| e.to_string())?;
        let consumer: PullConsumer = stream
            .get_or_create_consumer(&consumer_name(partition), self.consumer_config(partition))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let fetch = consumer
                .fetch()
                .max_messages(1)
                .expires(PULL_EXPIRES)
                .messages();
            let mut batch = tokio::select! {
                () = until_stopped(stop) => return Ok(()),
                batch = fetch => batch.map_err(|e| e.to_string())?,
            };
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
                let turn = if relayed_elsewhere {
                    Turn::Done
                } else {
                    self.relay_holding_claim(&message, &event, relay, stop)
                        .await
                };
                match turn {
                    Turn::Done => {
                        // Waits for the server's confirmation, so that a lost one shows.
                        if let Err(error) = message.double_ack().await {
                            tracing::warn!(seq, %error, "shared relay: acknowledgement lost; the callback may be relayed again");
                        }
                    }
                    Turn::Release => {
                        let _ = message.ack_with(AckKind::Nak(None)).await;
                        if *stop.borrow() {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    /// Relays one callback, renewing the claim on it every third of `--nats-relay-claim`. A
    /// claim that could not be renewed for a whole claim period is taken to be lost (another
    /// receiver may have it by now): the attempt is dropped, so that two receivers never send
    /// one partition's callbacks side by side.
    async fn relay_holding_claim(
        &self,
        message: &async_nats::jetstream::Message,
        event: &crate::event::Event,
        relay: &Relay,
        stop: &mut watch::Receiver<bool>,
    ) -> Turn {
        let claim = self.options.relay_claim;
        let deliver = relay.deliver(event);
        tokio::pin!(deliver);
        let mut renew = tokio::time::interval((claim / 3).max(Duration::from_millis(50)));
        renew.tick().await;
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = &mut deliver => return Turn::Done,
                () = until_stopped(stop) => return Turn::Release,
                _ = renew.tick() => {
                    if message.ack_with(AckKind::Progress).await.is_ok() && self.connected() {
                        renewed = tokio::time::Instant::now();
                    } else if renewed.elapsed() >= claim {
                        tracing::warn!(seq = event.seq, "shared relay: the claim on a callback could not be renewed; leaving it to another receiver");
                        return Turn::Release;
                    }
                }
            }
        }
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn until_stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}
