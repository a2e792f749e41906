//! Exit codes and the few failures that change them: one table, the same as the README's
//! ("Exit codes").

use std::fmt;

/// Success, or the command exited 0.
pub const OK: i32 = 0;
/// `release`/`extend`: the lock is not held by that token; any other failure not listed here.
pub const FAILURE: i32 = 1;
/// Usage: bad flag, duration, URL, resource name (clap's own code).
pub const USAGE: i32 = 2;
/// A quorum of instances could not be reached or refused us.
pub const UNAVAILABLE: i32 = 69;
/// The lock was lost while the command ran; the command was terminated.
pub const LOCK_LOST: i32 = 70;
/// Busy: held elsewhere (`--no-wait`, or `--wait` ran out); `-E` changes it.
pub const BUSY: i32 = 75;
/// `--timeout` ran out; the command was terminated (as `timeout(1)`).
pub const TIMEOUT: i32 = 124;
/// The command could not be executed.
pub const NOT_EXECUTABLE: i32 = 126;
/// The command was not found.
pub const NOT_FOUND: i32 = 127;
/// Interrupted by SIGINT while waiting for the lock (any signal N: 128 + N).
pub const INTERRUPTED_INT: i32 = 130;
/// Interrupted by SIGTERM while waiting for the lock.
pub const INTERRUPTED_TERM: i32 = 143;

/// Who an exit code applies to: every man page lists only its own command's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// Every command that talks to the servers.
    Servers,
    /// Only these subcommands.
    Only(&'static [&'static str]),
    /// Every command, `completions` included.
    All,
}

/// Subcommands that never talk to a server, so never exit 1 or 69 (`completions` only prints).
pub const OFFLINE_COMMANDS: &[&str] = &["completions"];

impl Applies {
    /// Whether a row applies to `command` (a subcommand's name); `None`, the main page, lists
    /// every row.
    pub fn includes(self, command: Option<&str>) -> bool {
        match (self, command) {
            (_, None) | (Applies::All, _) => true,
            (Applies::Servers, Some(name)) => !OFFLINE_COMMANDS.contains(&name),
            (Applies::Only(names), Some(name)) => names.contains(&name),
        }
    }
}

/// The rows of [`TABLE`] that `command` can exit with (`None`: every row): each man page's
/// EXIT STATUS.
pub fn rows_for(command: Option<&str>) -> impl Iterator<Item = &'static Row> + '_ {
    TABLE.iter().filter(move |row| row.applies.includes(command))
}

/// Whether `command` passes its command's own status through (`run`; the main page says so).
pub fn passes_status_through(command: Option<&str>) -> bool {
    matches!(command, None | Some("run"))
}

/// One row of the exit status table.
pub struct Row {
    pub codes: &'static [i32],
    /// Any signal N while waiting: 128 + N besides the codes listed.
    pub any_signal: bool,
    pub meaning: &'static str,
    pub applies: Applies,
}

impl Row {
    /// `126, 127`, or `130, 143, 128 + N`: the codes as the man page and README list them.
    pub fn label(&self) -> String {
        let mut parts: Vec<String> = self.codes.iter().map(i32::to_string).collect();
        if self.any_signal {
            parts.push("128 + N".into());
        }
        parts.join(", ")
    }
}

/// The table of exit codes (the README's "Exit codes"): the man pages' EXIT STATUS is
/// rendered from it, and tests/readme.rs checks the README's table against the man page.
pub const TABLE: &[Row] = &[
    Row {
        codes: &[OK],
        any_signal: false,
        meaning: "Success; for run, the command exited 0.",
        applies: Applies::All,
    },
    Row {
        codes: &[FAILURE],
        any_signal: false,
        meaning: "release, extend: the lock is not held by that token. Any other failure not listed here.",
        applies: Applies::Servers,
    },
    Row {
        codes: &[USAGE],
        any_signal: false,
        meaning: "Usage: a bad flag, duration, URL, resource name or TLS file.",
        applies: Applies::All,
    },
    Row {
        codes: &[UNAVAILABLE],
        any_signal: false,
        meaning: "Unavailable: a quorum of instances could not be reached or refused us (connect, \
                  authentication, TLS, timeouts). Waiting never applies to this.",
        applies: Applies::Servers,
    },
    Row {
        codes: &[LOCK_LOST],
        any_signal: false,
        meaning: "The lock was lost while the command ran; the command was terminated.",
        applies: Applies::Only(&["run"]),
    },
    Row {
        codes: &[BUSY],
        any_signal: false,
        meaning: "Busy: the lock is held elsewhere (--no-wait, or --wait ran out); -E changes this code.",
        applies: Applies::Only(&["run", "acquire"]),
    },
    Row {
        codes: &[TIMEOUT],
        any_signal: false,
        meaning: "--timeout ran out; the command was terminated.",
        applies: Applies::Only(&["run"]),
    },
    Row {
        codes: &[NOT_EXECUTABLE, NOT_FOUND],
        any_signal: false,
        meaning: "The command could not be executed / was not found.",
        applies: Applies::Only(&["run"]),
    },
    Row {
        codes: &[INTERRUPTED_INT, INTERRUPTED_TERM],
        any_signal: true,
        meaning: "Interrupted by a signal while waiting for the lock: 130 for SIGINT, 143 for SIGTERM, \
                  128 + N for signal N; nothing is held.",
        applies: Applies::Only(&["run", "acquire"]),
    },
];

/// An outcome that maps to an exit code other than [`FAILURE`]. Everything else travels as a
/// plain `anyhow::Error` and exits 1. The message is the one line printed after `redlock: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Held elsewhere; `code` is `-E`'s value (75 unless changed).
    Busy { message: String, code: i32 },
    /// Not enough instances answered.
    Unavailable(String),
    /// The token presented does not hold the lock.
    NotHolder(String),
    /// The lease could not be kept while the command ran.
    LockLost(String),
    /// `--timeout` ran out.
    TimedOut(String),
    /// A signal arrived while waiting (or before the command started); `signal` decides the
    /// code, 128 + N (130 for SIGINT, 143 for SIGTERM).
    Interrupted { signal: i32, message: String },
    /// The command could not be started (126 / 127).
    Spawn { message: String, code: i32 },
    /// Any other failure (exit 1), with its message.
    Other(String),
}

impl Failure {
    pub fn code(&self) -> i32 {
        match self {
            Failure::Busy { code, .. } => *code,
            Failure::Unavailable(_) => UNAVAILABLE,
            Failure::NotHolder(_) => FAILURE,
            Failure::LockLost(_) => LOCK_LOST,
            Failure::TimedOut(_) => TIMEOUT,
            Failure::Interrupted { signal, .. } => signal_code(*signal),
            Failure::Spawn { code, .. } => *code,
            Failure::Other(_) => FAILURE,
        }
    }

    /// The one line `main` prints for it (unless `--quiet` silences a busy or interrupted
    /// exit).
    pub fn message(&self) -> &str {
        match self {
            Failure::Busy { message, .. }
            | Failure::Unavailable(message)
            | Failure::NotHolder(message)
            | Failure::LockLost(message)
            | Failure::TimedOut(message)
            | Failure::Interrupted { message, .. }
            | Failure::Other(message)
            | Failure::Spawn { message, .. } => message,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Failure {}

// How the command ended, as process/ reports it, becomes a code only here.
use crate::process::child::{Exit, SpawnError};

/// The exit status of a process killed by signal `signal`, as shells and `timeout(1)` report
/// it: 128 + N (130 for SIGINT, 143 for SIGTERM). The one place this sum is made.
pub fn signal_code(signal: i32) -> i32 {
    128 + signal
}

/// The code `run` exits with when its command ended: the command's status, or 128 + N when
/// signal N killed it (docs/run.md, "Exit status").
pub fn status_code(exit: Exit) -> i32 {
    match exit {
        Exit::Code(code) => code,
        Exit::Signal(signal) => signal_code(signal),
    }
}

/// The code for a command that could not be started (docs/run.md, "Exit status"):
/// [`NOT_FOUND`] when it does not exist, [`NOT_EXECUTABLE`] otherwise (GNU timeout.c:
/// `errno == ENOENT ? 127 : 126`).
pub fn spawn_code(err: &SpawnError) -> i32 {
    match err {
        SpawnError::NotFound(_) => NOT_FOUND,
        SpawnError::NotExecutable(_) | SpawnError::Other(_) => NOT_EXECUTABLE,
    }
}

#[cfg(test)]
mod process_tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    fn code_of_raw(raw: i32) -> i32 {
        status_code(Exit::from_status(ExitStatus::from_raw(raw)).expect("a final status"))
    }

    #[test]
    fn signal_deaths_map_to_128_plus_n() {
        assert_eq!(signal_code(libc::SIGINT), 130);
        assert_eq!(signal_code(libc::SIGKILL), 137);
        assert_eq!(signal_code(libc::SIGTERM), 143);
        assert_eq!(signal_code(libc::SIGINT), INTERRUPTED_INT);
        assert_eq!(signal_code(libc::SIGTERM), INTERRUPTED_TERM);
    }

    #[test]
    fn exit_code_maps_raw_statuses() {
        assert_eq!(code_of_raw(0), 0);
        assert_eq!(code_of_raw(42 << 8), 42);
        assert_eq!(code_of_raw(libc::SIGKILL), 137);
        // Killed by SIGQUIT with a core dump (0x80) is still 128 + 3.
        assert_eq!(code_of_raw(libc::SIGQUIT | 0x80), 131);
        assert_eq!(status_code(Exit::Code(3)), 3);
        assert_eq!(status_code(Exit::Signal(libc::SIGTERM)), 143);
    }

    #[test]
    fn spawn_failures_are_127_when_not_found_and_126_otherwise() {
        let errors = [
            SpawnError::NotFound("foo".into()),
            SpawnError::NotExecutable("./x (permission denied)".into()),
            SpawnError::Other("sh (resource temporarily unavailable)".into()),
        ];
        assert_eq!(errors.map(|e| spawn_code(&e)), [127, 126, 126]);
    }
}
