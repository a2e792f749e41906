//! Who holds a lock: the metadata a holder leaves next to it, as data (its words for the user
//! are in `cli::words`), and the one count of holders every reader shares.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Value;

use crate::engine::value::{int, string};

/// The command line is kept to about this many characters.
const MAX_CMD_CHARS: usize = 200;

/// What a new holder writes about itself.
#[derive(Debug, Clone)]
pub struct HolderMeta {
    pub host: String,
    pub pid: u32,
    pub cmd: String,
}

impl HolderMeta {
    /// The same holder recording only its program's name (`REDLOCK_RECORD_COMMAND=0`).
    pub fn program_only(mut self) -> HolderMeta {
        self.cmd = crate::engine::secrets::program_only(&self.cmd);
        self
    }

    /// `pid` is the process that holds the lock for the user: `run`'s own pid, or for
    /// `acquire` (which exits at once) the calling shell's.
    pub fn new(pid: u32, cmd: &str) -> HolderMeta {
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        HolderMeta {
            host,
            pid,
            cmd: truncate(cmd),
        }
    }
}

/// The command line as it is recorded: secrets masked (`engine::secrets`), on one line, cut
/// to about [`MAX_CMD_CHARS`].
fn truncate(cmd: &str) -> String {
    let one_line: String = crate::engine::secrets::mask_line(cmd)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= MAX_CMD_CHARS {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(MAX_CMD_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// What the classic scripts put in a holder's count field for the plain key held by another
/// client (a Redlock library): see `scripts/classic.lua`.
pub const OTHER_CLIENT: &str = "other-client";

/// The last millisecond of year 9999: a time past it is not one a clock wrote (and RFC 3339
/// cannot show it), so a record that says so is unreadable.
pub const MAX_UNIX_MS: u64 = 253_402_300_799_999;

/// A time stored as unix milliseconds, if it is one a clock could have written.
pub fn unix_ms(ms: u64) -> Option<SystemTime> {
    (ms <= MAX_UNIX_MS).then(|| UNIX_EPOCH + Duration::from_millis(ms))
}

/// Unix time in milliseconds, as stored in `since`.
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A holder as one instance reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub token: String,
    pub count: i64,
    pub host: String,
    pub pid: Option<u32>,
    pub cmd: String,
    /// When it was first acquired (holder's wall clock).
    pub since_unix_ms: Option<u64>,
    pub fence: u64,
    pub ttl: Option<Duration>,
    /// What is left of the lease on that instance (`None`: no expiry set).
    pub time_left: Option<Duration>,
    /// The fields (`count`, `pid`, `since`, `fence`, `ttl`) whose stored value is not one this
    /// tool writes (not a number, out of range: a corrupt or hostile record); they read as
    /// absent, and `inspect` says they were unreadable.
    pub unreadable: Unreadable,
    /// Another client's hold of a `--classic` lock (a Redlock library's): only its value (the
    /// token) and time left are known; it has no hold count, metadata or fence.
    pub other_client: bool,
}

/// Which of a record's fields could not be read: a set of [`Unreadable::FIELDS`], one bit
/// each (small, so that a holder in every error stays cheap to move).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unreadable(u8);

impl Unreadable {
    pub const FIELDS: [&'static str; 5] = ["count", "pid", "since", "fence", "ttl"];

    pub fn insert(&mut self, field: &str) {
        if let Some(i) = Self::FIELDS.iter().position(|f| *f == field) {
            self.0 |= 1 << i;
        }
    }

    pub fn contains(self, field: &str) -> bool {
        Self::FIELDS
            .iter()
            .position(|f| *f == field)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }

    /// The unreadable fields' names, in [`Unreadable::FIELDS`]'s order.
    pub fn names(self) -> Vec<&'static str> {
        Self::FIELDS.into_iter().filter(|f| self.contains(f)).collect()
    }
}

impl Holder {
    /// Parse the scripts' holder array {pttl, token, count, host, pid, cmd, since, fence, ttl}.
    /// `None` when there is no lock (pttl -2) or the reply is not of that shape. Any value
    /// may be anything (another client can write the hash), so none is trusted: what does not
    /// parse, or is out of range, is recorded in `unreadable`.
    pub fn from_values(v: &[Value]) -> Option<Holder> {
        if v.len() < 9 {
            return None;
        }
        let pttl = int(&v[0])?;
        if pttl == -2 {
            return None;
        }
        // The classic scripts' mark for the plain key held by another client (classic.lua).
        if string(&v[2]) == OTHER_CLIENT {
            return Some(Holder {
                time_left: u64::try_from(pttl).ok().map(Duration::from_millis),
                token: string(&v[1]),
                count: 1,
                host: String::new(),
                pid: None,
                cmd: String::new(),
                since_unix_ms: None,
                fence: 0,
                ttl: None,
                unreadable: Unreadable::default(),
                other_client: true,
            });
        }
        let mut unreadable = Unreadable::default();
        let mut field = |name: &'static str, value: &Value, ok: &dyn Fn(&u64) -> bool| {
            let text = string(value);
            let parsed = text.trim().parse::<u64>().ok().filter(|n| ok(n));
            if parsed.is_none() && !text.is_empty() {
                unreadable.insert(name);
            }
            parsed
        };
        // A count of 0 is a hold kept by --min-hold; an unreadable one counts as held.
        let count = field("count", &v[2], &|n| i64::try_from(*n).is_ok()).map_or(1, |n| n as i64);
        let pid = field("pid", &v[4], &|n| u32::try_from(*n).is_ok()).map(|n| n as u32);
        let since_unix_ms = field("since", &v[6], &|n| *n <= MAX_UNIX_MS);
        let fence = field("fence", &v[7], &|_| true).unwrap_or(0);
        let ttl = field("ttl", &v[8], &|_| true).map(Duration::from_millis);
        Some(Holder {
            time_left: u64::try_from(pttl).ok().map(Duration::from_millis),
            token: string(&v[1]),
            count,
            host: string(&v[3]),
            pid,
            cmd: crate::engine::server::redact_text(&string(&v[5])),
            since_unix_ms,
            fence,
            ttl,
            unreadable,
            other_client: false,
        })
    }

    /// `web-3 pid 4121` — the host and process, as every message names a holder.
    pub fn who(&self) -> String {
        if self.other_client {
            return "another client".to_string();
        }
        let mut s = if self.host.is_empty() {
            "an unknown holder".to_string()
        } else {
            self.host.clone()
        };
        if let Some(pid) = self.pid {
            s.push_str(&format!(" pid {pid}"));
        }
        s
    }

    /// When it was first acquired, by the holder's wall clock.
    pub fn since(&self) -> Option<SystemTime> {
        unix_ms(self.since_unix_ms?)
    }

    /// `held by web-3 pid 4121 (./deploy.sh)`, or for a hold kept after its command ended
    /// (count 0, see release.lua) `kept by web-3 pid 4121 (./deploy.sh) after its command
    /// finished`: the plain facts, for the engine's `Display` and tests. What users read is
    /// `cli::words::holder`.
    pub fn fact(&self) -> String {
        if self.other_client {
            return format!("held by another client (value '{}')", self.token.escape_debug());
        }
        let verb = if self.count == 0 { "kept" } else { "held" };
        let mut s = format!("{verb} by {}", self.who());
        if !self.cmd.is_empty() {
            s.push_str(&format!(" ({})", self.cmd));
        }
        if self.count == 0 {
            s.push_str(" after its command finished");
        }
        s
    }
}

// lock/ still imports these from here; its imports move to `engine::value` once the
// `--classic` work on lock/ is merged (issue 25).

/// Why an attempt did not get the lock, while enough instances answered.
#[derive(Debug, Clone)]
pub struct Busy {
    /// The holder seen on the most instances, if any holds it (a lost three-way race leaves
    /// none with a majority and maybe none at all).
    pub holder: Option<Holder>,
    /// On how many instances that holder was seen.
    pub held_on: usize,
    pub n: usize,
    /// The holder was read from the decider alone (a decider-first attempt, `lock::Approach`,
    /// that stopped there): it holds the decider, which a stale hold can do too (see `wait`).
    pub from_decider: bool,
    /// The lock is free on the decider, but another waiter is first in its queue.
    pub turn_of: Option<Waiter>,
    /// Waiters ahead of us in the queue, once we are in it (`wait` sets it).
    pub ahead: Option<usize>,
    /// What is held beside the exclusive lock, if anything: with `turn_of`, beside the room
    /// for us on the deciding instance; else what keeps us out.
    pub holding: Option<Holding>,
}

/// `--shared` or `--limit` holds somewhere: the mode (`shared` or `limit`), how many, and N.
pub type Holding = (String, usize, u32);

impl Busy {
    /// `lock 'deploy' is held by web-3 pid 4121 (./deploy.sh)`: the plain facts, for the
    /// engine's `Display` and tests. What users read is `cli::words::busy`.
    pub fn describe(&self, resource: &str) -> String {
        format!("lock '{resource}' is {}", self.fact())
    }

    /// `held by web-3 pid 4121 (./deploy.sh)`, or why nobody holds it: the plain facts.
    pub fn fact(&self) -> String {
        match (&self.holder, &self.turn_of) {
            (Some(h), _) => h.fact(),
            (None, Some(w)) => format!("free, but waiter {} comes first", w.host),
            (None, None) => "contended: no holder has a quorum".to_string(),
        }
    }
}

/// A waiter in a resource's queue, as an instance reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiter {
    pub token: String,
    pub host: String,
    pub pid: Option<u32>,
    pub cmd: String,
    /// When it started waiting (its own wall clock).
    pub since_unix_ms: Option<u64>,
    /// `exclusive`, `shared` or `limit`.
    pub mode: String,
    /// The fields (`pid`, `since`) whose stored value is not one this tool writes.
    pub unreadable: Unreadable,
}

impl Waiter {
    /// From the queue's record `expires_ms|host|pid|since_ms|mode|cmd` (queue.lua); the
    /// command comes last, so it may contain `|`.
    pub fn parse(token: &str, info: &str) -> Waiter {
        let mut parts = info.splitn(6, '|');
        let _expires = parts.next();
        let host = parts.next().unwrap_or("").to_string();
        let mut unreadable = Unreadable::default();
        let mut number = |name: &'static str, text: Option<&str>, max: u64| {
            let text = text.unwrap_or("");
            let n = text.parse::<u64>().ok().filter(|n| *n <= max);
            if n.is_none() && !text.is_empty() {
                unreadable.insert(name);
            }
            n
        };
        let pid = number("pid", parts.next(), u64::from(u32::MAX)).map(|p| p as u32);
        let since_unix_ms = number("since", parts.next(), MAX_UNIX_MS);
        // `limit:N` in the record (the queue needs N): shown as its mode, `limit`.
        let mode = parts.next().unwrap_or("exclusive");
        let mode = mode.split(':').next().unwrap_or(mode).to_string();
        let cmd = crate::engine::server::redact_text(parts.next().unwrap_or(""));
        Waiter {
            token: token.to_string(),
            host,
            pid,
            cmd,
            since_unix_ms,
            mode,
            unreadable,
        }
    }

    /// When it started waiting, by its own wall clock.
    pub fn since(&self) -> Option<SystemTime> {
        unix_ms(self.since_unix_ms?)
    }
}

/// The queue in a read reply: token and record pairs from `from` on, in order.
pub fn waiters(v: &[Value], from: usize) -> Vec<Waiter> {
    v.get(from..)
        .unwrap_or_default()
        .chunks(2)
        .filter(|pair| pair.len() == 2)
        .map(|pair| Waiter::parse(&string(&pair[0]), &string(&pair[1])))
        .collect()
}

/// Each token with its holder and its number of instances, most first (ties keep the order
/// of the servers): the one count of holders that busy lines, `inspect` and `release --force`
/// share. A round ends once a quorum answered, so the last instance may lag behind
/// (a re-entry, the fence record or a renewal not there yet): the holder is merged from all of
/// them, with the highest hold count and fence, and the ttl and time left of the instance
/// renewed last (the longest time left).
pub fn tally<'a>(holders: impl IntoIterator<Item = &'a Holder>) -> Vec<(Holder, usize)> {
    let mut tokens: Vec<(Holder, usize)> = vec![];
    for h in holders {
        match tokens.iter_mut().find(|(t, _)| t.token == h.token) {
            Some((merged, on)) => {
                *on += 1;
                merged.count = merged.count.max(h.count);
                merged.fence = merged.fence.max(h.fence);
                let longest = |l: Option<Duration>| l.unwrap_or(Duration::MAX);
                if longest(h.time_left) > longest(merged.time_left) {
                    merged.ttl = h.ttl;
                    merged.time_left = h.time_left;
                }
            }
            None => tokens.push((h.clone(), 1)),
        }
    }
    tokens.sort_by_key(|(_, on)| std::cmp::Reverse(*on));
    tokens
}

/// A holder of `./deploy.sh` on web-3, for tests.
#[cfg(test)]
pub(crate) fn sample(count: i64, since_unix_ms: Option<u64>) -> Holder {
    Holder {
        token: "t".into(),
        count,
        host: "web-3".into(),
        pid: Some(4121),
        cmd: "./deploy.sh".into(),
        since_unix_ms,
        fence: 7,
        ttl: None,
        time_left: Some(Duration::from_millis(11_600)),
        unreadable: Unreadable::default(),
        other_client: false,
    }
}

#[cfg(test)]
mod tests {
    use super::sample as holder;
    use super::*;

    #[test]
    fn long_commands_are_cut() {
        let meta = HolderMeta::new(1, &"x".repeat(500));
        assert_eq!(meta.cmd.chars().count(), 200);
        assert_eq!(HolderMeta::new(1, "a\nb").cmd, "a b");
    }

    #[test]
    fn states_the_facts_without_wording_them() {
        assert_eq!(holder(1, None).who(), "web-3 pid 4121");
        assert_eq!(holder(1, None).fact(), "held by web-3 pid 4121 (./deploy.sh)");
        assert_eq!(
            holder(0, None).fact(),
            "kept by web-3 pid 4121 (./deploy.sh) after its command finished"
        );
    }

    #[test]
    fn command_lines_lose_their_passwords_as_in_server_redact_text() {
        for (given, shown) in [
            (
                "redlock -s redis://:s3cret@db:6380 acquire -r x",
                "redlock -s redis://:***@db:6380 acquire -r x",
            ),
            (
                "x redis://alice:p@ss@h/2,rediss://bob:pw@h2 y",
                "x redis://alice:***@h/2,rediss://bob:***@h2 y",
            ),
            (
                "REDLOCK_SERVERS=redis://u:pw@h ./job",
                "REDLOCK_SERVERS=redis://u:***@h ./job",
            ),
            (
                "redis+unix:///s.sock?db=1&pass=s3cret&x=1 z",
                "redis+unix:///s.sock?db=1&pass=***&x=1 z",
            ),
            ("curl https://example.com/a@b:c", "curl https://example.com/a@b:c"),
            ("./deploy.sh --pass=keep prod", "./deploy.sh --pass=keep prod"),
            ("redis://host:6379 ://", "redis://host:6379 ://"),
        ] {
            assert_eq!(crate::engine::server::redact_text(given), shown, "{given}");
        }
        assert!(!HolderMeta::new(1, "redlock -s redis://:s3cret@h acquire")
            .cmd
            .contains("s3cret"));
    }
}
