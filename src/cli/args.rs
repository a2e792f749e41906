//! The command line as data: every flag, its environment variable, its default and its help.
//! Doc comments here are the `--help` text and the man pages; nothing here does any work.

use std::ffi::OsString;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueHint};

use super::values::{
    parse_duration, parse_owner, parse_positive_duration, parse_prefix, parse_resource, parse_server,
    parse_tls_ca, parse_tls_cert, parse_tls_key, parse_token,
};
use crate::engine::server::tls_settings::PemFile;
use crate::engine::server::ServerUrl;

/// What `--version` prints after the name: the crate version and, when built from a git
/// checkout, the commit (build.rs). Man pages use the plain version (src/cli/man.rs).
pub const VERSION: &str = env!("REDLOCK_LONG_VERSION");

#[derive(Debug, Parser)]
#[command(
    name = "redlock",
    version = VERSION,
    about = "Mutual exclusion across machines: a lock held on a quorum of Redis instances",
    long_about = "Mutual exclusion across machines.\n\n\
        redlock holds a lock on a quorum (N/2 + 1) of N independent Redis instances (the Redlock \
        algorithm), so that only one process, on any host, runs a thing at a time. `redlock run` \
        holds it for exactly as long as a command runs; acquire, extend and release serve shell \
        scripts; inspect shows who holds what.",
    after_long_help = MAIN_EXAMPLES,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

// Every option that takes a value says what completes it (`value_hint`): a file for the TLS
// files, a command for `run`'s, and `ValueHint::Other` (nothing to offer: no file names) for
// durations, URLs, names, tokens and numbers. A test below holds new options to that.

/// Options every subcommand takes, before or after its name.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1.
    /// redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock.
    /// Put URLs with passwords in REDLOCK_SERVERS, not on the command line.
    // This doc comment is --help's text, written for a terminal: rustdoc would read its
    // `[[user]…]` and `[/db]` as links.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(
        short = 's',
        long = "server",
        value_name = "URL",
        env = "REDLOCK_SERVERS",
        value_delimiter = ',',
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true,
        global = true,
        value_hint = ValueHint::Other,
        value_parser = parse_server,
    )]
    pub servers: Vec<ServerUrl>,

    /// Namespace of every key redlock writes.
    #[arg(long, value_name = "P", env = "REDLOCK_PREFIX", default_value = "redlock:", global = true,
          value_hint = ValueHint::Other, value_parser = parse_prefix)]
    pub prefix: String,

    /// Per-instance connect limit.
    #[arg(long, value_name = "DUR", env = "REDLOCK_CONNECT_TIMEOUT", default_value = "250ms",
          global = true, value_hint = ValueHint::Other, value_parser = parse_positive_duration)]
    pub connect_timeout: Duration,

    /// Per-instance request limit; one slow instance never stalls a round.
    #[arg(long, value_name = "DUR", env = "REDLOCK_OP_TIMEOUT", default_value = "250ms",
          global = true, value_hint = ValueHint::Other, value_parser = parse_positive_duration)]
    pub op_timeout: Duration,

    /// CA certificates (PEM) that rediss:// servers are verified against, instead of the
    /// system's roots.
    #[arg(long, value_name = "FILE", env = "REDLOCK_TLS_CA", global = true,
          value_hint = ValueHint::FilePath, value_parser = parse_tls_ca)]
    pub tls_ca: Option<PemFile>,

    /// Client certificate (PEM) for rediss:// servers that require one; needs --tls-key.
    #[arg(long, value_name = "FILE", env = "REDLOCK_TLS_CERT", global = true,
          requires = "tls_key", value_hint = ValueHint::FilePath, value_parser = parse_tls_cert)]
    pub tls_cert: Option<PemFile>,

    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", env = "REDLOCK_TLS_KEY", global = true,
          requires = "tls_cert", value_hint = ValueHint::FilePath, value_parser = parse_tls_key)]
    pub tls_key: Option<PemFile>,

    /// Debug lines on stderr: each round, per instance, with timings.
    #[arg(short, long, global = true, action = ArgAction::SetTrue, conflicts_with = "quiet")]
    pub verbose: bool,

    /// No notices on stderr (errors are still printed).
    #[arg(short, long, global = true, action = ArgAction::SetTrue)]
    pub quiet: bool,

    /// `--classic`, taken from the subcommand's own option ([`Classic`]) once parsed.
    #[arg(skip)]
    pub classic: bool,

    /// `--prefix` (or REDLOCK_PREFIX) was given, not defaulted: only then does the classic key
    /// carry it. Set from the matches, not parsed.
    #[arg(skip)]
    pub prefix_given: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    // Each usage line is written out: clap's own would list every option the user typed,
    // `--server <URL>` included, as if it were required (it has a default).
    /// Hold the lock while a command runs, renewing it; release when it exits.
    #[command(after_help = RUN_EXAMPLES, override_usage = RUN_USAGE)]
    Run(RunArgs),
    /// Acquire the lock for the calling script and print its token.
    ///
    /// The hold lasts for the rest of the script, as `exec 9>f; flock 9` does: a keeper process
    /// renews the lease every ttl/3 until `redlock release` drops it or the owner exits,
    /// whichever comes first. The owner is the process that ran `redlock acquire` (looking
    /// through timeout, sudo, doas, su, runuser and time to the process that ran them), or
    /// --owner PID. A script that crashes or is killed never leaves the lock behind: it is
    /// released within about a second. If the keeper loses the lock (a quorum refuses or cannot
    /// be reached until the lease runs out), it prints one line on stderr (where that is a
    /// terminal or a file) and sends the owner SIGTERM; `release` and `extend` then exit 1
    /// saying when and why. With the holder's token, acquire re-enters (hold count + 1) and
    /// starts no second keeper. --no-keep takes a bare lease of --ttl instead, for a hold that
    /// must outlive its owner. (Before the keeper, that bare lease was all acquire took: it
    /// lapsed after --ttl unless extended, even while the script still ran.)
    #[command(after_help = ACQUIRE_EXAMPLES, override_usage = "redlock acquire [OPTIONS] -r <NAME>")]
    Acquire(AcquireArgs),
    /// Renew the lease of a lock you hold.
    #[command(override_usage = "redlock extend [OPTIONS] -r <NAME> --token <T>")]
    Extend(ExtendArgs),
    /// Release one hold of a lock (or break it with --force).
    #[command(override_usage = "redlock release [OPTIONS] -r <NAME> <--token <T>|--force>")]
    Release(ReleaseArgs),
    /// Show who holds a lock, on every instance, or list every lock.
    #[command(after_help = INSPECT_EXAMPLES, override_usage = "redlock inspect [OPTIONS] [-r <NAME>]")]
    Inspect(InspectArgs),
    /// Print a shell completion script.
    #[command(after_help = COMPLETIONS_EXAMPLES, override_usage = "redlock completions <SHELL>")]
    Completions(CompletionsArgs),
}

pub const MAIN_EXAMPLES: &str = "Examples:\n  \
    export REDLOCK_SERVERS=redis://10.0.0.1,redis://10.0.0.2,redis://10.0.0.3\n  \
    redlock run -n -r nightly-report -- ./report.sh   # run once across hosts, or exit 75\n  \
    redlock inspect -r nightly-report                 # who holds it, on each instance\n\n\
    Exit status: 0 success (or the command's own), 2 usage, 69 servers unavailable, 70 lock lost, \
    75 busy, 124 --timeout; see `man redlock`.";

pub const RUN_USAGE: &str = "redlock run [OPTIONS] -r <NAME> [--] <COMMAND> [ARGS]...\n       \
    redlock run [OPTIONS] -r <NAME> -c <STRING>";

pub const RUN_EXAMPLES: &str = "Examples:\n  \
    redlock run -n -r nightly-report -- ./report.sh          # cron: run once across hosts\n  \
    redlock run -w 20m -r deploy-prod -c './deploy.sh prod'  # CI: queue for up to 20 minutes";

pub const ACQUIRE_EXAMPLES: &str = "Examples:\n  \
    REDLOCK_TOKEN=$(redlock acquire -r migrate) || exit  # not `export X=$(...)`:\n  \
    export REDLOCK_TOKEN                                  # that hides a failure\n  \
    ./migrate                          # held while the script runs, renewed by a keeper\n  \
    redlock release -r migrate         # or the script's exit releases it\n  \
    tok=$(redlock acquire --no-keep -r deploy -t 20m)  # CI: held past this step's end\n  \
    redlock release -r deploy --token \"$tok\"         # in a later step";

pub const INSPECT_EXAMPLES: &str = "Examples:\n  \
    redlock inspect                      # every lock under the prefix\n  \
    redlock inspect -r deploy-prod --json";

pub const COMPLETIONS_EXAMPLES: &str = "Examples:\n  \
    redlock completions bash > ~/.local/share/bash-completion/completions/redlock\n  \
    redlock completions zsh > ~/.zfunc/_redlock        # with fpath+=(~/.zfunc) in .zshrc\n  \
    redlock completions fish > ~/.config/fish/completions/redlock.fish";

/// How to get the lock: shared by `run` and `acquire`.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// The lock's name: non-empty UTF-8 without control characters, at most 512 bytes.
    #[arg(short, long, value_name = "NAME", value_hint = ValueHint::Other,
          value_parser = parse_resource)]
    pub resource: String,

    /// Lease length; `run`, and `acquire`'s keeper, renew it every ttl/3.
    #[arg(short, long, value_name = "DUR", env = "REDLOCK_TTL", default_value = "30s",
          value_hint = ValueHint::Other, value_parser = parse_positive_duration)]
    pub ttl: Duration,

    /// Give up after DUR if the lock is still held [default: wait forever].
    #[arg(short, long, value_name = "DUR", value_hint = ValueHint::Other,
          value_parser = parse_duration)]
    pub wait: Option<Duration>,

    /// Give up at once if the lock is held.
    #[arg(short = 'n', long, conflicts_with = "wait")]
    pub no_wait: bool,

    /// Exit code when the lock could not be had because it is held elsewhere.
    #[arg(short = 'E', long, value_name = "N", default_value_t = crate::cli::exit::BUSY,
          value_hint = ValueHint::Other, value_parser = clap::value_parser!(i32).range(0..=255))]
    pub conflict_exit_code: i32,

    /// Who holds the lock; the holder's token re-enters [default: a fresh random 128-bit token].
    #[arg(long, value_name = "T", env = "REDLOCK_TOKEN", hide_env_values = true,
          value_hint = ValueHint::Other, value_parser = parse_token)]
    pub token: Option<String>,

    /// Up to N holders at once (a counting semaphore); every holder must use the same N.
    #[arg(short, long, value_name = "N", env = "REDLOCK_LIMIT", default_value_t = 1,
          value_hint = ValueHint::Other, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub limit: u32,

    /// A shared hold: shared holders hold together, never with an exclusive one (flock -s).
    #[arg(long)]
    pub shared: bool,

    /// Record only the program's name next to the lock, not its arguments (which are
    /// recorded with passwords, tokens and keys masked); REDLOCK_RECORD_COMMAND=0 does the same.
    #[arg(long = "no-record-command", action = ArgAction::SetFalse, env = "REDLOCK_RECORD_COMMAND",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub record_command: bool,

    #[command(flatten)]
    pub classic: Classic,
}

/// `--classic`: on run, acquire, extend, release and inspect (the commands that touch a lock).
#[derive(Debug, Args)]
pub struct Classic {
    /// Lock as every Redlock library does, to share the lock with services: the plain key NAME
    /// (the prefix only when given), its value the token (docs/classic.md).
    #[arg(long, env = "REDLOCK_CLASSIC", action = ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub classic: bool,
}

impl Command {
    /// Whether `--classic` (or REDLOCK_CLASSIC) was given to the subcommand.
    pub fn classic(&self) -> bool {
        match self {
            Command::Run(a) => a.lock.classic.classic,
            Command::Acquire(a) => a.lock.classic.classic,
            Command::Extend(a) => a.classic.classic,
            Command::Release(a) => a.classic.classic,
            Command::Inspect(a) => a.classic.classic,
            _ => false,
        }
    }
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("program").required(true).args(["command", "shell"]))]
pub struct RunArgs {
    #[command(flatten)]
    pub lock: LockArgs,

    /// Run this string with `sh -c` instead of a command and arguments.
    #[arg(short = 'c', long = "command", value_name = "STRING", value_hint = ValueHint::CommandString)]
    pub shell: Option<String>,

    /// After SIGTERM (lock lost or --timeout), wait this long before SIGKILL.
    #[arg(long, value_name = "DUR", default_value = "10s", value_hint = ValueHint::Other,
          value_parser = parse_duration)]
    pub kill_after: Duration,

    /// Stop the command after DUR (exit 124, as timeout(1)) [default: no limit].
    #[arg(long, value_name = "DUR", value_hint = ValueHint::Other,
          value_parser = parse_positive_duration)]
    pub timeout: Option<Duration>,

    /// Keep the lock at least DUR after it was acquired, even if the command ends sooner
    /// [default: 0s].
    #[arg(long, value_name = "DUR", value_hint = ValueHint::Other,
          value_parser = parse_duration)]
    pub min_hold: Option<Duration>,

    /// The command and its arguments, passed as given (no shell). It starts at `--` or at the
    /// first word not beginning with `-`; every word after that is the command's.
    // No allow_hyphen_values: a word beginning with `-` before the command is one of our
    // options, so a typo (`--tiemout 5s`) is a usage error instead of the command to run
    // (README, "How `run` behaves": a typo never runs). trailing_var_arg still gives every word
    // after the command's first to the command (`run -r x ls -l`).
    #[arg(value_name = "COMMAND", trailing_var_arg = true, num_args = 1..,
          value_hint = ValueHint::CommandWithArguments)]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct AcquireArgs {
    #[command(flatten)]
    pub lock: LockArgs,

    /// Print {"resource","token","fence","ttl_ms","validity_ms"} instead of the token.
    #[arg(long)]
    pub json: bool,

    /// A bare lease of --ttl that nothing renews (only `extend`) and that outlives whoever
    /// acquired it: for a hold released by a later step (a CI pipeline). Without it, a keeper
    /// process renews the lease every ttl/3 until `release` or until the owner exits.
    #[arg(long)]
    pub no_keep: bool,

    /// The process the hold lasts for [default: the one that ran `redlock acquire`, looking
    /// through timeout, sudo, doas, su, runuser and time to the one that ran them].
    #[arg(long, value_name = "PID", conflicts_with = "no_keep", value_parser = parse_owner, value_hint = ValueHint::Other)]
    pub owner: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ExtendArgs {
    /// The lock's name.
    #[arg(short, long, value_name = "NAME", value_hint = ValueHint::Other,
          value_parser = parse_resource)]
    pub resource: String,

    /// The holder's token (from `acquire`).
    #[arg(long, value_name = "T", env = "REDLOCK_TOKEN", hide_env_values = true,
          required = true, value_hint = ValueHint::Other, value_parser = parse_token)]
    pub token: String,

    /// New lease length, from now; a renewal never shortens a lease that has longer left.
    #[arg(short, long, value_name = "DUR", env = "REDLOCK_TTL", default_value = "30s",
          value_hint = ValueHint::Other, value_parser = parse_positive_duration)]
    pub ttl: Duration,

    #[command(flatten)]
    pub classic: Classic,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("who").required(true).args(["token", "force"]))]
pub struct ReleaseArgs {
    /// The lock's name.
    #[arg(short, long, value_name = "NAME", value_hint = ValueHint::Other,
          value_parser = parse_resource)]
    pub resource: String,

    /// The holder's token (from `acquire`); drops one hold.
    #[arg(long, value_name = "T", env = "REDLOCK_TOKEN", hide_env_values = true,
          value_hint = ValueHint::Other, value_parser = parse_token)]
    pub token: Option<String>,

    /// Break the lock whoever holds it, and print who did.
    #[arg(long, conflicts_with = "token")]
    pub force: bool,

    #[command(flatten)]
    pub classic: Classic,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// One lock's name; without it, every lock under the prefix.
    #[arg(short, long, value_name = "NAME", value_hint = ValueHint::Other,
          value_parser = parse_resource)]
    pub resource: Option<String>,

    /// Machine-readable output (durations in milliseconds, times in RFC 3339).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub classic: Classic,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_option_that_takes_a_value_says_what_completes_it() {
        let mut cli = Cli::command();
        cli.build();
        for cmd in std::iter::once(&cli).chain(cli.get_subcommands()) {
            for arg in cmd.get_arguments() {
                let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
                if takes_value && arg.get_possible_values().is_empty() {
                    assert_ne!(
                        arg.get_value_hint(),
                        ValueHint::Unknown,
                        "{} {}: set a value_hint (ValueHint::Other when no file name fits), \
                         or shells offer file names for it",
                        cmd.get_name(),
                        arg.get_id()
                    );
                }
            }
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        for bad in [
            "", "-1s", "-5", "abc", "1000000y", "1e3", "inf", "1.2.3", ".", "5 s s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_positive_duration("0ms").is_err());
        assert!(parse_positive_duration("0").is_err());
        assert!(parse_duration("400000000").is_err(), "past 10 years");
    }

    #[test]
    fn a_bare_number_is_seconds_as_in_flock_and_timeout() {
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration(" 5 ").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration(".25").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn names() {
        assert!(parse_resource("deploy/prod ✓").is_ok());
        assert!(parse_resource("").is_err());
        assert!(parse_resource("a\nb").is_err());
        assert!(parse_resource(&"x".repeat(513)).is_err());
        assert!(parse_resource(&"x".repeat(512)).is_ok());
        assert!(parse_prefix("my app:").is_err());
        assert!(parse_token(&"t".repeat(257)).is_err());
    }
}
