//! Where events leave roomwatch other than the screen: NDJSON on stdout, and callbacks sent on.

pub mod headless;
pub mod send;
