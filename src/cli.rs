//! Command-line flags and environment variables, turned into a validated configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Watch Tencent Cloud TUILiveKit (Live) rooms from a terminal: an embedded webhook receiver
/// and a live dashboard of rooms, members, seats and every callback.
#[derive(Debug, Parser)]
#[command(name = "roomwatch", version, about, long_about = None)]
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
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Address to listen on. Loopback by default; use 0.0.0.0:PORT to accept from other hosts.
    #[arg(
        short,
        long,
        env = "ROOMWATCH_LISTEN",
        default_value = "127.0.0.1:9000"
    )]
    pub listen: SocketAddr,

    /// The app's SDKAppID. Callbacks for any other app are rejected (403). Unset: accept any.
    #[arg(long, env = "ROOMWATCH_SDKAPPID")]
    pub sdkappid: Option<String>,

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
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// A command name (e.g. Live.CallbackAfterCreateRoom) for its built-in sample, a JSON
    /// file, or - to read the body from standard input.
    #[arg(required_unless_present = "list")]
    pub what: Option<String>,

    /// Where to post, e.g. http://127.0.0.1:9000/callback.
    #[arg(long, required_unless_present = "list")]
    pub to: Option<String>,

    /// SdkAppid to put in the query string.
    #[arg(long, env = "ROOMWATCH_SDKAPPID", default_value = "1400000001")]
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
