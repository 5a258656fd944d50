//! Connecting to NATS and making sure the stream exists with the configured retention.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use tokio::sync::watch;

use super::subject;

/// How to reach NATS and what the stream looks like.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// Server URLs (`nats://`, `tls://`; user and password may be in the URL).
    pub servers: Vec<String>,
    /// A `.creds` file (JWT and NKey seed).
    pub creds: Option<PathBuf>,
    /// A CA certificate to trust for `tls://` servers.
    pub tls_ca: Option<PathBuf>,
    pub stream: String,
    pub subject_prefix: String,
    pub replicas: usize,
    pub max_age: Duration,
    pub max_bytes: i64,
    pub duplicate_window: Duration,
    /// How long a receiver waits for JetStream to acknowledge one publish.
    pub publish_timeout: Duration,
    /// This receiver's name in each record.
    pub receiver: String,
    /// How long a shared relay callback may stay unacknowledged before another receiver
    /// takes it over.
    pub relay_claim: Duration,
    /// Create the stream when missing (receivers). Viewers and `export` only read: a
    /// mistyped name must not make a new stream.
    pub create_stream: bool,
}

impl NatsOptions {
    /// Defaults for everything but the servers.
    pub fn new(servers: Vec<String>) -> Self {
        Self {
            servers,
            creds: None,
            tls_ca: None,
            stream: "ROOMWATCH".to_string(),
            subject_prefix: "roomwatch".to_string(),
            replicas: 1,
            max_age: Duration::from_hours(7 * 24),
            max_bytes: 10 << 30,
            duplicate_window: Duration::from_mins(2),
            publish_timeout: Duration::from_secs(5),
            receiver: "roomwatch".to_string(),
            relay_claim: Duration::from_secs(30),
            create_stream: true,
        }
    }

    /// The stream's configuration: every subject under the prefix, kept on disk.
    pub fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.stream.clone(),
            subjects: vec![subject::all(&self.subject_prefix)],
            max_age: self.max_age,
            max_bytes: self.max_bytes,
            duplicate_window: self.duplicate_window,
            num_replicas: self.replicas,
            storage: stream::StorageType::File,
            description: Some("roomwatch: Tencent Live callbacks".to_string()),
            ..stream::Config::default()
        }
    }
}

/// Why NATS could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no NATS server URL given")]
    NoServers,
    #[error("{0}")]
    Options(String),
    #[error("cannot read NATS credentials {path}: {source}")]
    Creds {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot connect to NATS at {servers}: {reason}")]
    Connect { servers: String, reason: String },
    #[error("JetStream stream {stream}: {reason}")]
    Stream { stream: String, reason: String },
}

/// A connection to NATS with the stream in place.
#[derive(Clone)]
pub struct StreamLog {
    pub options: Arc<NatsOptions>,
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
    /// Whether the client holds a connection now; watchers see each reconnection.
    connected: Arc<watch::Sender<bool>>,
    /// The highest stream sequence this process had acknowledged (a viewer of its own
    /// callbacks follows at least this far before exiting).
    acked: Arc<AtomicU64>,
}

impl StreamLog {
    /// Connects and makes sure the stream exists. Once connected, the client reconnects by
    /// itself for as long as the process runs. With `offline_ok` (a receiver with a spool),
    /// NATS away at start is not an error: the client keeps trying in the background and
    /// the stream is made once NATS is there.
    pub async fn connect(options: NatsOptions, offline_ok: bool) -> Result<Self, ConnectError> {
        if options.servers.is_empty() {
            return Err(ConnectError::NoServers);
        }
        subject::check_prefix(&options.subject_prefix).map_err(ConnectError::Options)?;
        let servers = redacted(&options.servers);
        let addrs: Vec<async_nats::ServerAddr> = options
            .servers
            .iter()
            .map(|url| {
                url.parse().map_err(|e| {
                    ConnectError::Options(format!("NATS server URL {url:?} is not valid: {e}"))
                })
            })
            .collect::<Result<_, _>>()?;
        let connected = Arc::new(watch::channel(false).0);
        // user:password@ (or token@) in a URL: the client takes them from its options, not
        // from the URL.
        let login = addrs.iter().find_map(|addr| {
            Some((
                addr.username()?.to_string(),
                addr.password().map(str::to_string),
            ))
        });
        let first = client_options(&options, &connected, login.clone())
            .await?
            .connect(addrs.as_slice())
            .await;
        let client = match first {
            Ok(client) => {
                connected.send_replace(true);
                client
            }
            Err(error) if offline_ok => {
                tracing::warn!(%error, "NATS is not reachable at start; callbacks go to the spool until it is");
                client_options(&options, &connected, login)
                    .await?
                    .retry_on_initial_connect()
                    .connect(addrs.as_slice())
                    .await
                    .map_err(|e| ConnectError::Connect {
                        servers: servers.clone(),
                        reason: e.to_string(),
                    })?
            }
            Err(error) => {
                return Err(ConnectError::Connect {
                    servers,
                    reason: error.to_string(),
                });
            }
        };
        let mut jetstream = jetstream::new(client.clone());
        // A cluster under load can take more than the default 5 s to place a replicated stream.
        jetstream.set_timeout(Duration::from_secs(10));
        let log = Self {
            options: Arc::new(options),
            client,
            jetstream,
            connected,
            acked: Arc::new(AtomicU64::new(0)),
        };
        if log.connected() {
            match log.ensure_stream_patiently().await {
                Ok(_) => {}
                // The spool holds callbacks until the stream is there; the drainer and the
                // follower make it then.
                Err(error) if offline_ok => {
                    tracing::warn!(%error, "the stream is not ready yet; callbacks go to the spool until it is");
                }
                Err(error) if !log.options.create_stream => {
                    eprintln!("roomwatch: {error}; waiting for it (a receiver creates it)");
                }
                Err(error) => return Err(error),
            }
        }
        Ok(log)
    }

    /// Creates the stream when missing; an existing stream is used as it is (its retention
    /// is the operator's to change).
    pub async fn ensure_stream(&self) -> Result<stream::Stream, ConnectError> {
        let found = if self.options.create_stream {
            self.jetstream
                .get_or_create_stream(self.options.stream_config())
                .await
                .map_err(|e| e.to_string())
        } else {
            self.jetstream
                .get_stream(&self.options.stream)
                .await
                .map_err(|e| format!("{e} (no such stream yet?)"))
        };
        found.map_err(|reason| ConnectError::Stream {
            stream: self.options.stream.clone(),
            reason,
        })
    }

    /// Records that JetStream acknowledged `seq` to this process.
    pub(crate) fn note_acked(&self, seq: u64) {
        self.acked.fetch_max(seq, Ordering::Relaxed);
    }

    /// The highest stream sequence acknowledged to this process.
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// [`Self::ensure_stream`], tried three times: a cluster that just started may not have
    /// elected the leader that creates streams.
    async fn ensure_stream_patiently(&self) -> Result<stream::Stream, ConnectError> {
        let mut last = None;
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            match self.ensure_stream().await {
                Ok(stream) => return Ok(stream),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or(ConnectError::NoServers))
    }

    /// Whether the client holds a connection now.
    pub fn connected(&self) -> bool {
        *self.connected.borrow()
    }

    /// Follows the connection state (a consumer recreates itself when NATS comes back).
    pub fn connection(&self) -> watch::Receiver<bool> {
        self.connected.subscribe()
    }

    /// Where the log lives, for the header.
    pub fn describe(&self) -> String {
        format!(
            "JetStream {} at {}",
            self.options.stream,
            self.options.servers.join(",")
        )
    }
}

/// The client's options: name, timeouts, credentials, and the connection state kept in
/// `connected` as the client reports it.
async fn client_options(
    options: &NatsOptions,
    connected: &Arc<watch::Sender<bool>>,
    login: Option<(String, Option<String>)>,
) -> Result<async_nats::ConnectOptions, ConnectError> {
    let state = Arc::clone(connected);
    let mut connect = async_nats::ConnectOptions::new()
        .name(format!("roomwatch {}", options.receiver))
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |event| {
            let state = Arc::clone(&state);
            async move {
                match event {
                    async_nats::Event::Connected => {
                        state.send_replace(true);
                        tracing::info!("NATS connected");
                    }
                    async_nats::Event::Disconnected => {
                        state.send_replace(false);
                        tracing::warn!("NATS disconnected; reconnecting");
                    }
                    other => tracing::info!(event = %other, "NATS"),
                }
            }
        });
    match login {
        Some((user, Some(password))) => connect = connect.user_and_password(user, password),
        Some((token, None)) => connect = connect.token(token),
        None => {}
    }
    if let Some(path) = &options.tls_ca {
        connect = connect.add_root_certificates(path.clone());
    }
    if let Some(path) = &options.creds {
        connect = connect
            .credentials_file(path)
            .await
            .map_err(|source| ConnectError::Creds {
                path: path.clone(),
                source,
            })?;
    }
    Ok(connect)
}

/// The server URLs with any password replaced by `***`, for messages and the header.
pub fn redacted(servers: &[String]) -> String {
    servers
        .iter()
        .map(|url| match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let userinfo = &url[scheme + 3..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                    // A lone user part is a token.
                    None => format!("{}***{}", &url[..scheme + 3], &url[at..]),
                }
            }
            _ => url.clone(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redacted(&["nats://rw:s3cret@h:4222".into(), "tls://h2:4222".into()]),
            "nats://rw:***@h:4222,tls://h2:4222"
        );
        assert_eq!(redacted(&["nats://t0ken@h".into()]), "nats://***@h");
    }
}
