//! Where events leave roomwatch other than the screen: NDJSON on stdout, and callbacks sent on;
//! plus the generated shell completions and man page.

pub mod docs;
pub mod headless;
pub mod send;
