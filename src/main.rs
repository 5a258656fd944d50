use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    roomwatch::run(roomwatch::cli::Cli::parse()).await
}
