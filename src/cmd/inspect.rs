//! `redlock inspect`: who holds a lock, on every instance; or every lock under the prefix.

use anyhow::{bail, Result};

use super::Context;
use crate::cli::InspectArgs;

pub fn execute(_ctx: &Context, _args: &InspectArgs) -> Result<i32> {
    bail!("inspect is not implemented yet")
}
