//! `redlock completions SHELL`: print a completion script generated from the CLI definition.
//! The checked-in copies in `completions/` are this output (`tests/generated.rs`).

use anyhow::Result;
use clap_complete::{Generator, Shell};

use crate::cli::args::CompletionsArgs;
use crate::cli::exit;

pub fn execute(args: &CompletionsArgs) -> Result<i32> {
    super::print(&String::from_utf8_lossy(&script(args.shell)))?;
    Ok(exit::OK)
}

/// The completion script for `shell`, as `redlock completions SHELL` prints it.
pub fn script(shell: Shell) -> Vec<u8> {
    crate::cli::complete::script(shell)
}

/// The name the script is installed under (`redlock.bash`, `_redlock`, `redlock.fish`, …).
pub fn file_name(shell: Shell) -> String {
    shell.file_name("redlock")
}
