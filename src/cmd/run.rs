//! `redlock run`: hold the lock for exactly as long as a command runs.

use anyhow::{bail, Result};

use super::Context;
use crate::cli::RunArgs;

pub fn execute(_ctx: &Context, _args: &RunArgs) -> Result<i32> {
    bail!("run is not implemented yet")
}
