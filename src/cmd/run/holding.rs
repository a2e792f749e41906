//! The lock while `run` holds it, and its one way out: stop the heartbeat, then release on
//! every instance (warning only where something of ours may be left), also on the early ways
//! out, by `Drop`.

use std::time::{Duration, Instant};

use crate::cli::words;
use crate::cmd::Context;
use crate::engine::heartbeat::Heartbeat;
use crate::engine::lock::Lease;

/// The lock while `run` holds it. Its release stops the heartbeat (so that no renewal, and no
/// restore of an instance, can land after it) and releases on every instance; `Drop` releases
/// on the early ways out.
pub(super) struct Holding<'a, 'scope> {
    pub(super) ctx: &'a Context,
    pub(super) lease: Lease,
    /// `--min-hold`: the lock stays taken until then.
    pub(super) keep_until: Option<Instant>,
    pub(super) heartbeat: Option<Heartbeat<'scope>>,
    pub(super) released: bool,
}

impl Holding<'_, '_> {
    /// What is left of `--min-hold`.
    pub(super) fn keep(&self) -> Duration {
        self.keep_until.map_or(Duration::ZERO, |until| {
            until.saturating_duration_since(Instant::now())
        })
    }

    pub(super) fn release(&mut self, keep: Duration) {
        if std::mem::replace(&mut self.released, true) {
            return;
        }
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.stop();
        }
        let lease = &self.lease;
        let released = self.ctx.locker.release(&lease.resource, &lease.token, keep);
        // Only where something of ours may be held: an instance that was down all along has
        // nothing to release (no connection to it ever came up, even if the acquisition's
        // quorum answered before its refusal did), and a warning about it would only alarm
        // (docs/how-it-works.md, "The wire": settle).
        let unreleased: Vec<String> = released
            .failed
            .iter()
            .filter(|(i, _)| {
                lease.maybe_held.get(*i).copied().unwrap_or(true) && self.ctx.locker.quorum().reached(*i)
            })
            .map(|(_, e)| words::server_error(e))
            .collect();
        if !unreleased.is_empty() {
            self.ctx.notice(&format!(
                "could not release lock '{}' on {} server(s) ({}); it expires there within its ttl ({})",
                lease.resource,
                unreleased.len(),
                unreleased.join("; "),
                humantime::format_duration(lease.ttl)
            ));
        }
    }
}

impl Drop for Holding<'_, '_> {
    fn drop(&mut self) {
        self.release(Duration::ZERO);
    }
}
