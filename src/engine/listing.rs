//! Every lock under the prefix: found with SCAN (never KEYS, which blocks a shared server) on
//! every instance in steps, merged by resource, and read in batches.

use std::collections::BTreeSet;

use redis::Value;

use crate::engine::error::LockError;
use crate::engine::instance::{Call, ErrorClass, InstanceError, ServerError};
use crate::engine::lock::Locker;
use crate::engine::quorum::Reply;
use crate::engine::scripts::scripts;
use crate::engine::server::ServerUrl;
use crate::engine::state::{unavailable, InstanceView, LockState, Seen, Verdict};
use crate::engine::value::string;

/// Keys asked of an instance per SCAN step: large enough that a quiet keyspace takes one
/// step, small enough that a step on a big one stays well inside the op timeout.
const SCAN_COUNT: usize = 1000;

/// Locks read per script call while listing (each lock is two keys).
const READ_BATCH: usize = 100;

/// How one instance's SCAN went.
#[derive(Debug, Clone)]
pub struct ServerScan {
    pub server: ServerUrl,
    /// How many of the listed locks it holds, or why its SCAN failed.
    pub locks: Result<usize, InstanceError>,
}

/// Every lock under the prefix.
#[derive(Debug, Clone)]
pub struct Listing {
    pub prefix: String,
    pub quorum: usize,
    pub servers: Vec<ServerScan>,
    /// Sorted by resource; locks found free everywhere by the time they were read are left out.
    pub locks: Vec<LockState>,
}

impl Listing {
    pub fn n(&self) -> usize {
        self.servers.len()
    }

    pub fn answered(&self) -> usize {
        self.servers.iter().filter(|s| s.locks.is_ok()).count()
    }

    /// Each instance whose SCAN failed, with its error.
    pub fn errors(&self) -> Vec<ServerError> {
        self.servers
            .iter()
            .filter_map(|s| {
                s.locks.as_ref().err().map(|e| ServerError {
                    server: s.server.clone(),
                    error: e.clone(),
                })
            })
            .collect()
    }

    /// Too few instances answered the listing (exit 69), as the engine's error.
    pub fn unavailable(&self) -> LockError {
        let failures = self.servers.iter().filter_map(|s| s.locks.as_ref().err());
        unavailable(self.answered(), self.n(), self.quorum, failures, self.errors())
    }
}

/// Where one instance's SCAN stands.
enum Scan {
    Next(u64),
    Done,
    Failed(InstanceError),
}

/// List every lock under the prefix: SCAN every instance in steps (one round per step, so
/// each step is bounded by the op timeout and a big keyspace never stalls a round), merge
/// the names, then read them all on every instance in batches.
pub fn list(locker: &Locker) -> Listing {
    let quorum = locker.quorum();
    let servers = quorum.servers();
    let (scans, resources) = scan_all(locker);
    let mut locks = Vec::with_capacity(resources.len());
    for batch in resources.chunks(READ_BATCH) {
        locks.extend(read_batch(locker, &servers, batch));
    }
    let servers = servers
        .into_iter()
        .zip(scans)
        .enumerate()
        .map(|(i, (server, scan))| ServerScan {
            server,
            locks: match scan {
                Scan::Failed(e) => Err(e),
                // What the reads found there, not what the SCAN matched.
                _ => Ok(locks
                    .iter()
                    .filter(|l| matches!(&l.instances[i].seen, Ok(s) if s.holder.is_some() || !s.holds.is_empty()))
                    .count()),
            },
        })
        .collect();
    Listing {
        prefix: locker.prefix().to_string(),
        quorum: quorum.needed(),
        servers,
        locks,
    }
}

/// SCAN every instance to the end (or its failure), one round per step: how each instance's
/// SCAN ended, and the resources any of them has, sorted.
fn scan_all(locker: &Locker) -> (Vec<Scan>, Vec<String>) {
    let quorum = locker.quorum();
    // A resource has its lock's key, or (--shared, --limit) its registry of holds.
    let kinds = [locker.keys("").lock, locker.keys("").holds];
    let pattern = format!("{}*", glob_escape(locker.prefix()));

    let mut scans: Vec<Scan> = (0..quorum.n()).map(|_| Scan::Next(0)).collect();
    let mut found = BTreeSet::new();
    while scans.iter().any(|s| matches!(s, Scan::Next(_))) {
        let cursors: Vec<Option<u64>> = scans
            .iter()
            .map(|s| if let Scan::Next(c) = s { Some(*c) } else { None })
            .collect();
        let pattern = pattern.clone();
        let scanning: Vec<bool> = cursors.iter().map(Option::is_some).collect();
        let round = quorum
            .ask("scan", move |i| scan_step(cursors[i].unwrap_or(0), &pattern))
            .on(&scanning)
            .gather();
        for (i, reply) in round.replies.into_iter().enumerate() {
            if !matches!(scans[i], Scan::Next(_)) {
                continue;
            }
            scans[i] = match reply {
                Ok(Some((next, keys))) => {
                    found.extend(keys.into_iter().filter_map(|k| resource_of(&k, &kinds)));
                    if next == 0 {
                        Scan::Done
                    } else {
                        Scan::Next(next)
                    }
                }
                Ok(None) => Scan::Done,
                Err(e) => Scan::Failed(e),
            };
        }
    }
    (scans, found.into_iter().collect())
}

/// Read a batch of resources on every instance in one round: the locks that are not free.
fn read_batch(locker: &Locker, servers: &[ServerUrl], batch: &[String]) -> Vec<LockState> {
    let quorum = locker.quorum();
    let keys: Vec<String> = batch
        .iter()
        .flat_map(|r| {
            let k = locker.keys(r);
            [k.lock, k.fence, k.queue, k.qinfo, k.holds]
        })
        .collect();
    let wake: Vec<String> = batch
        .iter()
        .flat_map(|r| {
            let k = locker.keys(r);
            [k.wake_prefix, k.hold_prefix]
        })
        .collect();
    let count = batch.len();
    let round = quorum
        .ask("read", move |_| {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let wake: Vec<&str> = wake.iter().map(String::as_str).collect();
            Call::eval(&scripts().read_many, &keys, &wake, move |v| parse_many(&v, count))
        })
        .gather();
    let mut locks = Vec::with_capacity(batch.len());
    for (j, resource) in batch.iter().enumerate() {
        let instances = servers
            .iter()
            .zip(&round.replies)
            .map(|(server, r)| InstanceView {
                server: server.clone(),
                seen: match r {
                    Ok(seen) => seen.get(j).cloned().ok_or_else(|| malformed("read_many")),
                    Err(e) => Err(e.clone()),
                },
            })
            .collect();
        let lock =
            LockState::new(resource, instances, quorum.needed()).with_queue_of(&locker.order(resource));
        // Gone since the SCAN (released, expired), or a key that is not a lock.
        if lock.verdict != Verdict::Free {
            locks.push(lock);
        }
    }
    locks
}

/// One `SCAN cursor MATCH pattern COUNT n`: the next cursor (0 when done) and the keys.
fn scan_step(cursor: u64, pattern: &str) -> Call<Option<(u64, Vec<Vec<u8>>)>> {
    let mut cmd = redis::cmd("SCAN");
    cmd.arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(SCAN_COUNT);
    Call::query(&cmd, |v| {
        let Value::Array(parts) = v else {
            return Err(malformed("SCAN"));
        };
        let [next, Value::Array(keys)] = parts.as_slice() else {
            return Err(malformed("SCAN"));
        };
        let next = string(next).parse::<u64>().map_err(|_| malformed("SCAN"))?;
        let keys = keys
            .iter()
            .filter_map(|k| match k {
                Value::BulkString(b) => Some(b.clone()),
                _ => None,
            })
            .collect();
        Ok(Some((next, keys)))
    })
}

/// The resource named by a lock's key or a registry of holds (`kinds`, the key names of the
/// resource ""), if the key is one of ours (UTF-8, non-empty name).
fn resource_of(key: &[u8], kinds: &[String]) -> Option<String> {
    let key = std::str::from_utf8(key).ok()?;
    let name = kinds.iter().find_map(|k| key.strip_prefix(k.as_str()))?;
    (!name.is_empty()).then(|| name.to_string())
}

/// read_many's reply: one {holder..., counter} array per lock, in order.
fn parse_many(v: &Value, count: usize) -> Reply<Vec<Seen>> {
    let Value::Array(items) = v else {
        return Err(malformed("read_many"));
    };
    if items.len() != count {
        return Err(malformed("read_many"));
    }
    items
        .iter()
        .map(|item| match item {
            Value::Array(fields) => Ok(Seen::parse(fields)),
            _ => Err(malformed("read_many")),
        })
        .collect()
}

fn malformed(what: &str) -> InstanceError {
    InstanceError::new(ErrorClass::Protocol, format!("unexpected {what} reply"))
}

/// Escape Redis glob characters (`* ? [ ] \`), so a prefix like `app[1]:` matches itself
/// only in SCAN's MATCH pattern.
pub fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("redlock:"), "redlock:");
        assert_eq!(glob_escape(r"a*b?[c]\d"), r"a\*b\?\[c\]\\d");
    }

    #[test]
    fn lock_keys_name_their_resource() {
        let kinds = ["redlock:lock:".to_string(), "redlock:holds:".to_string()];
        assert_eq!(resource_of(b"redlock:lock:deploy", &kinds), Some("deploy".into()));
        assert_eq!(
            resource_of(b"redlock:holds:backup", &kinds),
            Some("backup".into())
        );
        assert_eq!(resource_of(b"redlock:lock:", &kinds), None);
        assert_eq!(resource_of(b"redlock:fence:deploy", &kinds), None);
        assert_eq!(resource_of(b"\xff", &kinds), None);
    }
}
