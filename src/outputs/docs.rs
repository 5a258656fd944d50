//! `roomwatch completions SHELL` and `roomwatch man`: shell completions and a man page,
//! generated from the command-line definitions themselves so they never drift from them.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: Shell) -> ExitCode {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "roomwatch", &mut io::stdout());
    ExitCode::SUCCESS
}

/// Prints the man page (roff) on stdout.
pub fn man() -> ExitCode {
    let mut page = Vec::new();
    let rendered = clap_mangen::Man::new(Cli::command()).render(&mut page);
    match rendered.and_then(|()| io::stdout().write_all(&page)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roomwatch: cannot write the man page: {e}");
            ExitCode::FAILURE
        }
    }
}
