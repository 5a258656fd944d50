//! Checkpoints of the folded state in a JetStream object store, so that a viewer rebuilds from
//! the newest checkpoint plus the records after it instead of from the whole stream (at some
//! 30,000 records a second, a week of a busy app would take many minutes).
//!
//! Receivers write one every `--nats-checkpoint-every` records they folded: the object
//! `state` in the bucket `<stream>_CHECKPOINTS` (created with the stream's replicas), its
//! description `seq=N`. A receiver never replaces a newer checkpoint with an older one. A
//! checkpoint that cannot be read is ignored: the viewer rebuilds from the stream.

use async_nats::jetstream::object_store::{self, ObjectMetadata};
use tokio::io::AsyncReadExt;

use super::StreamLog;
use crate::store::{Checkpoint, RoomStore};

/// The object's name in the bucket.
const OBJECT: &str = "state";
/// The first bytes of every checkpoint: its format, so a reader never misreads another.
/// Version 2: rooms keyed by (app, room). A version-1 checkpoint is not read (the stream is
/// folded from the start instead, which gives the same state).
const MAGIC: &[u8] = b"roomwatch-checkpoint-2\n";

impl StreamLog {
    fn checkpoint_bucket(&self) -> String {
        format!("{}_CHECKPOINTS", self.options.stream)
    }

    async fn checkpoint_store(&self) -> Result<object_store::ObjectStore, String> {
        let bucket = self.checkpoint_bucket();
        if let Ok(store) = self.jetstream.get_object_store(&bucket).await {
            return Ok(store);
        }
        self.jetstream
            .create_object_store(object_store::Config {
                bucket,
                description: Some("roomwatch: checkpoints of the folded state".to_string()),
                num_replicas: self.options.replicas,
                ..object_store::Config::default()
            })
            .await
            .map_err(|e| e.to_string())
    }

    /// Which stream a checkpoint belongs to: the stream's creation time. A stream deleted and
    /// made again under the same name starts over at seq 1; its old checkpoint must not count.
    async fn stream_identity(&self) -> Result<String, String> {
        let mut stream = self
            .jetstream
            .get_stream(&self.options.stream)
            .await
            .map_err(|e| e.to_string())?;
        let info = stream.info().await.map_err(|e| e.to_string())?;
        Ok(info.created.unix_timestamp_nanos().to_string())
    }

    /// The sequence the stored checkpoint is at, if there is one for this stream.
    async fn checkpoint_seq(
        &self,
        store: &object_store::ObjectStore,
        identity: &str,
    ) -> Option<u64> {
        let info = store.info(OBJECT).await.ok()?;
        parse_description(&info.description?, identity)
    }

    /// Stores `state` (folded up to its last seq) unless a checkpoint at least as new is
    /// there. Returns whether it was stored.
    pub async fn save_checkpoint(&self, state: RoomStore) -> Result<bool, String> {
        let seq = state.last_seq();
        let identity = self.stream_identity().await?;
        let store = self.checkpoint_store().await?;
        if self
            .checkpoint_seq(&store, &identity)
            .await
            .is_some_and(|s| s >= seq)
        {
            return Ok(false);
        }
        // Encoding a large state takes a while: off the runtime's threads.
        let bytes = tokio::task::spawn_blocking(move || {
            let mut bytes = MAGIC.to_vec();
            postcard::to_io(&state.checkpoint().for_storage(), &mut bytes)?;
            Ok::<_, postcard::Error>(bytes)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        let meta = ObjectMetadata {
            name: OBJECT.to_string(),
            description: Some(format!("seq={seq} stream={identity}")),
            ..ObjectMetadata::default()
        };
        store
            .put(meta, &mut bytes.as_slice())
            .await
            .map_err(|e| e.to_string())?;
        Ok(true)
    }

    /// The newest checkpoint as a store with an empty log keeping `log_capacity` events, or
    /// `None` (none yet, or unreadable: said in the log).
    pub async fn load_checkpoint(&self, log_capacity: usize) -> Option<RoomStore> {
        let store = self
            .jetstream
            .get_object_store(self.checkpoint_bucket())
            .await
            .ok()?;
        let identity = self.stream_identity().await.ok()?;
        let info = store.info(OBJECT).await.ok()?;
        if parse_description(info.description.as_deref().unwrap_or(""), &identity).is_none() {
            tracing::warn!(
                "the checkpoint belongs to an earlier stream of the same name; rebuilding from the stream"
            );
            return None;
        }
        let mut object = store.get(OBJECT).await.ok()?;
        let mut bytes = Vec::new();
        if let Err(error) = object.read_to_end(&mut bytes).await {
            tracing::warn!(%error, "the stream's checkpoint could not be read; rebuilding from the stream");
            return None;
        }
        let decoded = tokio::task::spawn_blocking(move || {
            let body = bytes
                .strip_prefix(MAGIC)
                .ok_or("not a roomwatch checkpoint")?;
            postcard::from_bytes::<Checkpoint>(body).map_err(|_| "unreadable checkpoint")
        })
        .await
        .ok()?;
        match decoded {
            Ok(checkpoint) => Some(RoomStore::from_checkpoint(checkpoint, log_capacity)),
            Err(error) => {
                tracing::warn!(
                    error,
                    "the stream's checkpoint is not usable; rebuilding from the stream"
                );
                None
            }
        }
    }
}

/// The seq of a checkpoint description (`seq=N stream=ID`) when it names this stream.
fn parse_description(description: &str, identity: &str) -> Option<u64> {
    let mut seq = None;
    let mut stream = None;
    for part in description.split_whitespace() {
        if let Some(value) = part.strip_prefix("seq=") {
            seq = value.parse().ok();
        } else if let Some(value) = part.strip_prefix("stream=") {
            stream = Some(value);
        }
    }
    seq.filter(|_| stream == Some(identity))
}

#[cfg(test)]
mod tests {
    use super::parse_description;

    #[test]
    fn a_checkpoint_counts_only_for_its_own_stream() {
        assert_eq!(parse_description("seq=42 stream=17", "17"), Some(42));
        assert_eq!(parse_description("seq=42 stream=17", "18"), None);
        assert_eq!(parse_description("seq=42", "17"), None);
        assert_eq!(parse_description("nonsense", "17"), None);
    }
}
