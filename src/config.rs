//! What the user typed, resolved into validated settings the engine runs on. No I/O, except
//! resolving server names to tell two URLs of one instance apart (server::find_alias).

use std::time::Duration;

use crate::cli::{GlobalArgs, LockArgs};
use crate::server::ServerUrl;
use crate::tls::Tls;

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
}

impl Settings {
    pub fn from_args(args: &GlobalArgs) -> Result<Settings, String> {
        if let Some(alias) = crate::server::find_alias(&args.servers) {
            return Err(alias);
        }
        let verbosity = if args.quiet {
            Verbosity::Quiet
        } else if args.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        };
        let tls = Tls {
            ca: args.tls_ca.clone(),
            client: args.tls_cert.clone().zip(args.tls_key.clone()),
        };
        if !tls.is_default() && !args.servers.iter().any(ServerUrl::is_tls) {
            // Refused rather than ignored: whoever names a CA or a client certificate means to
            // use TLS, and would otherwise send the password in the clear.
            return Err(
                "--tls-ca/--tls-cert/--tls-key are given but no server uses rediss://; \
                        write rediss://host:port for TLS"
                    .into(),
            );
        }
        tls.check()?;
        Ok(Settings {
            servers: args.servers.iter().map(|s| s.clone().with_tls(&tls)).collect(),
            prefix: args.prefix.clone(),
            connect_timeout: args.connect_timeout,
            op_timeout: args.op_timeout,
            verbosity,
        })
    }

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
}

impl LockSettings {
    pub fn from_args(args: &LockArgs) -> LockSettings {
        let wait = match (args.no_wait, args.wait) {
            (true, _) => Wait::No,
            (false, Some(d)) if d.is_zero() => Wait::No,
            (false, Some(d)) => Wait::For(d),
            (false, None) => Wait::Forever,
        };
        LockSettings {
            resource: args.resource.clone(),
            ttl: args.ttl,
            wait,
            conflict_exit_code: args.conflict_exit_code,
            token: args.token.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_is_a_strict_majority() {
        assert_eq!([1, 2, 3, 4, 5, 6, 7].map(quorum_of), [1, 2, 2, 3, 3, 4, 4]);
    }
}
