//! `redlock completions SHELL`: print a completion script generated from the CLI definition.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::exit;

pub fn execute(args: &CompletionsArgs) -> Result<i32> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "redlock", &mut out);
    super::print(&String::from_utf8_lossy(&out))?;
    Ok(exit::OK)
}
