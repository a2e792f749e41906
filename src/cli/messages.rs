//! What the user reads when the engine says no: each typed error as one line that says what
//! failed and what to do next (naming the flag to try), and the failure that carries its exit
//! code. The engine states facts; the next step is the CLI's business.

use crate::cli::exit::{Failure, BUSY};
use crate::engine::error::LockError;
use crate::process::signals;

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
                message: format!("{err}{hint}"),
                code: conflict_exit_code,
            }
        }
        LockError::Unavailable { .. } => unavailable(err, "to answer"),
        LockError::LeaseTooShort { .. } => Failure::Other(format!("{err}; use a longer --ttl")),
        LockError::NotHolder { .. } => Failure::NotHolder(err.to_string()),
        LockError::LimitMismatch { .. } => Failure::Other(format!(
            "{err}; every holder of a resource must use the same --limit (--shared and exclusive holds: 1)"
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
    Failure::Unavailable(format!("{err} {purpose}: {next}"))
}
