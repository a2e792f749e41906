//! Why a lock operation failed, as data: the engine's typed errors. `cli::messages` turns them
//! into what the user reads (with the flag to try next) and `cli::exit` into exit codes; the
//! `Display` here is the plain fact, naming no flag (for tests and debugging).

use std::fmt;
use std::time::Duration;

use crate::engine::holder::{Busy, Holder};
use crate::engine::instance::ServerError;

#[derive(Debug, Clone)]
pub enum LockError {
    /// Held elsewhere, and the wait (if any) is over. `waited` is false for a single attempt.
    Held {
        resource: String,
        busy: Busy,
        waited: bool,
    },
    /// Too few instances answered, or they refused us (authentication, TLS).
    Unavailable {
        /// Instances that answered (n minus those that failed).
        answered: usize,
        n: usize,
        needed: usize,
        refused: bool,
        /// Each instance that did not answer, with its error.
        errors: Vec<ServerError>,
    },
    /// A quorum answered, but too late: no validity was left of a lease of `ttl`.
    LeaseTooShort {
        resource: String,
        ttl: Duration,
        elapsed: Duration,
        drift: Duration,
    },
    /// The token does not hold the lock on a quorum; `holder` is who does, if anyone.
    NotHolder {
        resource: String,
        renewed: usize,
        n: usize,
        needed: usize,
        holder: Option<Holder>,
    },
    /// A signal ended the wait; every attempt undid itself, so nothing is held.
    Interrupted { resource: String, signal: i32 },
    /// Held with another N (`--limit`; exclusive and shared holds count as 1); nothing was
    /// changed.
    LimitMismatch {
        resource: String,
        ours: u32,
        theirs: u32,
        holder: Option<Holder>,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Held { resource, busy, .. } => f.write_str(&busy.describe(resource)),
            LockError::Unavailable { errors, .. } => {
                f.write_str(&self.unavailable_line(errors.iter().map(ToString::to_string)))
            }
            LockError::LeaseTooShort {
                resource,
                ttl,
                elapsed,
                drift,
            } => write!(
                f,
                "lock '{resource}': the lease of {} ran out before a quorum answered (that took {}ms, \
                 and {}ms are kept for clock drift)",
                humantime::format_duration(*ttl),
                elapsed.as_millis(),
                drift.as_millis()
            ),
            LockError::NotHolder { holder, .. } => {
                f.write_str(&self.not_holder_line(holder.as_ref().map(Holder::fact)))
            }
            LockError::LimitMismatch { holder, .. } => {
                f.write_str(&self.mismatch_line(holder.as_ref().map(Holder::who)))
            }
            LockError::Interrupted { resource, signal } => write!(
                f,
                "interrupted by signal {signal} while waiting for lock '{resource}'; nothing is held"
            ),
        }
    }
}

impl std::error::Error for LockError {}

impl LockError {
    /// An `Unavailable` error's sentence, each instance's error worded by the caller.
    pub fn unavailable_line(&self, errors: impl Iterator<Item = String>) -> String {
        let LockError::Unavailable {
            answered, n, needed, ..
        } = self
        else {
            return self.to_string();
        };
        format!(
            "only {answered} of {n} servers answered ({} of {n} servers did not: {}); need {needed}",
            n - answered,
            errors.collect::<Vec<_>>().join("; ")
        )
    }

    /// A `LimitMismatch` error's sentence, its holder (if any) worded by the caller.
    pub fn mismatch_line(&self, holder: Option<String>) -> String {
        let LockError::LimitMismatch {
            resource,
            ours,
            theirs,
            ..
        } = self
        else {
            return self.to_string();
        };
        let by = holder.map_or(String::new(), |h| format!(" ({h})"));
        format!("lock '{resource}' is held with a limit of {theirs}{by}, and this asks for a limit of {ours}")
    }

    /// A `NotHolder` error's sentence, its holder (if any) worded by the caller.
    pub fn not_holder_line(&self, holder: Option<String>) -> String {
        let LockError::NotHolder {
            resource,
            renewed,
            n,
            needed,
            ..
        } = self
        else {
            return self.to_string();
        };
        let whose = match holder {
            Some(h) => format!("it is {h}"),
            None => "it is free (the lease expired or was released)".to_string(),
        };
        format!("lock '{resource}' is not held by that token on a quorum ({renewed} of {n}, need {needed}): {whose}")
    }
}
