//! The locker and what it hands out: a resource's key names, a request, a lease, an attempt's outcome.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::engine::holder::{Busy, HolderMeta};
use crate::engine::instance::{Call, InstanceError};
use crate::engine::quorum::Quorum;
use crate::engine::scripts::{scripts, Script};
use crate::engine::settings::Settings;
use crate::engine::trace::Trace;

/// The Redis names of one resource's lock.
#[derive(Debug, Clone)]
pub struct Keys {
    pub lock: String,
    pub fence: String,
    pub channel: String,
    /// The waiters, in order of arrival (a sorted set), and what each said about itself.
    pub queue: String,
    pub qinfo: String,
    /// When each waiter's registration lapses (a sorted set): what renewals clean up by.
    pub qexp: String,
    /// Each waiter's own wake-up channel is this followed by its token.
    pub wake_prefix: String,
    /// The registry of the holds other than the exclusive lock (`--shared`, `--limit N`), each
    /// at `hold_prefix` followed by its id.
    pub holds: String,
    pub hold_prefix: String,
    /// Which token the fence counter's last value went to (fence claims, see fence.lua).
    pub fenced_by: String,
    /// Since when this instance remembers the resource (written by its first acquisition there,
    /// never expires): how old a grant's instance is, for this resource.
    pub data_since: String,
    /// `--classic`: the plain key every Redlock library takes, kept by the scripts' classic
    /// forms beside `lock` (then the side hash `P classic:NAME`).
    pub classic: Option<String>,
}

impl Keys {
    pub fn new(prefix: &str, resource: &str) -> Keys {
        Keys {
            lock: format!("{prefix}lock:{resource}"),
            fence: format!("{prefix}fence:{resource}"),
            channel: format!("{prefix}released:{resource}"),
            queue: format!("{prefix}queue:{resource}"),
            qinfo: format!("{prefix}qinfo:{resource}"),
            qexp: format!("{prefix}qexp:{resource}"),
            wake_prefix: format!("{prefix}wake:{resource}:"),
            holds: format!("{prefix}holds:{resource}"),
            hold_prefix: format!("{prefix}hold:{resource}#"),
            fenced_by: format!("{prefix}fenced-by:{resource}"),
            data_since: format!("{prefix}data-since:{resource}"),
            classic: None,
        }
    }

    /// `--classic`: the lock is the plain key `classic_prefix` + NAME, what every Redlock
    /// library takes; redlock's own record of the hold is the side hash `P classic:NAME`, its
    /// queue and wake-up channels are apart from those of redlock's own lock of NAME (under
    /// `P …:classic:NAME`), and the fence counter is the resource's one (fences only rise).
    pub fn classic(prefix: &str, classic_prefix: &str, resource: &str) -> Keys {
        Keys {
            lock: format!("{prefix}classic:{resource}"),
            fence: format!("{prefix}fence:{resource}"),
            fenced_by: format!("{prefix}fenced-by:{resource}"),
            data_since: format!("{prefix}data-since:{resource}"),
            classic: Some(format!("{classic_prefix}{resource}")),
            ..Keys::new(prefix, &format!("classic:{resource}"))
        }
    }

    /// `script` on these keys: its classic form with the plain key last for a `--classic`
    /// lock (`scripts::Scripts::classic_of`), else as it is.
    pub fn eval<T: 'static>(
        &self,
        script: &'static Script,
        keys: &[&str],
        args: &[&str],
        parse: impl FnOnce(redis::Value) -> Result<T, InstanceError> + Send + 'static,
    ) -> Call<T> {
        match &self.classic {
            None => Call::eval(script, keys, args, parse),
            Some(plain) => {
                let mut keys = keys.to_vec();
                keys.push(plain);
                Call::eval(scripts().classic_of(script), &keys, args, parse)
            }
        }
    }

    /// The channel on which the waiter `token` hears that it is its turn.
    pub fn wake(&self, token: &str) -> String {
        format!("{}{token}", self.wake_prefix)
    }
}

/// How many may hold a resource at once, and with whom (docs/capacity.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// One holder (`--limit 1`, the default).
    #[default]
    Exclusive,
    /// Any number of shared holders together, never with an exclusive one (`--shared`).
    Shared,
    /// Up to N holders at once, N ≥ 2 (`--limit N`): N slots, each a lock of its own.
    Limit(u32),
}

impl Mode {
    /// `--limit N` as a mode: 1 is the exclusive lock.
    pub fn limit(n: u32) -> Mode {
        if n <= 1 {
            Mode::Exclusive
        } else {
            Mode::Limit(n)
        }
    }

    /// `exclusive`, `shared` or `limit`: what the scripts, the queue and the command see.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Exclusive => "exclusive",
            Mode::Shared => "shared",
            Mode::Limit(_) => "limit",
        }
    }

    /// N: how many may hold at once with this mode (1 for exclusive and shared holds, which all
    /// agree on N = 1).
    pub fn n(self) -> u32 {
        match self {
            Mode::Limit(n) => n,
            _ => 1,
        }
    }

    /// The mode as a waiter's queue record says it (`limit:N` carries N).
    pub fn queued(self) -> String {
        match self {
            Mode::Limit(n) => format!("limit:{n}"),
            m => m.name().to_string(),
        }
    }
}

/// What a caller asks for when acquiring.
#[derive(Debug, Clone)]
pub struct Request {
    pub resource: String,
    pub token: String,
    pub ttl: Duration,
    pub meta: HolderMeta,
    pub mode: Mode,
}

/// A lock we hold on a quorum.
#[derive(Debug, Clone)]
pub struct Lease {
    pub resource: String,
    pub token: String,
    pub ttl: Duration,
    pub fence: u64,
    pub mode: Mode,
    /// Which hold it is: '' for the exclusive lock, the slot for `--limit`, `r:TOKEN` for
    /// `--shared` (what a restore puts back).
    pub hold: String,
    /// This token already held it: this was a re-entry (hold count + 1).
    pub reentered: bool,
    /// Our hold count after this acquisition (the largest an instance reported).
    pub count: i64,
    /// When the attempt that got it started (validity is counted from here).
    pub started: Instant,
    /// The lease is safe to rely on until then: ttl − elapsed − drift.
    pub valid_until: Instant,
    pub meta: HolderMeta,
    pub since_unix_ms: u64,
    /// Per instance: whether something of ours may be there (granted, or a request that may
    /// have run). Instances never reached hold nothing of ours, so a failed release there is
    /// nothing to warn about.
    pub maybe_held: Vec<bool>,
    /// Some instance answered without holding it for us (another had it there): the lease is
    /// worth restoring there soon (see `heartbeat`).
    pub missing: bool,
}

impl Lease {
    pub fn validity(&self) -> Duration {
        self.valid_until.saturating_duration_since(Instant::now())
    }
}

pub enum Attempt {
    Acquired(Lease),
    Busy(Busy),
}

pub struct Locker {
    pub(super) quorum: Quorum,
    pub(super) prefix: String,
    pub(super) settings: Settings,
    /// Per instance: not to be the decider before then (it failed us).
    pub(super) suspect_until: Mutex<Vec<Option<Instant>>>,
    /// The `--limit` slot our last attempt was granted most: the one to ask for next.
    pub(super) slot_hint: Mutex<Option<u32>>,
    /// The instances the last undo gave a hold back on: with `--classic`, where our own undo
    /// deleted the plain key, so its keyspace notification is no news (see `wait`).
    pub(super) undone: Mutex<Vec<bool>>,
}

impl Locker {
    pub fn new(settings: &Settings, trace: Option<Trace>) -> Locker {
        Locker {
            quorum: Quorum::new(settings, trace),
            prefix: settings.prefix.clone(),
            settings: settings.clone(),
            suspect_until: Mutex::new(vec![None; settings.servers.len()]),
            slot_hint: Mutex::new(None),
            undone: Mutex::new(vec![false; settings.servers.len()]),
        }
    }

    pub fn quorum(&self) -> &Quorum {
        &self.quorum
    }

    /// See [`Quorum::settle`].
    pub fn settle(&self) {
        self.quorum.settle();
    }

    /// The settings this locker was made with (servers, timeouts): what a release
    /// subscription ([`crate::engine::notify`]) connects with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn keys(&self, resource: &str) -> Keys {
        match &self.settings.classic {
            Some(classic_prefix) => Keys::classic(&self.prefix, classic_prefix, resource),
            None => Keys::new(&self.prefix, resource),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The instances undone since the last call (see [`Locker::undone`]).
    pub fn take_undone(&self) -> Vec<bool> {
        let mut undone = crate::engine::sync::lock(&self.undone);
        let taken = undone.clone();
        undone.iter_mut().for_each(|u| *u = false);
        taken
    }
}

pub(crate) fn single(n: usize, i: usize) -> Vec<bool> {
    (0..n).map(|j| j == i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_classic_lock_is_the_plain_key_with_its_record_and_queue_under_the_prefix() {
        let k = Keys::classic("redlock:", "", "deploy");
        assert_eq!(k.classic.as_deref(), Some("deploy"));
        assert_eq!(k.lock, "redlock:classic:deploy");
        // One fence counter per resource, whichever lock takes it: fences only rise.
        assert_eq!(k.fence, "redlock:fence:deploy");
        // The queue is apart from that of redlock's own lock of the same name.
        assert_eq!(k.queue, "redlock:queue:classic:deploy");
        assert_eq!(k.wake("t"), "redlock:wake:classic:deploy:t");
        assert_eq!(
            Keys::classic("app:", "app:", "deploy").classic.as_deref(),
            Some("app:deploy")
        );
        assert_eq!(Keys::new("redlock:", "deploy").classic, None);
    }
}
