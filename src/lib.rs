//! redlock: mutual exclusion across machines, held on a quorum of Redis instances.
//!
//! # Theory of operation
//!
//! A lock on resource NAME is a hash `P lock:NAME` on each of N independent Redis instances
//! ([`lock`] documents the key layout). Every operation is one Lua script per instance
//! ([`scripts`]), so each instance changes atomically and only for the holder's token.
//!
//! A round ([`quorum`]) sends the script to all instances at once, each through its own
//! worker thread and connection ([`instance`]), and ends when the outcome is decided or the
//! connect and op timeouts pass. An acquisition succeeds when a quorum (N/2 + 1) granted it
//! and validity is left: ttl − elapsed − drift. A failed attempt releases everywhere it may
//! have landed. A first holder then records its fencing token (max of the quorum's
//! counters + 1) on a quorum, so any later holder's quorum, which must overlap, reads it.
//!
//! `run` ([`cmd::run`]) keeps the lease alive on a heartbeat and stops the command when it
//! cannot; waiters ([`wait`]) sleep until a release is announced or the lease runs out.
//!
//! The engine never prints and never exits: [`cmd`] decides what the user sees, and
//! [`exit`] is the one table of exit codes.

pub mod child;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod exit;
pub mod heartbeat;
pub mod holder;
pub mod instance;
pub mod lock;
pub mod man;
pub mod notify;
pub mod output;
pub mod quorum;
pub mod scripts;
pub mod server;
pub mod signals;
pub mod state;
pub mod tls;
pub mod wait;

use clap::{CommandFactory, FromArgMatches};

/// The whole program behind `main`: parse `args`, run, and return the exit code. Usage
/// errors print in clap's form and return 2; every other error is one `redlock: ` line.
pub fn main_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let parsed = cli::Cli::command()
        .try_get_matches_from(args)
        .and_then(|m| cli::Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        // `redlock run --version` prints what `redlock --version` prints, not `redlock-run …`.
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => {
            print!("{}", cli::Cli::command().render_version());
            return exit::OK;
        }
        Err(e) if e.use_stderr() => {
            // clap quotes the refused value, which may be a server URL with its password.
            eprint!("{}", server::redact_text(&e.render().to_string()));
            return e.exit_code();
        }
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let settings = match config::Settings::from_args(&cli.global) {
        Ok(s) => s,
        Err(msg) => {
            let e = cli::Cli::command().error(clap::error::ErrorKind::ArgumentConflict, msg);
            let _ = e.print();
            return e.exit_code();
        }
    };
    let quiet = settings.verbosity == config::Verbosity::Quiet;
    match cmd::execute(cli, settings) {
        Ok(code) => code,
        Err(err) => {
            let failure = err.downcast_ref::<exit::Failure>();
            let silent = match failure {
                // The codes redlock decides because of what others do (busy, a signal while
                // waiting) are expected outcomes: --quiet silences their line.
                Some(f @ (exit::Failure::Busy { .. } | exit::Failure::Interrupted { .. })) => {
                    quiet || f.message().is_none()
                }
                Some(f) => f.message().is_none(),
                None => false,
            };
            if !silent {
                eprintln!("redlock: {err:#}");
            }
            exit::code_of(&err)
        }
    }
}
