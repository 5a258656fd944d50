//! Where events leave roomwatch other than the screen: NDJSON on stdout, and callbacks sent on.

pub mod export;
pub mod headless;
pub mod replay;
pub mod send;
