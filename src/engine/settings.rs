//! What the engine runs on: the instances, the key prefix, the timeouts, and how to take one
//! lock. Built by `cli::config` from what the user typed; plain data.

use std::time::Duration;

use crate::engine::server::ServerUrl;

/// How much redlock says on stderr besides errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// Where and how to talk to the instances.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The instances; each `rediss://` one carries the `--tls-*` settings it is reached with.
    pub servers: Vec<ServerUrl>,
    pub prefix: String,
    pub connect_timeout: Duration,
    pub op_timeout: Duration,
    pub verbosity: Verbosity,
    /// `--classic`: the lock is the plain key every Redlock library takes (see
    /// [`crate::engine::lock::Keys`]), named by this prefix ('' unless one was given) and the
    /// resource; `None` for redlock's own lock under [`Settings::prefix`].
    pub classic: Option<String>,
}

impl Settings {
    /// N/2 + 1 (integer division), as the contract says.
    pub fn quorum(&self) -> usize {
        quorum_of(self.servers.len())
    }
}

pub fn quorum_of(n: usize) -> usize {
    n / 2 + 1
}

/// How long to wait for a held lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// One attempt (`--no-wait`, or `--wait 0`).
    No,
    /// Up to this long.
    For(Duration),
    /// Until the lock is had (the default).
    Forever,
}

/// How to take one lock: shared by `run` and `acquire`.
#[derive(Debug, Clone)]
pub struct LockSettings {
    pub resource: String,
    pub ttl: Duration,
    pub wait: Wait,
    pub conflict_exit_code: i32,
    /// The token to present; `None` means a fresh random one.
    pub token: Option<String>,
    /// Exclusive, shared, or up to N holders.
    pub mode: crate::engine::lock::Mode,
    /// Record the command line (secrets masked) next to the lock; otherwise only the
    /// program's name.
    pub record_command: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_is_a_strict_majority() {
        assert_eq!([1, 2, 3, 4, 5, 6, 7].map(quorum_of), [1, 2, 2, 3, 3, 4, 4]);
    }
}
