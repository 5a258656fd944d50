//! roomwatch: watch Tencent Cloud TUILiveKit (Live) rooms from a terminal.
//!
//! Data flows one way: the [`ingest`] path checks each callback ([`ingest::auth`], [`protocol`])
//! and hands it to the [`hub`], which numbers it, folds it into the [`store`] and broadcasts it
//! to the dashboard ([`tui`]) or the [`outputs`]. The [`eventlog`] keeps it durably on one
//! machine; with NATS, [`nats`] carries it through a JetStream stream shared by many receivers
//! and viewers.

pub mod cli;
pub mod config;
pub mod demo;
pub mod escape;
pub mod event;
pub mod eventlog;
pub mod hub;
pub mod ingest;
pub mod nats;
pub mod outputs;
pub mod protocol;
pub mod rawbody;
pub mod relay;
pub mod runner;
pub mod store;
pub mod tui;
pub mod units;

pub use runner::run;
