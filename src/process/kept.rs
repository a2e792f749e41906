//! The local record of a kept hold: which process keeps it, whether a `release` is ending it,
//! and, once the keeper has lost the lock, when and why (docs/keeper.md).
//!
//! It is a small file on the host that acquired, because that is where the keeper runs and
//! where the owner calls `release`: the keeper is found there to be stopped, and a loss is
//! remembered there even when no instance could be reached to write it to (the usual reason
//! for a loss). The file is named by a hash of the prefix, resource and token (no secret in a
//! name) in `$XDG_RUNTIME_DIR/redlock/`, or `/tmp/redlock-UID/` where that is not set; both
//! are private to the user.
//!
//! Lines: `keeper PID START` (its pid and start time), `releasing` (a `release` is ending the
//! hold: the keeper stops without a word), `lost UNIX_MS REASON`.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::process::owner::Owner;

/// One kept hold's record file.
#[derive(Debug, Clone)]
pub struct Record {
    path: PathBuf,
}

/// What a record says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
    pub keeper: Option<Owner>,
    pub releasing: bool,
    /// When (unix ms) and why the keeper lost the lock.
    pub lost: Option<(u64, String)>,
}

impl Record {
    /// The record of `token`'s hold of `resource` under `prefix`, to look it up: `Err` when
    /// there is no private directory of ours (then there is no record either).
    pub fn of(prefix: &str, resource: &str, token: &str) -> io::Result<Record> {
        Record::in_directory(prefix, resource, token, false)
    }

    /// The same, for a keeper about to write it: the directory is made if need be.
    pub fn for_keeper(prefix: &str, resource: &str, token: &str) -> io::Result<Record> {
        Record::in_directory(prefix, resource, token, true)
    }

    fn in_directory(prefix: &str, resource: &str, token: &str, create: bool) -> io::Result<Record> {
        let name = format!("{:016x}.kept", fnv1a(&[prefix, resource, token]));
        Ok(Record {
            path: directory(create)?.join(name),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Start the record: this hold is kept by `keeper`.
    pub fn create(&self, keeper: Owner) -> io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&self.path)?;
        writeln!(file, "keeper {} {}", keeper.pid, keeper.start)
    }

    /// What it says; `None` when there is none (not kept here, or already ended).
    pub fn read(&self) -> Option<Kept> {
        let text = fs::read_to_string(&self.path).ok()?;
        let mut kept = Kept::default();
        for line in text.lines() {
            let mut words = line.splitn(3, ' ');
            match words.next() {
                Some("keeper") => {
                    let pid = words.next().and_then(|w| w.parse().ok());
                    let start = words.next().and_then(|w| w.parse().ok());
                    kept.keeper = pid.zip(start).map(|(pid, start)| Owner { pid, start });
                }
                Some("releasing") => kept.releasing = true,
                Some("lost") => {
                    let at = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                    kept.lost = Some((at, words.next().unwrap_or("").to_string()));
                }
                _ => {}
            }
        }
        Some(kept)
    }

    /// A `release` is ending the hold: the keeper is to stop without reporting a loss.
    pub fn mark_releasing(&self) -> io::Result<()> {
        self.append("releasing")
    }

    /// The keeper lost the lock at `at_unix_ms` because of `reason` (one line).
    pub fn record_loss(&self, at_unix_ms: u64, reason: &str) -> io::Result<()> {
        let reason: String = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        self.append(&format!("lost {at_unix_ms} {reason}"))
    }

    pub fn remove(&self) {
        let _ = fs::remove_file(&self.path);
    }

    fn append(&self, line: &str) -> io::Result<()> {
        let mut file = fs::OpenOptions::new().append(true).open(&self.path)?;
        writeln!(file, "{line}")
    }
}

/// `$XDG_RUNTIME_DIR/redlock` (per user, emptied at logout), or `/tmp/redlock-UID`, created
/// private (with `create`); one that is not ours or not private is refused rather than trusted,
/// for reading too: a record names a process that `release` signals.
fn directory(create: bool) -> io::Result<PathBuf> {
    // SAFETY: getuid(2) takes nothing, touches no memory and cannot fail.
    let uid = unsafe { libc::getuid() };
    // Only a runtime directory of ours: under sudo it may still name the invoking user's, and
    // a directory root made there would refuse that user's own keepers later.
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .filter(|p| fs::metadata(p).is_ok_and(|m| m.is_dir() && m.uid() == uid));
    let dir = match base {
        Some(base) => base.join("redlock"),
        None => std::env::temp_dir().join(format!("redlock-{uid}")),
    };
    if create {
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    let meta = fs::symlink_metadata(&dir)?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(io::Error::other(format!(
            "{} is not a private directory of this user",
            dir.display()
        )));
    }
    Ok(dir)
}

/// FNV-1a over the parts, each ended by a NUL: stable across builds and versions, unlike std's
/// hasher, so two redlock binaries find the same record.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_says_who_keeps_it_and_what_happened() {
        let token = format!("test-{}-{}", std::process::id(), line!());
        let record = Record::for_keeper("redlock:", "kept-test", &token).expect("a private directory");
        assert_eq!(record.read(), None);
        let keeper = Owner { pid: 42, start: 7 };
        record.create(keeper).expect("create");
        assert_eq!(
            record.read(),
            Some(Kept {
                keeper: Some(keeper),
                ..Kept::default()
            })
        );
        record.mark_releasing().expect("mark");
        record.record_loss(1000, "gone\nfor good").expect("loss");
        let kept = record.read().expect("read");
        assert!(kept.releasing);
        assert_eq!(kept.lost, Some((1000, "gone for good".to_string())));
        record.remove();
        assert_eq!(record.read(), None);
    }

    #[test]
    fn names_differ_by_every_part() {
        assert_ne!(fnv1a(&["a", "bc"]), fnv1a(&["ab", "c"]));
        assert_eq!(fnv1a(&["x"]), fnv1a(&["x"]));
    }
}
