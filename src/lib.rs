//! redlock: mutual exclusion across machines, held on a quorum of Redis instances.
//!
//! # The map
//!
//! Three layers, and the glue between them; arrows point down only (`cmd` uses the other
//! three; `engine` and `process` never use `cli`):
//!
//! - [`cli`]: what the user types and reads. The clap definition ([`cli::args`]), its
//!   resolution into settings ([`cli::config`]), the one table of exit codes ([`cli::exit`]),
//!   the messages for the engine's typed errors ([`cli::messages`]) and its facts in words
//!   ([`cli::words`]), the inspect table and JSON ([`cli::output`]), and the man pages
//!   ([`cli::man`]).
//! - [`cmd`]: one file per subcommand, from parsed arguments to engine calls to exit codes.
//! - [`engine`]: everything that talks to Redis. Never prints, never exits, never names a
//!   flag; fails with [`engine::error::LockError`].
//! - [`process`] (unix): the command `run` starts, its process group and terminal, the stop
//!   ladder, and signals as events.
//!
//! # Theory of operation
//!
//! A lock on resource NAME is a hash `P lock:NAME` on each of N independent Redis instances
//! ([`engine::lock`] documents the key layout). Every operation is one Lua script per instance
//! ([`engine::scripts`]), so each instance changes atomically and only for the holder's token.
//!
//! A round ([`engine::quorum`]) sends the script to all instances at once, written at once on
//! each instance's pipelined connection ([`engine::wire`]), and ends when the outcome is
//! decided or the connect and op timeouts pass. An acquisition succeeds when a quorum
//! (N/2 + 1) granted it and validity is left: ttl − elapsed − drift. A failed attempt releases
//! everywhere it may have landed. Each instance that grants a free lock hands out its next
//! fencing token (its counter + 1) in the same script; when the quorum's tokens agree, that
//! token is on a majority already, so any later holder's quorum, which must overlap, reads
//! it: one round. Only when they differ is the highest written back to a quorum first
//! (`fencing`, in [`engine::lock`]'s fence.rs, has the argument).
//!
//! `run` ([`cmd::run`]) keeps the lease alive on a heartbeat ([`engine::heartbeat`]) and
//! stops the command when it cannot; waiters ([`engine::wait`]) sleep until a release is
//! announced or the lease runs out. `acquire` leaves a keeper process ([`cmd::keep`], started
//! by [`process::keeper`]) that renews with the same heartbeat until `release` or its owner's
//! exit ([`process::owner`]), and stops the owner when the lock is lost.

pub mod cli;
pub mod cmd;
pub mod engine;
#[cfg(unix)]
pub mod process;

use clap::{CommandFactory, FromArgMatches};

/// The whole program behind `main`: parse `args`, run, and return the exit code. Usage
/// errors print in clap's form and return 2; every other error is one `redlock: ` line.
pub fn main_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let mut args = args.into_iter().peekable();
    let program = args.next().unwrap_or_default();
    // The keeper `acquire` starts (`redlock __keep …`): a command line of its own, never
    // shown in help, completions or man pages.
    if args.peek().is_some_and(|a| a == process::keeper::SUBCOMMAND) {
        return cmd::keep::main(args);
    }
    let argv: Vec<std::ffi::OsString> = std::iter::once(program).chain(args).collect();
    let mut default_servers = false;
    let parsed = cli::args::Cli::command()
        .try_get_matches_from(&argv)
        .and_then(|m| {
            let mut cli = cli::args::Cli::from_arg_matches(&m)?;
            cli::config::not_inherited(&mut cli, &m);
            default_servers = cli::config::default_servers(&m);
            cli.global.prefix_given = cli::config::prefix_given(&m);
            cli.global.classic = cli.command.classic();
            Ok(cli)
        })
        .map_err(|e| cli::usage::improve(e, &argv));
    let cli = match parsed {
        Ok(cli) => cli,
        // `redlock run --version` prints what `redlock --version` prints, not `redlock-run …`.
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => {
            print!("{}", cli::args::Cli::command().render_version());
            return cli::exit::OK;
        }
        Err(e) if e.use_stderr() => {
            // clap quotes the refused value, which may be a server URL with its password.
            eprint!("{}", engine::server::redact_text(&e.render().to_string()));
            return e.exit_code();
        }
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let settings = match cli::config::check(&cli.command, &cli.global)
        .and_then(|()| cli::config::settings(&cli.global))
    {
        Ok(s) => s,
        Err(msg) => {
            let e = cli::args::Cli::command().error(clap::error::ErrorKind::ArgumentConflict, msg);
            let _ = e.print();
            return e.exit_code();
        }
    };
    let quiet = settings.verbosity == engine::settings::Verbosity::Quiet;
    match cmd::execute(cli, settings) {
        Ok(code) => code,
        Err(err) => {
            let err = cli::messages::explain(err);
            let failure = err.downcast_ref::<cli::exit::Failure>();
            // The codes redlock decides because of what others do (busy, a signal while
            // waiting) are expected outcomes: --quiet silences their line.
            let silent = quiet
                && matches!(
                    failure,
                    Some(cli::exit::Failure::Busy { .. } | cli::exit::Failure::Interrupted { .. })
                );
            if !silent {
                let default = match failure {
                    Some(cli::exit::Failure::Unavailable(_)) if default_servers => {
                        cli::messages::DEFAULT_SERVER_USED
                    }
                    _ => "",
                };
                eprintln!("redlock: {err:#}{default}");
            }
            cli::messages::code_of(&err)
        }
    }
}
