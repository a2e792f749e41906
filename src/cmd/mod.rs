//! One file per subcommand: the user-facing decisions (what to print, which failure).

pub mod acquire;
pub mod completions;
pub mod extend;
pub mod inspect;
pub mod keep;
pub mod kept;
pub mod notices;
pub mod release;
pub mod run;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;

use crate::cli::args::{Cli, Command};
use crate::engine::error::LockError;
use crate::engine::lock::{Busy, Lease, Locker, Mode, Request};
use crate::engine::settings::{LockSettings, Settings, Verbosity};
use crate::engine::trace::Trace;
use crate::engine::wait;
use crate::engine::wakeup::Wakeup;

/// What every subcommand that talks to the servers starts from.
pub struct Context {
    pub settings: Settings,
    pub locker: Locker,
    /// When the command started: `-v` lines say how long after it they happened.
    started: Instant,
    /// The instances the last degraded-quorum warning named (none: all answered).
    warned: Mutex<Vec<String>>,
}

impl Context {
    pub fn new(settings: Settings) -> Context {
        let started = Instant::now();
        let trace = (settings.verbosity == Verbosity::Verbose).then(|| Trace {
            line: Arc::new(move |line: &str| eprintln!("{}", debug_line(started, line))),
            error: crate::cli::words::instance_error,
            busy: crate::cli::words::busy_state,
        });
        let locker = Locker::new(&settings, trace);
        Context {
            settings,
            locker,
            started,
            warned: Mutex::new(vec![]),
        }
    }

    /// A `-v` line, with the time since the command started.
    pub fn debug(&self, line: &str) {
        if self.settings.verbosity == Verbosity::Verbose {
            eprintln!("{}", debug_line(self.started, line));
        }
    }

    /// Warn (unless --quiet) when the instances that did not answer the last rounds differ
    /// from those last warned about: a command that succeeds on a degraded quorum says so
    /// once, and `run` again when an instance is lost or comes back during its heartbeat,
    /// not at every renewal (docs/operator.md, "A degraded quorum is never silent").
    pub fn warn_if_degraded(&self) {
        let quorum = self.locker.quorum();
        let failing = quorum.failing();
        let names: Vec<String> = failing.iter().map(|e| e.server.to_string()).collect();
        let mut warned = crate::engine::sync::lock(&self.warned);
        if *warned == names {
            return;
        }
        let line = crate::cli::words::degraded(&failing, quorum.n(), quorum.needed());
        *warned = names;
        if let Some(line) = line {
            self.notice(&format!("warning: {line}"));
        }
    }

    /// Acquire per `lock` (waiting as it says), telling the user after a second whom they are
    /// waiting for, and again when that is no longer true ([`notices`]). The holder records
    /// only its program's name when the user asked so (`--no-record-command`).
    pub fn acquire_waiting(&self, req: &Request, lock: &LockSettings, wakeup: &Wakeup) -> Result<Lease> {
        let program_only;
        let req = if lock.record_command {
            req
        } else {
            program_only = Request {
                meta: req.meta.clone().program_only(),
                ..req.clone()
            };
            &program_only
        };
        let mut told = notices::Told::default();
        wait::acquire(&self.locker, req, lock.wait, wakeup, &mut |busy| {
            if !told.is_news(busy, Instant::now()) {
                return;
            }
            let mut busy = busy.clone();
            if busy.holding.is_none() && req.mode != Mode::Exclusive {
                // How full a --limit or --shared resource is, whichever instance said no.
                busy.holding = notices::how_full(&self.locker, &req.resource);
            }
            self.notice(&waiting_line(&req.resource, &busy))
        })
        .map_err(|mut e| {
            if let LockError::Held { busy, .. } = &mut e {
                if busy.holding.is_none() && req.mode != Mode::Exclusive {
                    busy.holding = notices::how_full(&self.locker, &req.resource);
                }
            }
            crate::cli::messages::failure(&e, lock.conflict_exit_code).into()
        })
    }

    /// A notice on stderr, unless --quiet.
    pub fn notice(&self, line: &str) {
        if self.settings.verbosity > Verbosity::Quiet {
            eprintln!("redlock: {line}");
        }
    }
}

/// `redlock: debug: +12.3ms LINE`.
fn debug_line(started: Instant, line: &str) -> String {
    format!(
        "redlock: debug: +{:.1}ms {line}",
        started.elapsed().as_secs_f64() * 1e3
    )
}

/// `waiting for lock 'deploy-prod': held by ci-7 pid 4121 (./deploy.sh prod) for 4m 12s; 2
/// ahead of you` (docs/run.md, "Step by step" 1; docs/waiting.md).
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
    let ctx = match cli.command {
        Command::Completions(args) => return completions::execute(&args),
        // `run` warns as it goes: after acquiring, and as instances come and go.
        Command::Run(args) => return run::execute(&Context::new(settings), &args),
        _ => Context::new(settings),
    };
    let done = match cli.command {
        Command::Acquire(args) => acquire::execute(&ctx, &args),
        Command::Extend(args) => extend::execute(&ctx, &args),
        Command::Release(args) => release::execute(&ctx, &args),
        Command::Inspect(args) => inspect::execute(&ctx, &args),
        Command::Completions(_) | Command::Run(_) => Ok(crate::cli::exit::OK),
    };
    if done.is_ok() {
        ctx.warn_if_degraded();
    }
    done
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
