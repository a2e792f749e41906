//! Driving the library directly: a `Locker` on given servers, and acquisition requests.

use std::time::Duration;

use redlock::engine::holder::HolderMeta;
use redlock::engine::lock::{Attempt, Lease, Locker, Request};
use redlock::engine::settings::{Settings, Verbosity};

/// Settings for these server URLs with the contract's default timeouts.
pub fn settings(urls: &[String]) -> Settings {
    Settings {
        servers: urls.iter().map(|u| u.parse().expect("test URL")).collect(),
        prefix: "redlock:".into(),
        connect_timeout: Duration::from_millis(250),
        op_timeout: Duration::from_millis(250),
        verbosity: Verbosity::Quiet,
        classic: None,
    }
}

pub fn locker(urls: &[String]) -> Locker {
    Locker::new(&settings(urls), None)
}

pub fn request(resource: &str, token: &str, ttl: Duration) -> Request {
    Request {
        resource: resource.into(),
        token: token.into(),
        ttl,
        meta: HolderMeta::new(std::process::id(), "cargo test"),
        mode: Default::default(),
    }
}

/// One attempt that must succeed.
pub fn acquire(locker: &Locker, req: &Request) -> Lease {
    match locker.try_acquire(req).expect("acquire failed") {
        Attempt::Acquired(lease) => lease,
        Attempt::Busy(b) => panic!("expected to acquire, but {}", b.describe(&req.resource)),
    }
}

/// Plant a lock hash by hand, laid out exactly as acquire.lua writes it.
pub fn plant(conn: &mut redis::Connection, resource: &str, token: &str, ttl_ms: u64) {
    let key = format!("redlock:lock:{resource}");
    redis::cmd("HSET")
        .arg(&key)
        .arg(&[
            "token",
            token,
            "count",
            "1",
            "host",
            "elsewhere",
            "pid",
            "99",
            "cmd",
            "planted",
            "since",
            "0",
            "ttl",
        ])
        .arg(ttl_ms)
        .arg(&["fence", "0"])
        .query::<()>(conn)
        .expect("HSET");
    redis::cmd("PEXPIRE")
        .arg(&key)
        .arg(ttl_ms)
        .query::<()>(conn)
        .expect("PEXPIRE");
}

/// The token holding `resource` on this instance, if any.
pub fn holder_token(conn: &mut redis::Connection, resource: &str) -> Option<String> {
    redis::cmd("HGET")
        .arg(format!("redlock:lock:{resource}"))
        .arg("token")
        .query(conn)
        .expect("HGET")
}
