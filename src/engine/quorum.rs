//! One round on all instances at once (safety property 5): every request is sent before any
//! reply is awaited, and the round ends as soon as its outcome is decided or its time is up,
//! so it costs the slowest *needed* reply, and an unreachable instance costs at most the
//! timeouts. How a round is asked for is in `quorum/ask.rs`, its one loop in `quorum/round.rs`,
//! its `-v` lines in `quorum/verbose.rs`, and the validity arithmetic in `quorum/validity.rs`.

mod ask;
mod round;
mod validity;
mod verbose;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::engine::instance::{Call, ErrorClass, InstanceError, ServerError};
use crate::engine::server::ServerUrl;
use crate::engine::settings::Settings;
use crate::engine::wire::Wire;
pub use ask::Ask;
pub use validity::{drift, validity};

use crate::engine::trace::Trace;

pub type Reply<T> = Result<T, InstanceError>;

/// How long a short-lived process gives the instances that did not count toward a decided
/// round before it exits: their requests are on the wire already, this only lets a quick
/// reply be seen (docs/run.md, "Step by step" 4: a release is done at its quorum "plus at most
/// a few milliseconds for the other instances").
pub const SETTLE_GRACE: Duration = Duration::from_millis(5);

pub struct Quorum {
    servers: Vec<ServerUrl>,
    /// `None` when the I/O thread could not be started: every instance then fails every round.
    wire: Option<Wire>,
    needed: usize,
    /// The longest a round waits: a connect plus a request, and a little scheduling slack.
    round_limit: Duration,
    trace: Option<Trace>,
    /// Per instance: why its last answer in a round was none (`None`: it answered). Only what
    /// a round heard counts: an instance not asked or not waited for keeps what it had.
    failing: Mutex<Vec<Option<InstanceError>>>,
}

/// What one round heard, in server order.
pub struct Round<T> {
    pub replies: Vec<Reply<T>>,
    pub started: Instant,
    pub elapsed: Duration,
}

impl<T> Round<T> {
    /// The same round with each answer turned into another.
    pub fn map<U>(self, f: impl Fn(T) -> U) -> Round<U> {
        Round {
            replies: self.replies.into_iter().map(|r| r.map(&f)).collect(),
            started: self.started,
            elapsed: self.elapsed,
        }
    }

    pub fn count(&self, pred: impl Fn(&T) -> bool) -> usize {
        self.replies
            .iter()
            .filter(|r| matches!(r, Ok(v) if pred(v)))
            .count()
    }

    pub fn answered(&self) -> usize {
        self.replies.iter().filter(|r| r.is_ok()).count()
    }

    /// Instances that failed (as opposed to answered, or were not waited for).
    pub fn failed(&self) -> usize {
        self.replies
            .iter()
            .filter(|r| matches!(r, Err(e) if e.class != ErrorClass::NotAwaited))
            .count()
    }

    /// Each instance that gave no answer, with its error.
    pub fn errors(&self, servers: &[ServerUrl]) -> Vec<ServerError> {
        self.replies
            .iter()
            .zip(servers)
            .filter_map(|(r, s)| match r {
                Err(e) if e.class != ErrorClass::NotAwaited => Some(ServerError {
                    server: s.clone(),
                    error: e.clone(),
                }),
                _ => None,
            })
            .collect()
    }
}

/// The longest a round waits: a connect plus a request, and a little scheduling slack.
pub fn round_limit(settings: &Settings) -> Duration {
    settings.connect_timeout + settings.op_timeout + Duration::from_millis(25)
}

impl Quorum {
    pub fn new(settings: &Settings, trace: Option<Trace>) -> Quorum {
        let wire = Wire::new(
            settings.servers.clone(),
            settings.connect_timeout,
            settings.op_timeout,
        )
        .ok();
        Quorum {
            servers: settings.servers.clone(),
            wire,
            needed: settings.quorum(),
            round_limit: round_limit(settings),
            trace,
            failing: Mutex::new(vec![None; settings.servers.len()]),
        }
    }

    /// The instances whose last round gave no answer (down, refusing us, timed out), with
    /// why: a command that succeeded without them runs on a degraded quorum, which is never
    /// silent (docs/operator.md, "A degraded quorum is never silent").
    pub fn failing(&self) -> Vec<ServerError> {
        crate::engine::sync::lock(&self.failing)
            .iter()
            .zip(&self.servers)
            .filter_map(|(e, s)| {
                e.as_ref().map(|e| ServerError {
                    server: s.clone(),
                    error: e.clone(),
                })
            })
            .collect()
    }

    pub fn n(&self) -> usize {
        self.servers.len()
    }

    /// N/2 + 1.
    pub fn needed(&self) -> usize {
        self.needed
    }

    pub fn servers(&self) -> Vec<ServerUrl> {
        self.servers.clone()
    }

    pub fn trace(&self, line: &str) {
        if let Some(t) = &self.trace {
            (t.line)(line);
        }
    }

    /// A `-v` line that needs the CLI's words, made only when tracing.
    pub fn trace_with(&self, line: impl FnOnce(&Trace) -> String) {
        if let Some(t) = &self.trace {
            (t.line)(&line(t));
        }
    }

    /// The wire's subscription handle (`None` when the I/O thread could not be started).
    pub fn wire(&self) -> Option<crate::engine::wire::Handle> {
        self.wire.as_ref().map(Wire::handle)
    }

    /// Whether any request of ours may have reached instance `i` (a connection to it came up).
    pub fn reached(&self, i: usize) -> bool {
        self.wire.as_ref().is_some_and(|w| w.ever_up(i))
    }

    /// Give the requests still unanswered up to [`SETTLE_GRACE`]: a short-lived command calls
    /// this before it exits. Whatever is not answered by then is on the wire and runs anyway.
    pub fn settle(&self) {
        if let Some(wire) = &self.wire {
            wire.settle(SETTLE_GRACE);
        }
    }
}
