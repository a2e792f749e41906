//! What the user reads when the engine says no: each typed error as one line that says what
//! failed and what to do next (naming the flag to try), and the failure that carries its exit
//! code. The engine states facts; the next step is the CLI's business.

use crate::cli::exit::{Failure, BUSY, FAILURE};
use crate::cli::words;
use crate::engine::error::LockError;
use crate::process::signals;

/// Appended to an unavailable error when no server was given: the user may not know that
/// redlock tried one.
pub const DEFAULT_SERVER_USED: &str = " (no --server or REDLOCK_SERVERS was given, so the default \
     redis://127.0.0.1:6379 was used)";

/// The failure for `err`; `conflict_exit_code` is `-E`'s value for a busy lock.
pub fn failure(err: &LockError, conflict_exit_code: i32) -> Failure {
    match err {
        LockError::Held { waited, .. } => {
            let hint = if *waited {
                ""
            } else {
                "; use --wait DUR to queue for it"
            };
            Failure::Busy {
                message: format!("{}{hint}", text(err)),
                code: conflict_exit_code,
            }
        }
        LockError::Unavailable { .. } => unavailable(err, "to answer"),
        LockError::LeaseTooShort { .. } => Failure::Other(format!("{}; use a longer --ttl", text(err))),
        LockError::NotHolder { .. } => Failure::NotHolder(text(err)),
        LockError::LimitMismatch { .. } => Failure::Other(format!(
            "{}; every holder of a resource must use the same --limit (exclusive and --shared holds count as 1)",
            text(err)
        )),
        LockError::Interrupted { resource, signal } => Failure::Interrupted {
            signal: *signal,
            message: format!(
                "interrupted by {} while waiting for lock '{resource}'; nothing is held",
                signals::name(*signal)
            ),
        },
    }
}

/// The exit code for any error a command returns: an engine error by the failure it becomes
/// here (the codes themselves are exit.rs's), a [`Failure`] by its own, anything else 1.
pub fn code_of(err: &anyhow::Error) -> i32 {
    if let Some(e) = err.downcast_ref::<LockError>() {
        return failure(e, BUSY).code();
    }
    match err.downcast_ref::<Failure>() {
        Some(f) => f.code(),
        None => FAILURE,
    }
}

/// `err` with an engine error in it replaced by its failure (a busy lock with the default
/// code); any other error as it is.
pub fn explain(err: anyhow::Error) -> anyhow::Error {
    match err.downcast::<LockError>() {
        Ok(e) => failure(&e, BUSY).into(),
        Err(other) => other,
    }
}

/// The one exit-69 message: who did not answer, how many are needed `purpose` ("to tell who
/// holds what"), and what to check: the servers and URLs, or the credentials when one of them
/// refused us.
pub fn unavailable(err: &LockError, purpose: &str) -> Failure {
    let next = match err {
        LockError::Unavailable { refused: true, .. } => {
            "check the passwords, the TLS settings and the --server URLs"
        }
        _ => "check that they are up and the --server URLs",
    };
    Failure::Unavailable(format!("{} {purpose}: {next}", text(err)))
}

/// What `err` says, in the user's words: its holder as [`words::holder`] names it, and each
/// instance's error as [`words::server_error`] does.
pub fn text(err: &LockError) -> String {
    match err {
        LockError::Held { resource, busy, .. } => words::busy(resource, busy),
        LockError::Unavailable { errors, .. } => err.unavailable_line(errors.iter().map(words::server_error)),
        LockError::NotHolder { holder, .. } => err.not_holder_line(holder.as_ref().map(words::holder)),
        LockError::LimitMismatch { holder, .. } => err.mismatch_line(holder.as_ref().map(words::holder)),
        // Nothing in these needs a flag or a holder worded.
        LockError::LeaseTooShort { .. } | LockError::Interrupted { .. } => err.to_string(),
    }
}
