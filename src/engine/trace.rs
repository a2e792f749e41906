//! Where `-v` lines go (the engine never prints on its own), and how the engine's facts read
//! in them. A round names no holder: what a busy lock looks like is worded by the function
//! given here, so the transport (quorum.rs) does not depend on the holder's record.

use std::sync::Arc;

use crate::engine::holder::Busy;
use crate::engine::instance::InstanceError;

/// Where `-v` lines go, and how an instance's error and a busy lock read in them: the CLI's
/// words, which may name a flag.
#[derive(Clone)]
pub struct Trace {
    pub line: Arc<dyn Fn(&str) + Send + Sync>,
    pub error: fn(&InstanceError) -> String,
    pub busy: fn(&Busy) -> String,
}
