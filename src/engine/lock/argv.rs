//! What the lock's scripts are asked: the acquire and restore scripts' ARGV, built by name in
//! one function each, in the order their header comments list (scripts/acquire.lua,
//! scripts/restore.lua). Their `--classic` forms take the same ARGV.

use std::time::Duration;

use super::locker::{Keys, Lease, Mode, Request};

/// acquire.lua's arguments, by name.
#[derive(Debug, Clone)]
pub(super) struct AcquireArgs {
    pub token: String,
    pub ttl: Duration,
    pub host: String,
    pub pid: u32,
    pub cmd: String,
    /// When this attempt asked (unix ms): the hold's `since`.
    pub since_unix_ms: u64,
    /// Each waiter's wake-up channel is this followed by its token.
    pub wake_prefix: String,
    /// This instance decides: its queue says whose turn it is.
    pub decides: bool,
    pub mode: Mode,
    /// `--limit`: the slot to try first (`=i`: slot i or none).
    pub slot: String,
    pub hold_prefix: String,
}

impl AcquireArgs {
    /// The arguments of an attempt at `req` on `keys`, asking for `slot` first; `decides` is
    /// set per instance.
    pub fn new(req: &Request, keys: &Keys, slot: String) -> AcquireArgs {
        AcquireArgs {
            token: req.token.clone(),
            ttl: req.ttl,
            host: req.meta.host.clone(),
            pid: req.meta.pid,
            cmd: req.meta.cmd.clone(),
            since_unix_ms: crate::engine::holder::now_unix_ms(),
            wake_prefix: keys.wake_prefix.clone(),
            decides: false,
            mode: req.mode,
            slot,
            hold_prefix: keys.hold_prefix.clone(),
        }
    }

    /// ARGV as acquire.lua's header lists it: [1] token, [2] ttl ms, [3] host, [4] pid, [5] cmd,
    /// [6] since (unix ms), [7] wake-up channel prefix, [8] '1' on the resource's decider,
    /// [9] mode ('exclusive', 'shared' or 'limit'), [10] N, [11] the slot to try first,
    /// [12] hold key prefix.
    pub fn argv(&self) -> [String; 12] {
        [
            self.token.clone(),
            self.ttl.as_millis().to_string(),
            self.host.clone(),
            self.pid.to_string(),
            self.cmd.clone(),
            self.since_unix_ms.to_string(),
            self.wake_prefix.clone(),
            if self.decides { "1" } else { "0" }.to_string(),
            self.mode.name().to_string(),
            self.mode.n().to_string(),
            self.slot.clone(),
            self.hold_prefix.clone(),
        ]
    }
}

/// ARGV as restore.lua's header lists it, taking `lease` back with a lease of `ttl`: [1] token,
/// [2] ttl ms, [3] host, [4] pid, [5] cmd, [6] since, [7] count, [8] fence, [9] mode, [10] N,
/// [11] the hold's id, [12] hold key prefix.
pub(super) fn restore_argv(lease: &Lease, ttl: Duration, keys: &Keys) -> [String; 12] {
    [
        lease.token.clone(),
        ttl.as_millis().to_string(),
        lease.meta.host.clone(),
        lease.meta.pid.to_string(),
        lease.meta.cmd.clone(),
        lease.since_unix_ms.to_string(),
        lease.count.max(1).to_string(),
        lease.fence.to_string(),
        lease.mode.name().to_string(),
        lease.mode.n().to_string(),
        lease.hold.clone(),
        keys.hold_prefix.clone(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acquire_argv_is_in_the_order_of_the_scripts_header() {
        let args = AcquireArgs {
            token: "t".into(),
            ttl: Duration::from_secs(30),
            host: "web-3".into(),
            pid: 4121,
            cmd: "./deploy.sh".into(),
            since_unix_ms: 1_700_000_000_000,
            wake_prefix: "redlock:wake:x:".into(),
            decides: true,
            mode: Mode::Limit(3),
            slot: "=2".into(),
            hold_prefix: "redlock:hold:x#".into(),
        };
        assert_eq!(
            args.argv(),
            [
                "t",
                "30000",
                "web-3",
                "4121",
                "./deploy.sh",
                "1700000000000",
                "redlock:wake:x:",
                "1",
                "limit",
                "3",
                "=2",
                "redlock:hold:x#"
            ]
        );
    }
}
