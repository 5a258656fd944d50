//! Where events leave roomwatch other than the screen: NDJSON on stdout, and callbacks sent on;
//! plus the generated shell completions and man page.

pub mod docs;
pub mod export;
pub mod headless;
pub mod replay;
pub mod send;
