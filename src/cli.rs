//! Command-line flags and environment variables, turned into a validated configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::ingest::source::Networks;

/// Watch Tencent Cloud TUILiveKit (Live) rooms from a terminal: an embedded webhook receiver
/// and a live dashboard of rooms, members, seats and every callback.
#[derive(Debug, Parser)]
#[command(name = "roomwatch", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Commands>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Post one callback exactly as Tencent would, to roomwatch or any backend.
    Send(SendArgs),
    /// Print recorded callbacks from the journal as NDJSON (the headless line format).
    Export(ExportArgs),
    /// Re-send recorded callbacks, in their original order, to a URL.
    Replay(ReplayArgs),
    /// Print a shell completion script, e.g. `roomwatch completions bash > ~/.local/share/bash-completion/completions/roomwatch`.
    Completions {
        /// bash, zsh, fish, powershell or elvish.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `roomwatch man | man -l -`.
    Man,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Address to listen on. Loopback by default; use 0.0.0.0:PORT to accept from other hosts.
    #[arg(
        short,
        long,
        env = "ROOMWATCH_LISTEN",
        default_value = "127.0.0.1:9000",
        value_parser = parse_listen
    )]
    pub listen: SocketAddr,

    /// The apps' SDKAppIDs, comma-separated (1400000001,1400000002). Callbacks for any other
    /// app are rejected (403). Unset: accept any.
    #[arg(
        long,
        env = "ROOMWATCH_SDKAPPID",
        value_name = "ID,...",
        value_delimiter = ',',
        value_parser = parse_sdkappid
    )]
    pub sdkappid: Vec<String>,

    /// Callback auth token. When set, Sign and RequestTime are required and checked (401).
    #[arg(long, env = "ROOMWATCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Largest RequestTime distance from now accepted, in seconds.
    #[arg(long, env = "ROOMWATCH_SIGN_WINDOW", default_value_t = 60)]
    pub sign_window: u64,

    /// Largest callback body accepted (bytes; K, KiB, M, MiB suffixes allowed). Larger: 413.
    #[arg(long, env = "ROOMWATCH_MAX_BODY", default_value = "1MiB", value_parser = parse_size)]
    pub max_body: usize,

    /// Print one JSON object per callback on stdout instead of drawing the dashboard.
    #[arg(long, conflicts_with = "tui")]
    pub headless: bool,

    /// Draw the dashboard even when stdout is not a terminal.
    #[arg(long)]
    pub tui: bool,

    /// Generate built-in demo traffic: simulated rooms posting callbacks to this receiver.
    #[arg(long)]
    pub demo: bool,

    /// Demo callbacks per second.
    #[arg(long, default_value_t = 4.0, value_parser = parse_rate)]
    pub demo_rate: f64,

    /// Seed for the demo's random choices (same seed, same story).
    #[arg(long)]
    pub demo_seed: Option<u64>,

    /// Stop the demo after this many callbacks (it runs until quit by default).
    #[arg(long)]
    pub demo_events: Option<u64>,

    /// Events kept in memory for the log.
    #[arg(long, env = "ROOMWATCH_HISTORY", default_value_t = 10_000)]
    pub history: usize,

    /// Write diagnostics to this file (the dashboard never prints them on screen).
    #[arg(long, env = "ROOMWATCH_LOG_FILE")]
    pub log_file: Option<PathBuf>,

    /// Do not capture the mouse (keeps the terminal's own text selection).
    #[arg(long)]
    pub no_mouse: bool,

    // Network edge: connection timeouts, the connection cap, shutdown, callback sources.
    /// Time a client has to send a request's headers (e.g. 10s, 500ms); then the connection
    /// closes.
    #[arg(long, env = "ROOMWATCH_HEADER_TIMEOUT", value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// Time a client has to send a request's whole body; then the callback is refused (400,
    /// 40005) and the connection closes.
    #[arg(long, env = "ROOMWATCH_BODY_TIMEOUT", value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    pub body_timeout: Duration,

    /// Time a kept-alive connection may sit with no request in progress before it is closed.
    #[arg(long, env = "ROOMWATCH_IDLE_TIMEOUT", value_name = "DUR", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Connections served at once. Beyond it, a few more are answered (GET /healthz 200,
    /// callbacks 503 with Retry-After) and closed; past those, new connections close at once.
    #[arg(long, env = "ROOMWATCH_MAX_CONNECTIONS", value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Connections answered beyond --max-connections (GET /healthz 200, callbacks 503 with
    /// Retry-After) and closed; past these, new connections close at once. 0: none.
    #[arg(
        long,
        env = "ROOMWATCH_OVERFLOW_CONNECTIONS",
        value_name = "N",
        default_value_t = 64
    )]
    pub overflow_connections: u32,

    /// Largest request head (request line and headers; at least 8KiB). Larger: 431, closed.
    #[arg(long, env = "ROOMWATCH_MAX_HEAD", default_value = "400KiB", value_parser = parse_head_size)]
    pub max_head: usize,

    /// On quit or a signal, how long open requests may still take before they are cut.
    #[arg(long, env = "ROOMWATCH_SHUTDOWN_GRACE", value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Accept callbacks only from these networks (comma-separated, e.g. 203.0.113.0/24,10.0.0.7);
    /// others are refused (403, 40303). GET /healthz answers everyone.
    #[arg(long, env = "ROOMWATCH_ALLOW_FROM", value_name = "CIDR,...")]
    pub allow_from: Option<Networks>,

    /// Reverse proxies whose X-Forwarded-For is believed (comma-separated networks). Without
    /// it the header is ignored and the TCP peer is the source.
    #[arg(long, env = "ROOMWATCH_TRUSTED_PROXY", value_name = "CIDR,...")]
    pub trusted_proxy: Option<Networks>,

    // In front of the app's backend: the relay.
    /// Relay every callback that passes the checks to the app's own backend at this URL
    /// (http or https). "Before" callbacks wait for its answer; others are queued and retried.
    #[arg(long, env = "ROOMWATCH_FORWARD_TO", value_parser = crate::relay::config::parse_target)]
    pub forward_to: Option<reqwest::Url>,

    /// How long a "before" callback waits for the backend before the fallback answers.
    #[arg(long, env = "ROOMWATCH_BEFORE_TIMEOUT", default_value = "1.5s", value_parser = crate::relay::config::parse_duration)]
    pub before_timeout: std::time::Duration,

    /// What the fallback answers: allow, deny, or per command, e.g. gift=deny,msg=allow
    /// (the default: what Tencent itself does without an answer).
    #[arg(long, env = "ROOMWATCH_BEFORE_FALLBACK", default_value = "gift=deny,msg=allow", value_parser = crate::relay::config::parse_fallback)]
    pub before_fallback: crate::relay::FallbackPolicy,

    /// Give up relaying an "after" callback this long after it arrived.
    #[arg(long, env = "ROOMWATCH_RELAY_MAX_AGE", default_value = "1h", value_parser = crate::relay::config::parse_duration)]
    pub relay_max_age: std::time::Duration,

    /// Time limit of one relay attempt of an "after" callback.
    #[arg(long, env = "ROOMWATCH_RELAY_TIMEOUT", default_value = "10s", value_parser = crate::relay::config::parse_duration)]
    pub relay_timeout: std::time::Duration,

    /// Longest wait between two relay attempts (waits double from 250ms, with jitter).
    #[arg(long, env = "ROOMWATCH_RELAY_BACKOFF_MAX", default_value = "30s", value_parser = crate::relay::config::parse_duration)]
    pub relay_backoff_max: std::time::Duration,

    /// Callbacks waiting for the backend, at most. Beyond: 503 + Retry-After to Tencent.
    #[arg(long, env = "ROOMWATCH_RELAY_BACKLOG", default_value = "100000", value_parser = crate::relay::config::parse_count)]
    pub relay_backlog: usize,

    /// Body bytes waiting for the backend, at most (K, KiB, M, MiB). Beyond: 503 + Retry-After.
    #[arg(long, env = "ROOMWATCH_RELAY_BACKLOG_BYTES", default_value = "256MiB", value_parser = parse_size)]
    pub relay_backlog_bytes: usize,

    /// Relay attempts in flight at once, over all rooms.
    #[arg(long, env = "ROOMWATCH_RELAY_PARALLEL", default_value = "32", value_parser = crate::relay::config::parse_count)]
    pub relay_parallel: usize,

    /// Where the dashboard's `r` resends a callback (default: the --forward-to target).
    #[arg(long, env = "ROOMWATCH_RESEND_TO", value_parser = crate::relay::config::parse_target)]
    pub resend_to: Option<reqwest::Url>,

    /// CA certificates (PEM) to trust for an https --forward-to or --resend-to target,
    /// beside the built-in roots: a backend whose certificate a private CA signed.
    #[arg(long, env = "ROOMWATCH_FORWARD_CA", value_name = "PEM", value_parser = crate::relay::config::parse_forward_ca)]
    pub forward_ca: Option<crate::relay::config::ForwardCa>,

    // Memory bounds and time trust.
    /// Memory the in-memory log's events may hold (estimated; K, KiB, M, MiB, G, GiB
    /// suffixes allowed). Beyond it the oldest events leave the log, as with --history.
    #[arg(long, env = "ROOMWATCH_HISTORY_BYTES", default_value = "256MiB", value_parser = parse_size)]
    pub history_bytes: usize,

    /// Rooms kept in state. Beyond it the longest-ended room is evicted; when every room is
    /// live, the one whose latest event is oldest. The header counts evictions.
    #[arg(long, env = "ROOMWATCH_MAX_ROOMS", default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_rooms: u64,

    /// How far ahead of arrival an EventTime is trusted, in seconds. Further ahead: the event
    /// is ordered by its arrival and marked clock-skew.
    #[arg(long, env = "ROOMWATCH_MAX_CLOCK_SKEW", default_value_t = 300)]
    pub max_clock_skew: u64,

    /// Headless: seconds to wait at exit for stdout to take the remaining lines. Whatever is
    /// left is counted on stderr.
    #[arg(long, env = "ROOMWATCH_DRAIN_TIMEOUT", default_value_t = 10)]
    pub drain_timeout: u64,

    // Dashboard display.
    /// Show times in UTC instead of the local time zone.
    #[arg(long, env = "ROOMWATCH_UTC")]
    pub utc: bool,

    /// Monochrome dashboard (bold, dim and reverse video only). Also on when NO_COLOR is set
    /// to anything non-empty.
    #[arg(long)]
    pub no_color: bool,

    /// Config file (TOML: [run] options, [keys], [theme]). Default:
    /// $XDG_CONFIG_HOME/roomwatch/config.toml (~/.config/roomwatch/config.toml) if it exists.
    #[arg(long, env = "ROOMWATCH_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    // Journal: every callback recorded durably before it is answered.
    /// The journal file (default: $XDG_DATA_HOME/roomwatch/journal.sqlite; the demo uses
    /// demo.sqlite there). A journal named here that cannot be used stops roomwatch.
    #[arg(long, env = "ROOMWATCH_JOURNAL", value_name = "PATH")]
    pub journal: Option<PathBuf>,

    /// Run without a journal: nothing recorded, nothing restored.
    #[arg(long, env = "ROOMWATCH_NO_JOURNAL", conflicts_with = "journal")]
    pub no_journal: bool,

    /// How hard each commit is pushed to disk: normal survives a crash or kill -9, full also
    /// a power loss.
    #[arg(
        long,
        env = "ROOMWATCH_JOURNAL_SYNC",
        value_enum,
        default_value = "normal"
    )]
    pub journal_sync: crate::eventlog::SyncMode,

    /// Delete journal records older than this (e.g. 7d, 12h, 30m).
    #[arg(long, env = "ROOMWATCH_RETAIN", default_value = "30d", value_parser = parse_duration_ms)]
    pub retain: i64,

    /// Delete the oldest journal records while the journal is larger than this (e.g. 2GiB).
    #[arg(long, env = "ROOMWATCH_RETAIN_SIZE", default_value = "10GiB", value_parser = parse_big_size)]
    pub retain_size: u64,

    // Per-room bounds.
    /// Members tracked per room. Beyond it new accounts are not tracked: the room's online
    /// count shows as a lower bound (`N+`) and the detail pane says how many updates were left out.
    #[arg(long, env = "ROOMWATCH_MAX_MEMBERS_PER_ROOM", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_members_per_room: u64,

    /// Admin accounts tracked per room; beyond it new accounts are counted, not tracked.
    #[arg(long, env = "ROOMWATCH_MAX_ADMINS_PER_ROOM", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_admins_per_room: u64,

    /// Metadata keys tracked per room (deleted keys included); beyond it new keys are
    /// counted, not tracked.
    #[arg(long, env = "ROOMWATCH_MAX_METADATA_PER_ROOM", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_metadata_per_room: u64,

    // Scale out over NATS JetStream.
    /// NATS servers (comma-separated; nats:// or tls://, user:password@ allowed). Callbacks are
    /// published to a JetStream stream and answered once it acknowledged them; the dashboard
    /// and the headless output follow the stream (every receiver's callbacks).
    #[arg(
        long,
        env = "ROOMWATCH_NATS",
        value_delimiter = ',',
        value_name = "URLS"
    )]
    pub nats: Option<Vec<String>>,

    /// NATS credentials file (JWT and NKey seed).
    #[arg(
        long,
        env = "ROOMWATCH_NATS_CREDS",
        value_name = "FILE",
        requires = "nats"
    )]
    pub nats_creds: Option<PathBuf>,

    /// CA certificate (PEM) to trust for tls:// NATS servers, beside the system's roots.
    #[arg(
        long,
        env = "ROOMWATCH_NATS_TLS_CA",
        value_name = "FILE",
        requires = "nats"
    )]
    pub nats_tls_ca: Option<PathBuf>,

    /// The JetStream stream (created if missing).
    #[arg(long, env = "ROOMWATCH_NATS_STREAM", default_value = "ROOMWATCH", value_parser = parse_stream_name)]
    pub nats_stream: String,

    /// The first tokens of every subject: <prefix>.<app>.<kind>.<partition>.
    #[arg(long, env = "ROOMWATCH_NATS_SUBJECT_PREFIX", default_value = "roomwatch", value_parser = parse_subject_prefix)]
    pub nats_subject_prefix: String,

    /// Replicas of the stream when roomwatch creates it (1, 3 or 5 in a cluster).
    #[arg(long, env = "ROOMWATCH_NATS_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub nats_replicas: u8,

    /// Delete stream records older than this, when roomwatch creates the stream (e.g. 7d, 12h).
    #[arg(long, env = "ROOMWATCH_NATS_MAX_AGE", default_value = "7d", value_parser = parse_duration_ms)]
    pub nats_max_age: i64,

    /// Delete the oldest stream records while the stream is larger than this, when roomwatch
    /// creates the stream.
    #[arg(long, env = "ROOMWATCH_NATS_MAX_BYTES", default_value = "10GiB", value_parser = parse_big_size)]
    pub nats_max_bytes: u64,

    /// A callback published again within this window (a retry) is stored once.
    #[arg(long, env = "ROOMWATCH_NATS_DUPLICATE_WINDOW", default_value = "2m", value_parser = parse_duration_ms)]
    pub nats_duplicate_window: i64,

    /// How long a receiver waits for JetStream to acknowledge a callback before it keeps the
    /// callback in the local spool instead (Tencent waits 2 s for an answer).
    #[arg(long, env = "ROOMWATCH_NATS_PUBLISH_TIMEOUT", default_value = "1s", value_parser = parse_duration)]
    pub nats_publish_timeout: Duration,

    /// The receiver's spool: callbacks JetStream did not take in time, kept until NATS is
    /// back (default: $XDG_DATA_HOME/roomwatch/spool-<stream>-<port>.sqlite).
    #[arg(
        long,
        env = "ROOMWATCH_NATS_SPOOL",
        value_name = "PATH",
        requires = "nats"
    )]
    pub nats_spool: Option<PathBuf>,

    /// No spool: a callback JetStream did not take in time is answered 503 with Retry-After.
    #[arg(long, env = "ROOMWATCH_NO_NATS_SPOOL", conflicts_with = "nats_spool")]
    pub no_nats_spool: bool,

    /// Callbacks the spool holds at most; beyond it callbacks JetStream did not take are
    /// answered 503 with Retry-After.
    #[arg(long, env = "ROOMWATCH_NATS_SPOOL_MAX", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub nats_spool_max: u64,

    /// This receiver's name in each record (default: host name and listen port).
    #[arg(
        long,
        env = "ROOMWATCH_NATS_RECEIVER",
        value_name = "NAME",
        requires = "nats"
    )]
    pub nats_receiver: Option<String>,

    /// With --forward-to: how long a receiver may hold a callback of the shared relay without
    /// a sign of life before another receiver takes it over (it renews the claim every third
    /// of this while it retries the backend).
    #[arg(long, env = "ROOMWATCH_NATS_RELAY_CLAIM", default_value = "30s", value_parser = parse_duration)]
    pub nats_relay_claim: Duration,

    /// A receiver stores a checkpoint of the folded state every this many records (0: never),
    /// so that viewers start from it instead of from the whole stream.
    #[arg(
        long,
        env = "ROOMWATCH_NATS_CHECKPOINT_EVERY",
        default_value_t = 50_000
    )]
    pub nats_checkpoint_every: u64,

    /// Do not receive callbacks: only view the stream (needs --nats).
    #[arg(
        long,
        env = "ROOMWATCH_NO_LISTEN",
        requires = "nats",
        conflicts_with = "demo"
    )]
    pub no_listen: bool,

    // Journal tuning.
    /// The journal's WAL is copied back into its database file once it holds this many 4 KiB
    /// pages (about 40 MiB by default); the WAL file is cut back to that size afterwards.
    /// Smaller means less disk, more copying per callback.
    #[arg(long, env = "ROOMWATCH_JOURNAL_WAL_PAGES", default_value_t = crate::eventlog::sqlite::WAL_PAGES, value_parser = clap::value_parser!(u32).range(1..))]
    pub journal_wal_pages: u32,

    // Threads.
    /// Threads that receive callbacks (the async runtime's workers). Default: the CPU cores.
    /// The printer, the dashboard and the journal writer run on threads of their own, and the
    /// room state is one, behind a lock: a headless receiver on a small machine shared with
    /// other work may do better with fewer.
    #[arg(long, env = "ROOMWATCH_WORKERS", value_name = "N", value_parser = crate::relay::config::parse_count)]
    pub workers: Option<usize>,
}

/// The default of `--workers`: the CPU cores.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

impl RunArgs {
    /// The apps accepted, each once, in the order given; empty: any.
    pub fn sdkappids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::with_capacity(self.sdkappid.len());
        for id in &self.sdkappid {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        ids
    }
}

/// Which recorded callbacks `export` and `replay` select.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// The journal to read (default: the one roomwatch writes by default).
    #[arg(long, env = "ROOMWATCH_JOURNAL", value_name = "PATH")]
    pub journal: Option<PathBuf>,

    /// Only this room.
    #[arg(long, value_name = "ID")]
    pub room: Option<String>,

    /// Only callbacks for this app (the SdkAppid of their query string): with --room, that
    /// app's room of that id.
    #[arg(long, value_name = "ID", value_parser = parse_sdkappid)]
    pub sdkappid: Option<String>,

    /// Only this command: the full name or its short form (AfterCreateRoom).
    #[arg(long, value_name = "NAME")]
    pub command: Option<String>,

    /// Only this verdict.
    #[arg(long, value_parser = ["accepted", "rejected", "unrecognized"])]
    pub verdict: Option<String>,

    /// Received at or after: a time (2026-11-21T21:40:00Z) or a span back from now (10m, 2h, 7d).
    #[arg(long, value_name = "TIME", value_parser = parse_time_ms)]
    pub since: Option<i64>,

    /// Received before: a time or a span back from now.
    #[arg(long, value_name = "TIME", value_parser = parse_time_ms)]
    pub until: Option<i64>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// Read the JetStream stream on these NATS servers instead of the journal (everything it
    /// held when export started).
    #[arg(
        long,
        env = "ROOMWATCH_NATS",
        value_delimiter = ',',
        value_name = "URLS",
        conflicts_with = "journal"
    )]
    pub nats: Option<Vec<String>>,

    /// NATS credentials file (JWT and NKey seed).
    #[arg(
        long,
        env = "ROOMWATCH_NATS_CREDS",
        value_name = "FILE",
        requires = "nats"
    )]
    pub nats_creds: Option<PathBuf>,

    /// CA certificate (PEM) to trust for tls:// NATS servers.
    #[arg(
        long,
        env = "ROOMWATCH_NATS_TLS_CA",
        value_name = "FILE",
        requires = "nats"
    )]
    pub nats_tls_ca: Option<PathBuf>,

    /// The JetStream stream to read.
    #[arg(long, env = "ROOMWATCH_NATS_STREAM", default_value = "ROOMWATCH", value_parser = parse_stream_name)]
    pub nats_stream: String,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// Where to send, e.g. http://127.0.0.1:9000/callback (its path replaces the recorded one).
    #[arg(long)]
    pub to: String,

    /// Re-sign each callback with a fresh RequestTime and this token (a recorded Sign is stale
    /// after 60 s).
    #[arg(long, env = "ROOMWATCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Callbacks per second at most (default: as fast as answers come).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Print what would be sent, send nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Parses a span like `90s`, `30m`, `12h`, `7d`, `2w` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    crate::units::parse_span_ms(text)
}

/// A point in time as Unix ms: RFC 3339 (`2026-11-21T21:40:00Z`) or a span back from now.
pub fn parse_time_ms(text: &str) -> Result<i64, String> {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    if let Ok(at) = OffsetDateTime::parse(text.trim(), &Rfc3339) {
        return i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
            .map_err(|_| format!("{text:?} is out of range"));
    }
    let span = parse_duration_ms(text).map_err(|_| {
        format!("{text:?} is neither a time like 2026-11-21T21:40:00Z nor a span like 10m")
    })?;
    Ok(crate::ingest::receiver::now_ms() - span)
}

/// A request head limit: a size of at least 8 KiB (hyper's smallest read buffer).
fn parse_head_size(text: &str) -> Result<usize, String> {
    let size = parse_size(text)?;
    if size < crate::ingest::server::MIN_HEAD {
        return Err(format!("{text:?}: a request head limit is at least 8KiB"));
    }
    Ok(size)
}

/// A JetStream stream name: letters, digits, `-` and `_`.
fn parse_stream_name(text: &str) -> Result<String, String> {
    if !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(text.to_string())
    } else {
        Err("a stream name is 1 to 64 letters, digits, '-' or '_'".to_string())
    }
}

fn parse_subject_prefix(text: &str) -> Result<String, String> {
    crate::nats::subject::check_prefix(text).map(|()| text.to_string())
}

/// Parses sizes up to terabytes: `1048576`, `512MiB`, `2GiB`, `1T` (binary units).
pub fn parse_big_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 512MiB or 2GiB"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit {other:?}: use KiB, MiB, GiB or TiB"
            ));
        }
    };
    number
        .checked_mul(factor)
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{text:?} is not a usable size"))
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// A command name (e.g. Live.CallbackAfterCreateRoom) for its built-in sample, a JSON
    /// file, or - to read the body from standard input.
    #[arg(required_unless_present = "list")]
    pub what: Option<String>,

    /// Where to post: a URL, or host:port (http:// is assumed). Default: the local listener,
    /// http://ROOMWATCH_LISTEN/callback (http://127.0.0.1:9000/callback).
    #[arg(long)]
    pub to: Option<String>,

    /// SdkAppid to put in the query string.
    #[arg(long, env = "ROOMWATCH_SDKAPPID", default_value = "1400000001", value_parser = parse_sdkappid)]
    pub sdkappid: String,

    /// Sign the request with this token (adds Sign and a fresh RequestTime).
    #[arg(long, env = "ROOMWATCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Set a body field before sending: Field=Value or RoomInfo.RoomName=Value. Values that
    /// parse as JSON are sent as JSON (numbers, true, [..]); others as strings.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub set: Vec<String>,

    /// ClientIP query parameter.
    #[arg(long, default_value = "127.0.0.1")]
    pub client_ip: String,

    /// OptPlatform query parameter.
    #[arg(long, default_value = "RESTAPI")]
    pub platform: String,

    /// Keep the sample's EventTime instead of setting it to now.
    #[arg(long)]
    pub keep_time: bool,

    /// List the built-in samples.
    #[arg(long)]
    pub list: bool,
}

/// Parses `1048576`, `512K`, `512KiB`, `1M`, `1MiB`, `1G`, `1GiB` (binary units either way).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 1048576, 512KiB or 1MiB"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
                "unknown size unit {other:?}: use K/KiB, M/MiB or G/GiB"
            ));
        }
    };
    number
        .checked_mul(factor)
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{text:?} is not a usable size"))
}

/// Parses a span (`500ms`, `1.5s`, `10s`, `2m`, `1h`, plain seconds; see [`crate::units`]).
/// Zero is refused: every limit bites.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::units::parse_span(text)
}

/// Parses a listen address; a bare port (`9100`, `:9100`) means loopback, 127.0.0.1:PORT.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let port = text.strip_prefix(':').unwrap_or(text);
    if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
        return port
            .parse::<u16>()
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
            .map_err(|_| format!("{text:?}: a port is 0 to 65535"));
    }
    text.parse().map_err(|_| {
        format!("{text:?} is not an address: use 9100, :9100, 127.0.0.1:9100 or 0.0.0.0:9100")
    })
}

/// An SDKAppID is a number, e.g. 1400000001.
pub fn parse_sdkappid(text: &str) -> Result<String, String> {
    let text = text.trim();
    if !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not an SDKAppID: it is a number such as 1400000001"
        ))
    }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 10_000.0 => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a rate between 0 and 10000 per second"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1MiB"), Ok(1_048_576));
        assert_eq!(parse_size("512k"), Ok(524_288));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err());
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("1TiB").is_err());
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_big_size("2GiB"), Ok(2 << 30));
        assert!(parse_big_size("0").is_err());
    }

    #[test]
    fn spans() {
        assert_eq!(parse_duration_ms("7d"), Ok(7 * 86_400_000));
        assert_eq!(parse_duration_ms("30m"), Ok(1_800_000));
        assert!(parse_duration_ms("7x").is_err());
        assert_eq!(parse_time_ms("2026-11-21T21:40:00Z"), Ok(1_795_297_200_000));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_mins(2)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(
            parse_duration("5h"),
            Ok(Duration::from_hours(5)),
            "one unit set for every span"
        );
    }

    #[test]
    fn listen_addresses() {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 9100));
        assert_eq!(parse_listen("9100"), Ok(loopback));
        assert_eq!(parse_listen(":9100"), Ok(loopback));
        assert_eq!(parse_listen("127.0.0.1:9100"), Ok(loopback));
        assert_eq!(
            parse_listen("0.0.0.0:9100"),
            Ok(SocketAddr::from(([0, 0, 0, 0], 9100)))
        );
        assert!(parse_listen("99999").is_err());
        assert!(parse_listen("localhost").is_err());
        assert!(parse_listen(":").is_err());
    }

    #[test]
    fn sdkappids_are_numbers() {
        assert_eq!(parse_sdkappid("1400000001"), Ok("1400000001".into()));
        assert!(parse_sdkappid("abc").is_err());
        assert!(parse_sdkappid("").is_err());
        assert!(parse_sdkappid("14000x").is_err());
    }

    #[test]
    fn flags_parse() {
        Cli::command_for_test();
    }

    impl Cli {
        fn command_for_test() {
            use clap::CommandFactory;
            Self::command().debug_assert();
        }
    }
}
