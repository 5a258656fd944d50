//! roomwatch: watch Tencent Cloud TUILiveKit (Live) rooms from a terminal.
//!
//! Data flows one way: the [`receiver`] checks each callback ([`auth`], [`protocol`]) and hands
//! it to the [`hub`], which numbers it, folds it into the [`store`] and broadcasts it to the
//! dashboard or the [`headless`] printer.

pub mod app;
pub mod auth;
pub mod cli;
pub mod demo;
pub mod event;
pub mod headless;
pub mod hub;
pub mod intake;
pub mod keymap;
pub mod protocol;
pub mod query;
pub mod receiver;
pub mod runner;
pub mod samples;
pub mod send;
pub mod store;
pub mod terminal;
pub mod ui;

pub use runner::run;
