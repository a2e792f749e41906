//! One file per subcommand: the user-facing decisions (what to print, which failure).

pub mod acquire;
pub mod completions;
pub mod extend;
pub mod inspect;
pub mod keep;
pub mod kept;
pub mod release;
pub mod run;

use std::io::Write;
use std::sync::Arc;

use anyhow::Result;

use crate::cli::args::{Cli, Command};
use crate::engine::error::LockError;
use crate::engine::lock::{Busy, Lease, Locker, Request};
use crate::engine::quorum::Trace;
use crate::engine::settings::{LockSettings, Settings, Verbosity};
use crate::engine::wait;
use crate::engine::wakeup::Wakeup;

/// What every subcommand that talks to the servers starts from.
pub struct Context {
    pub settings: Settings,
    pub locker: Locker,
}

impl Context {
    pub fn new(settings: Settings) -> Context {
        let trace = (settings.verbosity == Verbosity::Verbose).then(|| Trace {
            line: Arc::new(|line: &str| eprintln!("redlock: debug: {line}")),
            error: crate::cli::words::instance_error,
            busy: crate::cli::words::busy_state,
        });
        let locker = Locker::new(&settings, trace);
        Context { settings, locker }
    }

    /// Acquire per `lock` (waiting as it says), telling the user once, after a second, whom
    /// they are waiting for.
    pub fn acquire_waiting(&self, req: &Request, lock: &LockSettings, wakeup: &Wakeup) -> Result<Lease> {
        wait::acquire(&self.locker, req, lock.wait, wakeup, &mut |busy| {
            self.notice(&waiting_line(&req.resource, busy))
        })
        .map_err(|err| match err.downcast::<LockError>() {
            Ok(e) => crate::cli::messages::failure(&e, lock.conflict_exit_code).into(),
            Err(other) => other,
        })
    }

    /// A notice on stderr, unless --quiet.
    pub fn notice(&self, line: &str) {
        if self.settings.verbosity > Verbosity::Quiet {
            eprintln!("redlock: {line}");
        }
    }
}

/// `waiting for lock 'deploy-prod': held by ci-7 pid 4121 (./deploy.sh prod) for 4m 12s; 2
/// ahead of you` (CONTRACT.md, "Waiting").
fn waiting_line(resource: &str, busy: &Busy) -> String {
    let place = match busy.ahead {
        Some(0) => "; you are next".to_string(),
        Some(n) => format!("; {n} ahead of you"),
        None => String::new(),
    };
    format!(
        "waiting for lock '{resource}': {}{place}",
        crate::cli::words::busy_state(busy)
    )
}

/// Run the parsed command line; the `Ok` value is the exit code.
pub fn execute(cli: Cli, settings: Settings) -> Result<i32> {
    match cli.command {
        Command::Completions(args) => completions::execute(&args),
        Command::Run(args) => run::execute(&Context::new(settings), &args),
        Command::Acquire(args) => acquire::execute(&Context::new(settings), &args),
        Command::Extend(args) => extend::execute(&Context::new(settings), &args),
        Command::Release(args) => release::execute(&Context::new(settings), &args),
        Command::Inspect(args) => inspect::execute(&Context::new(settings), &args),
    }
}

/// Print to stdout, turning a closed pipe into an error instead of a panic.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// A fresh random 128-bit token, as 32 hex digits.
pub fn new_token() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if from_os.is_err() {
        bytes = uuid::Uuid::new_v4().into_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
