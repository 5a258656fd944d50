//! The config file (TOML): run options, key overrides and theme overrides.
//!
//! Precedence, highest first: command line, environment, config file, built-in default. The
//! file is found at `--config PATH` (or `ROOMWATCH_CONFIG`), else
//! `$XDG_CONFIG_HOME/roomwatch/config.toml` (`~/.config/roomwatch/config.toml`) when it exists.
//! Every error names the file and the line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory};
use thiserror::Error;
use toml::{Table, Value};

use crate::cli::Cli;

pub mod keys;
pub mod theme;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    At {
        path: String,
        line: usize,
        message: String,
    },
}

/// A parsed config file, with what the dashboard takes from it.
#[derive(Debug, Default)]
pub struct Config {
    /// Run options as extra command-line arguments (only those not given otherwise).
    pub run: Vec<(String, Value, usize)>,
    pub keys: keys::KeyOverrides,
    pub theme: theme::ThemeOverrides,
}

/// The default location: `$XDG_CONFIG_HOME/roomwatch/config.toml`, else
/// `$HOME/.config/roomwatch/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("roomwatch").join("config.toml"))
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where `key` is set inside `[section]`, for error messages.
pub(crate) fn key_line(text: &str, section: &str, key: &str) -> usize {
    let mut in_section = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_section = t.trim_start_matches('[').trim_end_matches(']').trim() == section;
            continue;
        }
        let name = t.split('=').next().unwrap_or("").trim().trim_matches('"');
        if in_section && name == key {
            return i + 1;
        }
    }
    0
}

/// Reads and checks a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    parse(&text, &shown)
}

/// Checks config text; `path` names it in errors.
pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
    let at = |line: usize, message: String| ConfigError::At {
        path: path.to_string(),
        line,
        message,
    };
    let table: Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e.span().map_or(0, |s| line_of(text, s.start));
        at(line, e.message().trim().to_string())
    })?;
    let mut config = Config::default();
    let run_names = run_flag_names();
    for (section, value) in &table {
        let Value::Table(entries) = value else {
            return Err(at(
                key_line_top(text, section),
                format!("{section} must be a [section]: run, keys or theme"),
            ));
        };
        for (key, value) in entries {
            let line = key_line(text, section, key);
            match section.as_str() {
                "run" => {
                    let flag = key.replace('_', "-");
                    if !run_names.contains(&flag) {
                        return Err(at(line, format!("unknown run option {key:?}")));
                    }
                    let value = match value {
                        Value::Array(items) if LIST_OPTIONS.contains(&flag.as_str()) => {
                            Value::String(comma_list(items).map_err(|m| at(line, m))?)
                        }
                        Value::Table(_) | Value::Array(_) => {
                            return Err(at(line, format!("{key} takes one value")));
                        }
                        other => other.clone(),
                    };
                    config.run.push((flag, value, line));
                }
                "keys" => config
                    .keys
                    .add(key, value)
                    .map_err(|message| at(line, message))?,
                "theme" => config
                    .theme
                    .add(key, value)
                    .map_err(|message| at(line, message))?,
                _ => {
                    return Err(at(
                        key_line_top(text, section),
                        format!("unknown section [{section}]: use [run], [keys] or [theme]"),
                    ));
                }
            }
        }
    }
    Ok(config)
}

/// Run options that take a comma-separated list, which the file may also give as an array.
const LIST_OPTIONS: &[&str] = &["sdkappid", "allow-from", "trusted-proxy"];

/// `["1400000001", 1400000002]` as the command line's `1400000001,1400000002`.
fn comma_list(items: &[Value]) -> Result<String, String> {
    let texts = items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            Value::Integer(n) => Ok(n.to_string()),
            other => Err(format!("a list item is text or a number, not {other}")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(texts.join(","))
}

fn key_line_top(text: &str, section: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = l.trim();
            t.trim_start_matches('[').trim_end_matches(']').trim() == section
                || t.split('=').next().unwrap_or("").trim() == section
        })
        .map_or(0, |i| i + 1)
}

/// The long names of the run options (the flags of the main command), but `config` itself.
fn run_flag_names() -> Vec<String> {
    Cli::command()
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .filter(|l| l != "config" && l != "help" && l != "version")
        .collect()
}

/// The arguments to add for the config's run options that the command line and environment
/// left at their defaults.
pub fn extra_args(config: &Config, matches: &ArgMatches) -> Result<Vec<OsString>, String> {
    Ok(extra_args_with_lines(config, matches)?
        .into_iter()
        .map(|(arg, _)| arg)
        .collect())
}

/// [`extra_args`], each with the line it came from.
fn extra_args_with_lines(
    config: &Config,
    matches: &ArgMatches,
) -> Result<Vec<(OsString, usize)>, String> {
    let command = Cli::command();
    let mut out = Vec::new();
    for (flag, value, line) in &config.run {
        let Some(arg) = command.get_arguments().find(|a| a.get_long() == Some(flag)) else {
            continue;
        };
        let id = arg.get_id().as_str();
        let given = matches
            .value_source(id)
            .is_some_and(|s| matches!(s, ValueSource::CommandLine | ValueSource::EnvVariable));
        if given {
            continue;
        }
        let takes_value = arg.get_action().takes_values();
        match value {
            Value::Boolean(on) if !takes_value => {
                if *on {
                    out.push((OsString::from(format!("--{flag}")), *line));
                }
            }
            Value::Boolean(_) => {
                return Err(format!("line {line}: {flag} takes a value, not true/false"));
            }
            _ if !takes_value => {
                return Err(format!("line {line}: {flag} is true or false"));
            }
            Value::String(s) => out.push((OsString::from(format!("--{flag}={s}")), *line)),
            Value::Integer(n) => out.push((OsString::from(format!("--{flag}={n}")), *line)),
            Value::Float(f) => out.push((OsString::from(format!("--{flag}={f}")), *line)),
            other => out.push((OsString::from(format!("--{flag}={other}")), *line)),
        }
    }
    Ok(out)
}

/// Parses the command line with the config file folded in. Exits like clap on bad flags
/// (status 2), and with status 2 and the file's line on a bad config file.
pub fn parse_args(argv: Vec<OsString>) -> (Cli, Config) {
    let matches = Cli::command().get_matches_from(argv.clone());
    let explicit = matches.get_one::<PathBuf>("config").cloned();
    let path = explicit
        .clone()
        .or_else(|| default_path().filter(|p| p.is_file()));
    let from = |matches: &ArgMatches| {
        <Cli as clap::FromArgMatches>::from_arg_matches(matches).unwrap_or_else(|e| e.exit())
    };
    // Subcommands (send, completions, man) take no config.
    let Some(path) = path.filter(|_| matches.subcommand().is_none()) else {
        return (from(&matches), Config::default());
    };
    let config = load(&path).unwrap_or_else(|e| fail(&e.to_string()));
    let extra = extra_args_with_lines(&config, &matches)
        .unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
    // A value clap refuses is reported at its line in the file.
    for (arg, line) in &extra {
        if let Err(e) = Cli::command().try_get_matches_from(["roomwatch".into(), arg.clone()]) {
            let reason = e.to_string();
            let first = reason.lines().next().unwrap_or_default();
            fail(&format!(
                "{}:{line}: {}",
                path.display(),
                first.trim_start_matches("error: ")
            ));
        }
    }
    let mut full = vec![argv.first().cloned().unwrap_or_else(|| "roomwatch".into())];
    full.extend(extra.into_iter().map(|(arg, _)| arg));
    full.extend(argv.into_iter().skip(1));
    let matches = Cli::command().get_matches_from(full);
    (from(&matches), config)
}

fn fail(message: &str) -> ! {
    eprintln!("roomwatch: {message}");
    std::process::exit(2)
}
