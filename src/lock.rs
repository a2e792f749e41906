//! The lock itself: acquire (with fencing, and undo everywhere on failure), extend, release,
//! force release and read, each one round of one atomic script per instance.
//!
//! Key layout (all under the prefix P, `redlock:` by default):
//!   P lock:NAME      hash {token, count, host, pid, cmd, since, ttl, fence}, expires with the lease
//!   P fence:NAME     the last fence handed out for NAME; never expires
//!   P released:NAME  pub/sub channel; a release or force release publishes on it

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use redis::Value;

use crate::config::Settings;
use crate::exit::Failure;
use crate::holder::{int, Holder, HolderMeta};
use crate::instance::{ErrorClass, InstanceError, Session};
use crate::quorum::{validity, Quorum, Reply, Round, Trace};
use crate::scripts::scripts;

/// The Redis names of one resource's lock.
#[derive(Debug, Clone)]
pub struct Keys {
    pub lock: String,
    pub fence: String,
    pub channel: String,
}

impl Keys {
    pub fn new(prefix: &str, resource: &str) -> Keys {
        Keys {
            lock: format!("{prefix}lock:{resource}"),
            fence: format!("{prefix}fence:{resource}"),
            channel: format!("{prefix}released:{resource}"),
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
}

/// A lock we hold on a quorum.
#[derive(Debug, Clone)]
pub struct Lease {
    pub resource: String,
    pub token: String,
    pub ttl: Duration,
    pub fence: u64,
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
}

impl Lease {
    pub fn validity(&self) -> Duration {
        self.valid_until.saturating_duration_since(Instant::now())
    }
}

/// Why an attempt did not get the lock, while enough instances answered.
#[derive(Debug, Clone)]
pub struct Busy {
    /// The holder seen on the most instances, if any holds it (a lost three-way race leaves
    /// none with a majority and maybe none at all).
    pub holder: Option<Holder>,
    /// On how many instances that holder was seen.
    pub held_on: usize,
    pub n: usize,
}

impl Busy {
    /// `lock 'deploy' is held by web-3 pid 4121 (./deploy.sh) for 12s more`
    pub fn describe(&self, resource: &str) -> String {
        match &self.holder {
            Some(h) => format!("lock '{resource}' is held by {}", h.describe()),
            None => format!("lock '{resource}' is contended: no holder has a quorum right now"),
        }
    }
}

pub enum Attempt {
    Acquired(Lease),
    Busy(Busy),
}

/// The outcome of an extend round.
#[derive(Debug)]
pub struct Extended {
    pub valid_until: Instant,
    pub renewed: usize,
    /// Instances that had lost the key and were taken back.
    pub restored: usize,
}

/// The outcome of a release round.
#[derive(Debug)]
pub struct Released {
    /// Instances where one hold was dropped.
    pub released: usize,
    /// Holds left (0 when the lock is gone, or kept only for --min-hold).
    pub remaining: i64,
    /// Instances where it was already free.
    pub free: usize,
    /// Other tokens' holds that were left untouched.
    pub others: Vec<Holder>,
    pub failed: Vec<String>,
}

/// The outcome of a force release.
#[derive(Debug)]
pub struct Forced {
    /// Who held it, per instance where it was held.
    pub holders: Vec<Holder>,
    pub failed: Vec<String>,
}

enum Granted {
    Taken { counter: u64 },
    Reentered { count: i64, fence: u64 },
    Held(Holder),
}

pub struct Locker {
    quorum: Quorum,
    prefix: String,
}

impl Locker {
    pub fn new(settings: &Settings, trace: Option<Trace>) -> Locker {
        Locker { quorum: Quorum::new(settings, trace), prefix: settings.prefix.clone() }
    }

    pub fn quorum(&self) -> &Quorum {
        &self.quorum
    }

    /// See [`Quorum::settle`].
    pub fn settle(&self) {
        self.quorum.settle();
    }

    pub fn keys(&self, resource: &str) -> Keys {
        Keys::new(&self.prefix, resource)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// One attempt: take the lock on a quorum with validity left, or undo everything it
    /// may have taken and say who holds it. `Err` is a failure no waiting cures: a quorum
    /// unreachable (69), or a ttl too short to ever be valid (1).
    pub fn try_acquire(&self, req: &Request) -> Result<Attempt> {
        let keys = self.keys(&req.resource);
        let since = crate::holder::now_unix_ms();
        let ttl_ms = req.ttl.as_millis().to_string();
        let args = [
            req.token.clone(),
            ttl_ms.clone(),
            req.meta.host.clone(),
            req.meta.pid.to_string(),
            req.meta.cmd.clone(),
            since.to_string(),
        ];
        let k = keys.clone();
        let round = self.quorum.round_until_decided(
            "acquire",
            move |_, s: &mut Session| {
                let v = s.eval(&scripts().acquire, &[&k.lock, &k.fence], &args.each_ref().map(String::as_str))?;
                parse_granted(&v)
            },
            |g| !matches!(g, Granted::Held(_)),
        );
        let q = self.quorum.needed();
        let granted = round.count(|g| !matches!(g, Granted::Held(_)));
        if granted < q {
            self.undo(&req.resource, &req.token, &round);
            return self.busy_or_unavailable(&round).map(Attempt::Busy);
        }

        let reentered = round.count(|g| matches!(g, Granted::Reentered { .. })) > 0;
        let mut count = 1;
        let mut fence = 0;
        for g in round.replies.iter().flatten() {
            match g {
                Granted::Taken { counter } if !reentered => fence = fence.max(counter + 1),
                Granted::Reentered { count: c, fence: f } => {
                    count = count.max(*c);
                    fence = fence.max(*f);
                }
                _ => {}
            }
        }
        // A first acquisition (or an instance that lost the key under a re-entry) records the
        // fence where we hold it; it must land on a quorum before anyone may use it, so that
        // the next holder's quorum, which overlaps this one, reads a higher counter.
        let taken_somewhere = round.count(|g| matches!(g, Granted::Taken { .. })) > 0;
        if taken_somewhere {
            let k = keys.clone();
            let args = [req.token.clone(), fence.to_string()];
            let recorded = self.quorum.round_until_decided(
                "fence",
                move |_, s: &mut Session| {
                    let v = s.eval(&scripts().fence, &[&k.lock, &k.fence], &args.each_ref().map(String::as_str))?;
                    Ok(int(&v) == Some(1))
                },
                |ok| *ok,
            );
            if recorded.count(|ok| *ok) < q {
                self.undo(&req.resource, &req.token, &round);
                if recorded.failed() > self.quorum.n() - q {
                    return Err(self.unavailable(&recorded).into());
                }
                if validity(req.ttl, round.started, Instant::now()).is_some() {
                    // Lost to a force release between the two rounds: try again.
                    return Ok(Attempt::Busy(Busy { holder: None, held_on: 0, n: self.quorum.n() }));
                }
            }
        }

        let Some(left) = validity(req.ttl, round.started, Instant::now()) else {
            self.undo(&req.resource, &req.token, &round);
            return Err(anyhow!(
                "lock '{}': the lease of {} ran out before a quorum answered (that took {}ms, \
                 and {}ms are kept for clock drift); use a longer --ttl",
                req.resource,
                humantime::format_duration(req.ttl),
                round.started.elapsed().as_millis(),
                crate::quorum::drift(req.ttl).as_millis()
            ));
        };
        Ok(Attempt::Acquired(Lease {
            resource: req.resource.clone(),
            token: req.token.clone(),
            ttl: req.ttl,
            fence,
            reentered,
            count,
            started: round.started,
            valid_until: Instant::now() + left,
            meta: req.meta.clone(),
            since_unix_ms: since,
        }))
    }

    /// Release what a failed attempt may have taken, on every instance where it may have
    /// landed, all at once (safety property 3). The release script drops only our token's
    /// hold, so a re-entry's undo gives back just the hold it added.
    fn undo(&self, resource: &str, token: &str, round: &Round<Granted>) {
        let targets: Vec<bool> = round
            .replies
            .iter()
            .map(|r| match r {
                Ok(_) => true,
                Err(e) => e.maybe_applied(),
            })
            .collect();
        // Where an instance answered that another token holds it, the script took nothing.
        let targets: Vec<bool> = targets
            .iter()
            .zip(&round.replies)
            .map(|(t, r)| *t && !matches!(r, Ok(Granted::Held(_))))
            .collect();
        if !targets.contains(&true) {
            return;
        }
        let keys = self.keys(resource);
        let token = token.to_string();
        self.quorum.round_all("undo", move |i, s: &mut Session| {
            if !targets[i] {
                return Ok(());
            }
            s.eval(&scripts().release, &[&keys.lock], &[&token, "0", &keys.channel]).map(|_| ())
        });
    }

    fn busy_or_unavailable(&self, round: &Round<Granted>) -> Result<Busy> {
        if round.failed() > self.quorum.n() - self.quorum.needed() {
            return Err(self.unavailable(round).into());
        }
        let holders: Vec<&Holder> = round
            .replies
            .iter()
            .filter_map(|r| match r {
                Ok(Granted::Held(h)) => Some(h),
                _ => None,
            })
            .collect();
        Ok(busy_from(&holders, self.quorum.n()))
    }

    /// `2 of 3 servers unreachable (…); need 2` — the message for exit 69.
    pub fn unavailable<T>(&self, round: &Round<T>) -> Failure {
        let servers = self.quorum.servers();
        let errors = round.errors(&servers);
        let refused = round
            .replies
            .iter()
            .any(|r| matches!(r, Err(e) if e.class == ErrorClass::Refused));
        let what = if refused { "unreachable or refused us" } else { "unreachable" };
        Failure::Unavailable(format!(
            "{} of {} servers {what} ({}); need {} to answer: check that they are up and \
             the --server URLs",
            round.failed(),
            self.quorum.n(),
            errors.join("; "),
            self.quorum.needed()
        ))
    }

    /// Renew `token`'s lease on every instance. With `restore`, an instance that lost the
    /// key and is free is taken back with the lease's metadata, so a restart does not quietly
    /// shrink the quorum. `Err(Failure::NotHolder)` when the token does not hold it on a
    /// quorum; `Err(Failure::Unavailable)` when too few instances answered.
    pub fn extend(&self, resource: &str, token: &str, ttl: Duration, restore: Option<&Lease>) -> Result<Extended> {
        let keys = self.keys(resource);
        let args = [token.to_string(), ttl.as_millis().to_string()];
        let k = keys.clone();
        let round = self.quorum.round_until_decided(
            "extend",
            move |_, s: &mut Session| {
                let v = s.eval(&scripts().extend, &[&k.lock], &args.each_ref().map(String::as_str))?;
                parse_status(&v)
            },
            |(status, _)| *status == 1,
        );
        let q = self.quorum.needed();
        let renewed = round.count(|(status, _)| *status == 1);
        if renewed < q {
            if round.failed() > self.quorum.n() - q {
                return Err(self.unavailable(&round).into());
            }
            let holders: Vec<Holder> = round
                .replies
                .iter()
                .filter_map(|r| match r {
                    Ok((0, rest)) => Holder::from_values(rest),
                    _ => None,
                })
                .collect();
            let busy = busy_from(&holders.iter().collect::<Vec<_>>(), self.quorum.n());
            let whose = match &busy.holder {
                Some(h) => format!("it is held by {}", h.describe()),
                None => "it is free (the lease expired or was released)".to_string(),
            };
            return Err(Failure::NotHolder(format!(
                "lock '{resource}' is not held by that token on a quorum ({renewed} of {}, need {q}): {whose}",
                self.quorum.n()
            ))
            .into());
        }
        let Some(left) = validity(ttl, round.started, Instant::now()) else {
            return Err(Failure::NotHolder(format!(
                "lock '{resource}': the renewed lease of {} ran out before a quorum answered; use a longer --ttl",
                humantime::format_duration(ttl)
            ))
            .into());
        };
        let valid_until = Instant::now() + left;

        let free: Vec<bool> = round.replies.iter().map(|r| matches!(r, Ok((2, _)))).collect();
        let mut restored = 0;
        if let (Some(lease), true) = (restore, free.contains(&true)) {
            let args = [
                lease.token.clone(),
                ttl.as_millis().to_string(),
                lease.meta.host.clone(),
                lease.meta.pid.to_string(),
                lease.meta.cmd.clone(),
                lease.since_unix_ms.to_string(),
                lease.count.max(1).to_string(),
                lease.fence.to_string(),
            ];
            let back = self.quorum.round_all("restore", move |i, s: &mut Session| {
                if !free[i] {
                    return Ok(false);
                }
                let v = s.eval(&scripts().restore, &[&keys.lock, &keys.fence], &args.each_ref().map(String::as_str))?;
                Ok(int(&v) == Some(1))
            });
            restored = back.count(|ok| *ok);
        }
        Ok(Extended { valid_until, renewed, restored })
    }

    /// Drop one hold of `token` on every instance. `keep` > 0 (--min-hold) leaves the key in
    /// place for that long instead of deleting it.
    pub fn release(&self, resource: &str, token: &str, keep: Duration) -> Released {
        let keys = self.keys(resource);
        let args = [token.to_string(), keep.as_millis().to_string(), keys.channel.clone()];
        let round = self.quorum.round_all("release", move |_, s: &mut Session| {
            let v = s.eval(&scripts().release, &[&keys.lock], &args.each_ref().map(String::as_str))?;
            parse_status(&v)
        });
        let mut out = Released { released: 0, remaining: 0, free: 0, others: vec![], failed: vec![] };
        for r in &round.replies {
            match r {
                Ok((1, rest)) => {
                    out.released += 1;
                    out.remaining = out.remaining.max(rest.first().and_then(int).unwrap_or(0));
                }
                Ok((2, _)) => out.free += 1,
                Ok((_, rest)) => out.others.extend(Holder::from_values(rest)),
                Err(_) => {}
            }
        }
        out.failed = round.errors(&self.quorum.servers());
        out
    }

    /// Delete the lock whoever holds it, on every instance.
    pub fn force_release(&self, resource: &str) -> Forced {
        let keys = self.keys(resource);
        let round = self.quorum.round_all("force", move |_, s: &mut Session| {
            let v = s.eval(&scripts().force, &[&keys.lock], &[&keys.channel])?;
            parse_status(&v)
        });
        let holders = round
            .replies
            .iter()
            .filter_map(|r| match r {
                Ok((1, rest)) => Holder::from_values(rest),
                _ => None,
            })
            .collect();
        Forced { holders, failed: round.errors(&self.quorum.servers()) }
    }

    /// Each instance's view of one lock: its holder (if any) and its fence counter.
    pub fn read(&self, resource: &str) -> Round<(Option<Holder>, u64)> {
        let keys = self.keys(resource);
        self.quorum.round_all("read", move |_, s: &mut Session| {
            let v = s.eval(&scripts().read, &[&keys.lock, &keys.fence], &[])?;
            let items = array(&v)?;
            let counter = items.get(9).and_then(int).unwrap_or(0).max(0) as u64;
            Ok((Holder::from_values(items), counter))
        })
    }
}

/// The holder seen on the most instances.
fn busy_from(holders: &[&Holder], n: usize) -> Busy {
    let mut best: Option<(&Holder, usize)> = None;
    for h in holders {
        let on = holders.iter().filter(|o| o.token == h.token).count();
        let better = match best {
            None => true,
            Some((b, bon)) => on > bon || (on == bon && h.time_left > b.time_left),
        };
        if better {
            best = Some((h, on));
        }
    }
    Busy { holder: best.map(|(h, _)| h.clone()), held_on: best.map_or(0, |(_, on)| on), n }
}

fn array(v: &Value) -> Reply<&[Value]> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(InstanceError::new(ErrorClass::Protocol, format!("unexpected reply {other:?}"))),
    }
}

/// A script's {status, rest...} reply.
fn parse_status(v: &Value) -> Reply<(i64, Vec<Value>)> {
    let items = array(v)?;
    let status = items
        .first()
        .and_then(int)
        .ok_or_else(|| InstanceError::new(ErrorClass::Protocol, "reply without a status"))?;
    Ok((status, items[1..].to_vec()))
}

fn parse_granted(v: &Value) -> Reply<Granted> {
    let (status, rest) = parse_status(v)?;
    let num = |i: usize| rest.get(i).and_then(int).unwrap_or(0);
    match status {
        1 => Ok(Granted::Taken { counter: num(0).max(0) as u64 }),
        2 => Ok(Granted::Reentered { count: num(0), fence: num(1).max(0) as u64 }),
        _ => Holder::from_values(&rest)
            .map(Granted::Held)
            .ok_or_else(|| InstanceError::new(ErrorClass::Protocol, "malformed holder in acquire reply")),
    }
}
