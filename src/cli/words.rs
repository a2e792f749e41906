//! The engine's facts in the words users read: a holder, a busy lock, an instance's error
//! (with the flag that fixes a TLS problem), durations and times of day. The engine keeps the facts (a hold count of 0 is a hold kept by `--min-hold`, the
//! time left, since when); naming the flag behind them is the CLI's business.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::engine::holder::{Busy, Holder};
use crate::engine::instance::{InstanceError, ServerError};
use crate::engine::server::ServerUrl;
use crate::engine::wire::error::TlsProblem;

/// `held by web-3 pid 4121 (./deploy.sh) for 4m 12s`: who, and how long it has held the
/// lock (not the lease's time left, which the holder keeps renewing and people read as
/// "free in"). A hold kept only by `--min-hold` after its command ended says so:
/// `kept by --min-hold until 03:00:41 after ./report on web-1 finished`.
pub fn holder(h: &Holder) -> String {
    holder_at(h, SystemTime::now())
}

fn holder_at(h: &Holder, now: SystemTime) -> String {
    if h.other_client {
        // A Redlock library's hold of a --classic lock: no host, command or since, only its
        // value and its lease.
        let left = match h.time_left {
            Some(left) => format!(", {} left", human(left)),
            None => String::new(),
        };
        return format!(
            "held by another client (value '{}'{left})",
            h.token.escape_debug()
        );
    }
    if h.count == 0 {
        // release.lua leaves count 0 when --min-hold keeps the key: nobody holds it.
        let until = match h.time_left {
            Some(left) => format!(" until {}", clock_time(now + left)),
            None => String::new(),
        };
        let what = if h.cmd.is_empty() { "its command" } else { &h.cmd };
        return format!("kept by --min-hold{until} after {what} on {} finished", h.who());
    }
    let mut s = format!("held by {}", h.who());
    if !h.cmd.is_empty() {
        s.push_str(&format!(" ({})", h.cmd));
    }
    if let Some(held) = h.since().and_then(|t| now.duration_since(t).ok()) {
        s.push_str(&format!(" for {}", human(held)));
    }
    s
}

/// `lock 'deploy' is held by web-3 pid 4121 (./deploy.sh) for 4m 12s`
pub fn busy(resource: &str, busy: &Busy) -> String {
    format!("lock '{resource}' is {}", busy_state(busy))
}

/// `held by web-3 pid 4121 (./deploy.sh) for 4m 12s`, or why nobody does.
pub fn busy_state(busy: &Busy) -> String {
    match (&busy.holder, &busy.turn_of) {
        (Some(h), None) if busy.holding.is_some() => {
            // Full (every slot), or shared and we want it alone: how many, and one of them.
            let held = match &busy.holding {
                Some((kind, k, limit)) if kind == "limit" => format!("held ({k} of {limit} slots)"),
                Some((_, k, _)) => format!("shared by {k}"),
                None => String::new(),
            };
            format!("{held}, one {}", holder(h))
        }
        (Some(h), _) => holder(h),
        (None, Some(w)) => {
            let room = match &busy.holding {
                None => "free".to_string(),
                Some((kind, k, limit)) if kind == "limit" => format!("held ({k} of {limit} slots)"),
                Some((_, k, _)) => format!("shared by {k}"),
            };
            let mut s = format!("{room}, but queued waiters come first: next is {}", w.host);
            if let Some(pid) = w.pid {
                s.push_str(&format!(" pid {pid}"));
            }
            if !w.cmd.is_empty() {
                s.push_str(&format!(" ({})", w.cmd));
            }
            s
        }
        (None, None) => "contended: no holder has a quorum right now".to_string(),
    }
}

/// An instance's error as users read it: a TLS problem with what to do about it (the flag
/// to pass, or what to check).
pub fn instance_error(e: &InstanceError) -> String {
    let hint = match e.tls {
        None => return server_reply(e, None),
        Some(TlsProblem::ClientKey) => return format!("--tls-cert/--tls-key: {}", e.message),
        Some(TlsProblem::UnknownIssuer) => {
            "; pass the CA that signed the server's certificate with --tls-ca FILE"
        }
        Some(TlsProblem::WrongName) => "; connect by a host name or IP address the certificate lists",
        Some(TlsProblem::Expired) => "; the server's certificate has expired (or this host's clock is wrong)",
        Some(TlsProblem::ClientCertRequired) => {
            "; the server may require a client certificate: pass --tls-cert FILE and --tls-key FILE"
        }
        Some(TlsProblem::ClientCertRejected) => {
            "; the server does not accept our client certificate (--tls-cert)"
        }
        Some(TlsProblem::NotTls) => "; is this a TLS port? use redis:// for a plain one",
        Some(TlsProblem::Other) => "",
    };
    format!("{e}{hint}")
}

/// `1 of 3 servers did not answer (redis://10.0.0.3:6379: connection refused); one more and
/// locks are unavailable`, or when all answer again, that they do; `None` when there is
/// nothing to say (all answer, and nothing was said before: the caller knows).
pub fn degraded(failing: &[ServerError], n: usize, quorum: usize) -> Option<String> {
    if failing.is_empty() {
        return Some(format!("all {n} servers answer again"));
    }
    let k = failing.len();
    let errors: Vec<String> = failing.iter().map(server_error).collect();
    let margin = match (n - k).checked_sub(quorum) {
        None => "too few to hold a lock".to_string(),
        Some(0) => "one more and locks are unavailable".to_string(),
        Some(spare) => format!("{} more and locks are unavailable", spare + 1),
    };
    Some(format!(
        "{k} of {n} servers did not answer ({}); {margin}",
        errors.join("; ")
    ))
}

/// `host:port: error`, the error as [`instance_error`] words it.
pub fn server_error(e: &ServerError) -> String {
    let text = match e.error.tls {
        None => server_reply(&e.error, Some(&e.server)),
        Some(_) => instance_error(&e.error),
    };
    format!("{}: {text}", e.server)
}

/// What a server said, reworded where its own words mislead at 3 a.m.: a password sent to a
/// server without one, and a database number beyond the server's (the URL's `/N`).
pub fn server_reply(e: &InstanceError, server: Option<&ServerUrl>) -> String {
    if e.message == crate::engine::instance::NO_PASSWORD_CONFIGURED {
        return format!(
            "{e}, but the URL gives one: remove the password from the URL (or set one on the server)"
        );
    }
    if e.message
        .to_ascii_lowercase()
        .contains("db index is out of range")
    {
        let db = server
            .map(|s| s.url().path().trim_start_matches('/').to_string())
            .filter(|db| !db.is_empty())
            .map_or("the URL's /N".to_string(), |db| format!("/{db} in the URL"));
        return format!(
            "the server has fewer databases than {db} asks for (redis.conf `databases`, 16 by \
             default): use a smaller number, or none for database 0"
        );
    }
    e.to_string()
}

/// `03:00:41 +01:00`: a time of day on the local clock with its offset from UTC, as every
/// message shows a time to a person (docs/operator.md, "One clock"). The one function
/// for it, so the min-hold notice, `release --force` and `inspect` agree; JSON stays UTC.
pub fn clock_time(t: SystemTime) -> String {
    match local(t) {
        Some(tm) => format!(
            "{:02}:{:02}:{:02} {}",
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            offset(tm.tm_gmtoff)
        ),
        None => "(a time out of range)".into(),
    }
}

/// `2026-12-06 03:00:41 +01:00`: a date and time on the local clock with its offset, for
/// tables where the day matters (since when a lock is held, or a waiter waits).
pub fn local_time(t: SystemTime) -> String {
    match local(t) {
        Some(tm) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {}",
            i64::from(tm.tm_year) + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            offset(tm.tm_gmtoff)
        ),
        None => "(a time out of range)".into(),
    }
}

/// `+01:00`, `-05:30`, `+00:00`.
fn offset(gmtoff: libc::c_long) -> String {
    let sign = if gmtoff < 0 { '-' } else { '+' };
    let minutes = gmtoff.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `t` broken down on the local clock (the TZ variable, else /etc/localtime), or `None` for
/// a time the C library cannot show.
fn local(t: SystemTime) -> Option<libc::tm> {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).ok()?,
        Err(e) => -i64::try_from(e.duration().as_secs()).ok()?,
    };
    let secs = libc::time_t::try_from(secs).ok()?;
    // SAFETY: localtime_r reads `secs` and writes only into `tm`, which we own; it is the
    // thread-safe variant (no shared static buffer). An all-zero `tm` is a valid value.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return None;
        }
        Some(tm)
    }
}

/// A short human duration: `850ms`, `12s`, `3m 20s`.
pub fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    let secs = d.as_secs();
    let rounded = Duration::from_secs(if d.subsec_millis() >= 500 { secs + 1 } else { secs });
    humantime::format_duration(rounded).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_who_and_how_long_it_has_held() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let since = 1_000_000_000 - 252_000;
        assert_eq!(
            holder_at(&crate::engine::holder::sample(1, Some(since)), now),
            "held by web-3 pid 4121 (./deploy.sh) for 4m 12s"
        );
        // Not the lease's time left: without `since`, no duration at all.
        assert_eq!(
            holder_at(&crate::engine::holder::sample(1, None), now),
            "held by web-3 pid 4121 (./deploy.sh)"
        );
        assert_eq!(crate::engine::holder::sample(1, None).who(), "web-3 pid 4121");
    }

    #[test]
    fn a_min_hold_keep_says_the_command_finished_and_when_the_keep_ends() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let shown = holder_at(&crate::engine::holder::sample(0, Some(1)), now);
        let until = clock_time(now + Duration::from_millis(11_600));
        assert_eq!(
            shown,
            format!("kept by --min-hold until {until} after ./deploy.sh on web-3 pid 4121 finished")
        );
        assert_eq!(until.len(), 15, "HH:MM:SS +HH:MM: {until}");
    }

    #[test]
    fn times_show_the_local_clock_with_its_offset() {
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let (clock, full) = (clock_time(t), local_time(t));
        assert!(full.ends_with(&clock), "{full} / {clock}");
        let offset = &clock[9..];
        assert!(
            offset.starts_with(['+', '-']) && offset.len() == 6 && &offset[3..4] == ":",
            "{clock}"
        );
        assert_eq!(full.len(), "2001-09-09 01:46:40 +00:00".len(), "{full}");
        assert_eq!(offset_of(0), "+00:00");
        assert_eq!(offset_of(3600), "+01:00");
        assert_eq!(offset_of(-(5 * 3600 + 1800)), "-05:30");
    }

    fn offset_of(secs: i64) -> String {
        offset(secs as libc::c_long)
    }

    #[test]
    fn a_tls_problem_says_which_flag_fixes_it() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(
            instance_error(&crate::engine::wire::tls::failure(&tls)),
            "TLS handshake failed: invalid peer certificate: UnknownIssuer; \
             pass the CA that signed the server's certificate with --tls-ca FILE"
        );
        let other = InstanceError::new(
            crate::engine::instance::ErrorClass::Unreachable,
            "connection refused",
        );
        assert_eq!(instance_error(&other), "connection refused");
    }
}
