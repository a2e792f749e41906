//! What the user typed, resolved into the validated settings the engine runs on. No I/O,
//! except resolving server names to tell two URLs of one instance apart
//! (`server::find_alias`).

use crate::cli::args::{Cli, Command, GlobalArgs, LockArgs};
use crate::engine::server::tls_settings::{KeyProblem, Tls};
use crate::engine::server::ServerUrl;
use crate::engine::settings::{LockSettings, Settings, Verbosity, Wait};

/// `REDLOCK_LIMIT` is both `--limit`'s variable and what `run` sets for its command: in a
/// command run under another resource's lock (`REDLOCK_RESOURCE` names that one), the
/// variable is the outer lock's N, not a choice for this one, and is not taken.
pub fn not_inherited(cli: &mut Cli, matches: &clap::ArgMatches) {
    let (lock, sub) = match (&mut cli.command, matches.subcommand()) {
        (Command::Run(a), Some((_, sub))) => (&mut a.lock, sub),
        (Command::Acquire(a), Some((_, sub))) => (&mut a.lock, sub),
        _ => return,
    };
    let from_env = sub.value_source("limit") == Some(clap::parser::ValueSource::EnvVariable);
    let outer = std::env::var("REDLOCK_RESOURCE").ok();
    if from_env && outer.is_some_and(|r| r != lock.resource) {
        lock.limit = 1;
    }
}

/// Whether no server was given (neither `--server` nor `REDLOCK_SERVERS`): the default
/// `redis://127.0.0.1:6379` is used, which an error reaching it should say.
pub fn default_servers(matches: &clap::ArgMatches) -> bool {
    let source = match matches.subcommand() {
        Some((_, sub)) => sub.value_source("servers"),
        None => matches.value_source("servers"),
    };
    source.is_none_or(|s| s == clap::parser::ValueSource::DefaultValue)
}

/// Whether the prefix was given (`--prefix` or `REDLOCK_PREFIX`) rather than defaulted: the
/// classic key carries it only then.
pub fn prefix_given(matches: &clap::ArgMatches) -> bool {
    let source = match matches.subcommand() {
        Some((_, sub)) => sub.value_source("prefix"),
        None => matches.value_source("prefix"),
    };
    source.is_some_and(|s| s != clap::parser::ValueSource::DefaultValue)
}

/// What clap cannot check alone, for the subcommand given; `Err` is a usage error's message.
pub fn check(command: &Command, global: &GlobalArgs) -> Result<(), String> {
    let lock = match command {
        Command::Run(a) => &a.lock,
        Command::Acquire(a) => &a.lock,
        _ => return Ok(()),
    };
    if global.classic && (lock.shared || lock.limit != 1) {
        let what = if lock.shared {
            "--shared".to_string()
        } else {
            format!("--limit {} (REDLOCK_LIMIT)", lock.limit)
        };
        return Err(format!(
            "--classic (REDLOCK_CLASSIC) cannot be combined with {what}: the classic Redlock key \
             has one holder; drop one of the two"
        ));
    }
    if lock.shared && lock.limit != 1 {
        return Err(format!(
            "--shared cannot be combined with --limit {} (REDLOCK_LIMIT): shared holds are \
             unlimited in number and exclusive of any other; drop one of the two",
            lock.limit
        ));
    }
    Ok(())
}

/// The global options as settings; `Err` is a usage error's message.
pub fn settings(args: &GlobalArgs) -> Result<Settings, String> {
    if let Some(alias) = crate::engine::server::find_alias(&args.servers) {
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
    tls.check().map_err(|e| match e {
        KeyProblem::File(message) => message,
        KeyProblem::Mismatch { key, cert, reason } => format!(
            "--tls-key '{}' does not fit --tls-cert '{}' ({reason}); give the key the certificate was issued for",
            key.display(),
            cert.display()
        ),
    })?;
    Ok(Settings {
        servers: args.servers.iter().map(|s| s.clone().with_tls(&tls)).collect(),
        prefix: args.prefix.clone(),
        connect_timeout: args.connect_timeout,
        op_timeout: args.op_timeout,
        verbosity,
        classic: args.classic.then(|| {
            if args.prefix_given {
                args.prefix.clone()
            } else {
                String::new()
            }
        }),
    })
}

/// How to take the lock, from `run`'s and `acquire`'s options.
pub fn lock_settings(args: &LockArgs) -> LockSettings {
    use crate::engine::lock::Mode;
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
        mode: if args.shared {
            Mode::Shared
        } else {
            Mode::limit(args.limit)
        },
        record_command: args.record_command,
    }
}
