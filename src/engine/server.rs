//! Server URLs: parsing and validation, and a Display that never shows a password.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Once;

use redis::IntoConnectionInfo;

pub mod tls_settings;

use tls_settings::Tls;

/// One Redis instance as the user named it. `Display` prints it with the password replaced by
/// `***`, and every message that names a server goes through it (contract: passwords are never
/// printed).
#[derive(Clone)]
pub struct ServerUrl {
    url: url::Url,
    /// How a `rediss://` server is verified and what we present to it (`--tls-*`).
    tls: Tls,
}

/// Redis's port, where a URL names none.
const DEFAULT_PORT: u16 = 6379;

/// Query parameters the redis crate understands for unix sockets (`?db=N&user=U&pass=P`);
/// anything else is a typo we refuse rather than ignore.
const UNIX_QUERY: [&str; 3] = ["db", "user", "pass"];

impl ServerUrl {
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// How this server is reached over TLS (`--tls-*`; the default for a plain one).
    pub fn tls(&self) -> &Tls {
        &self.tls
    }

    pub fn is_tls(&self) -> bool {
        self.url.scheme() == "rediss"
    }

    pub fn is_unix(&self) -> bool {
        matches!(self.url.scheme(), "unix" | "redis+unix")
    }

    /// The same server, reached with these TLS settings if it is a `rediss://` one.
    pub fn with_tls(mut self, tls: &Tls) -> ServerUrl {
        if self.is_tls() {
            self.tls = tls.clone();
        }
        self
    }

    /// What the redis crate connects to, TLS settings included: anything that opens a
    /// connection (`redis::Client::open(info)`) starts here. We skip `CLIENT SETINFO` so a
    /// fresh connection costs no extra request before the first script runs, and set
    /// TCP_NODELAY.
    pub fn connection_info(&self) -> redis::RedisResult<redis::ConnectionInfo> {
        let info = self.url.clone().into_connection_info()?;
        let redis = info.redis_settings().clone().set_skip_set_lib_name();
        // Every request is a small write awaiting its reply: never hold one back (Nagle).
        let tcp = info.tcp_settings().clone().set_nodelay(true);
        let info = info.set_redis_settings(redis).set_tcp_settings(tcp);
        if !self.is_tls() {
            return Ok(info);
        }
        install_provider();
        if self.tls.is_default() {
            return Ok(info);
        }
        let client = redis::Client::build_with_tls(info, self.tls.certificates())?;
        Ok(client.get_connection_info().clone())
    }

    /// The database number requests go to (0 unless the URL names one): where keyspace
    /// notifications of a key are published (`__keyspace@DB__:KEY`).
    pub fn db(&self) -> i64 {
        self.url
            .clone()
            .into_connection_info()
            .map_or(0, |info| info.redis_settings().db())
    }

    /// host:port (or the socket path): a short name for tables and `-v` lines.
    pub fn short(&self) -> String {
        if self.is_unix() {
            return self.url.path().to_string();
        }
        let host = self.url.host_str().unwrap_or("");
        format!("{host}:{}", self.url.port().unwrap_or(DEFAULT_PORT))
    }
}

/// Where a server listens, to tell two URLs that reach one server process apart from two
/// servers: TCP by port and resolved addresses (the db does not count: two dbs of one server
/// fail together), a unix socket by its canonical path.
#[derive(Debug)]
enum Location {
    Tcp {
        name: String,
        addrs: Vec<IpAddr>,
        port: u16,
    },
    Unix(PathBuf),
}

impl Location {
    fn of(server: &ServerUrl) -> Location {
        if server.is_unix() {
            let path = PathBuf::from(server.url.path());
            return Location::Unix(std::fs::canonicalize(&path).unwrap_or(path));
        }
        let port = server.url.port().unwrap_or(DEFAULT_PORT);
        let (name, addrs) = match server.url.host() {
            Some(url::Host::Ipv4(ip)) => (ip.to_string(), vec![IpAddr::V4(ip)]),
            Some(url::Host::Ipv6(ip)) => (ip.to_string(), vec![IpAddr::V6(ip)]),
            Some(url::Host::Domain(name)) => {
                // A name that does not resolve now is compared by name alone; connecting to
                // it will say what is wrong.
                let addrs = (name, port)
                    .to_socket_addrs()
                    .map(|found| found.map(|a| a.ip()).collect())
                    .unwrap_or_default();
                (name.to_ascii_lowercase(), addrs)
            }
            None => (String::new(), vec![]),
        };
        Location::Tcp { name, addrs, port }
    }

    /// The address both reach, as people write it (`127.0.0.1:7401`), if they are one.
    fn shared_with(&self, other: &Location) -> Option<String> {
        match (self, other) {
            (Location::Unix(a), Location::Unix(b)) => (a == b).then(|| a.display().to_string()),
            (
                Location::Tcp {
                    name: n1,
                    addrs: a1,
                    port: p1,
                },
                Location::Tcp {
                    name: n2,
                    addrs: a2,
                    port: p2,
                },
            ) if p1 == p2 => {
                if let Some(ip) = a1.iter().find(|ip| a2.contains(ip)) {
                    return Some(SocketAddr::new(*ip, *p1).to_string());
                }
                (n1 == n2).then(|| format!("{n1}:{p1}"))
            }
            _ => None,
        }
    }
}

/// Two servers of `servers` that reach the same server process, which would count twice
/// toward N (docs/tls-auth.md, "Server URLs": one server counts once toward the quorum), as a
/// usage error to print.
/// Resolves host names, so it is the one place before connecting that may wait on DNS.
pub fn find_alias(servers: &[ServerUrl]) -> Option<String> {
    if servers.len() < 2 {
        return None;
    }
    let locations: Vec<Location> = servers.iter().map(Location::of).collect();
    for (j, pj) in locations.iter().enumerate() {
        for (i, pi) in locations[..j].iter().enumerate() {
            if let Some(at) = pi.shared_with(pj) {
                return Some(format!(
                    "servers {} and {} are the same instance ({at}); each instance counts once \
                     toward the quorum, so list it once (two dbs of one server fail together)",
                    servers[i], servers[j]
                ));
            }
        }
    }
    None
}

/// rustls needs one process-wide crypto provider; the redis crate enables rustls without
/// one, so we install ring's before the first TLS connection (once; a provider installed
/// earlier wins, which is just as good).
fn install_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl FromStr for ServerUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty server URL; expected redis://host[:port][/db]".into());
        }
        if s.chars().any(char::is_control) {
            return Err("server URL contains a control character".into());
        }
        let url = url::Url::parse(s).map_err(|e| {
            format!(
                "'{}' is not a URL ({e}); expected redis://host[:port][/db]",
                redact_raw(s)
            )
        })?;
        let shown = ServerUrl {
            url: url.clone(),
            tls: Tls::default(),
        }
        .to_string();
        match url.scheme() {
            "redis" | "rediss" => check_tcp(&url, &shown)?,
            "unix" | "redis+unix" => check_unix(&url, &shown)?,
            other => {
                return Err(format!(
                    "unsupported scheme '{other}' in '{shown}'; use redis://, rediss:// or redis+unix://"
                ))
            }
        }
        // Whatever else the redis crate refuses (a user name that is not UTF-8 once decoded,
        // say) is refused here, as a usage error, not at connect time as "unreachable".
        if let Err(e) = url.clone().into_connection_info() {
            let text = e.to_string();
            let why = text.split(" - ").next().unwrap_or(&text).to_lowercase();
            return Err(format!("'{shown}' cannot be used: {why}"));
        }
        Ok(ServerUrl {
            url,
            tls: Tls::default(),
        })
    }
}

/// A `redis://` or `rediss://` URL's parts: a host, a port that is not 0, a database number
/// at most, no query, no fragment. `shown` is the URL as messages show it (no password).
fn check_tcp(url: &url::Url, shown: &str) -> Result<(), String> {
    match url.host_str() {
        None | Some("") => return Err(format!("'{shown}' has no host")),
        Some(_) => {}
    }
    if url.port() == Some(0) {
        return Err(format!("'{shown}' has port 0; use a port from 1 to 65535"));
    }
    let db = url.path().trim_matches('/');
    if !db.is_empty() && db.parse::<u16>().is_err() {
        return Err(format!(
            "'{shown}': '{db}' is not a database number (redis://host:port/N)"
        ));
    }
    if let Some(q) = url.query() {
        return Err(format!(
            "'{shown}': unknown query parameters '{q}'; redis:// URLs take none"
        ));
    }
    if url.fragment().is_some() {
        return Err(format!("'{shown}': a URL fragment (#…) is not supported"));
    }
    Ok(())
}

/// A unix socket URL's parts: a socket path, no host, only the query parameters the redis
/// crate understands (a typo is refused rather than ignored).
fn check_unix(url: &url::Url, shown: &str) -> Result<(), String> {
    if !url.path().starts_with('/') || url.path() == "/" {
        return Err(format!(
            "'{shown}' has no socket path; expected redis+unix:///path/to/redis.sock"
        ));
    }
    if url.host_str().is_some_and(|h| !h.is_empty()) {
        return Err(format!(
            "'{shown}': a unix socket URL takes no host; use three slashes: \
             redis+unix:///path/to/redis.sock"
        ));
    }
    for (k, v) in url.query_pairs() {
        if !UNIX_QUERY.contains(&k.as_ref()) {
            return Err(format!(
                "'{shown}': unknown query parameter '{k}'; unix socket URLs take db, user, pass"
            ));
        }
        if k == "db" && v.parse::<u16>().is_err() {
            return Err(format!("'{shown}': '{v}' is not a database number"));
        }
    }
    Ok(())
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.url.clone();
        if shown.password().is_some() {
            // Infallible for URLs with a host, which are the only ones with a password part.
            let _ = shown.set_password(Some("***"));
        }
        if shown.query_pairs().any(|(k, _)| k == "pass") {
            let pairs: Vec<(String, String)> = shown
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "pass" {
                        "***".to_string()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
        f.write_str(shown.as_str())
    }
}

impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl PartialEq for ServerUrl {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
    }
}

/// Hide whatever sits between `//` and `@` in a string that did not even parse as a URL, so a
/// malformed URL with a password in it is not echoed back.
fn redact_raw(s: &str) -> String {
    match (s.find("//"), s.rfind('@')) {
        (Some(start), Some(at)) if at > start + 2 => format!("{}***{}", &s[..start + 2], &s[at..]),
        _ => s.to_string(),
    }
}

/// Replace every password in free text with `***`: the userinfo password of each URL
/// (`scheme://user:PASSWORD@host`, up to the last `@` before a space, quote or comma, so a
/// malformed URL with `/` or `@` in its password is covered too), and a `pass=PASSWORD` query
/// parameter (unix socket URLs carry it there). Used for clap's errors, which quote what the
/// user typed, and for holders' command lines, which `inspect` shows (contract: passwords are
/// never printed). A URL without a password is left as it is.
pub fn redact_text(text: &str) -> String {
    let stop = |c: char| c.is_whitespace() || matches!(c, '\'' | '"' | ',' | '`');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find(stop).unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority
            .rfind('@')
            .and_then(|at| authority[..at].find(':').map(|colon| (colon, at)))
        {
            Some((colon, at)) => {
                out.push_str(&authority[..=colon]);
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    let mut redacted = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("pass=") {
        let in_query = i > 0 && matches!(rest.as_bytes()[i - 1], b'?' | b'&');
        let (head, tail) = rest.split_at(i + "pass=".len());
        redacted.push_str(head);
        rest = tail;
        if in_query {
            let end = tail
                .find(|c: char| stop(c) || c == '&' || c == '#')
                .unwrap_or(tail.len());
            if end > 0 {
                redacted.push_str("***");
            }
            rest = &tail[end..];
        }
    }
    redacted.push_str(rest);
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ServerUrl, String> {
        s.parse()
    }

    #[test]
    fn display_hides_the_password() {
        let u = parse("redis://alice:s3cret@db.example:6380/2").unwrap();
        assert_eq!(u.to_string(), "redis://alice:***@db.example:6380/2");
        let u = parse("redis://:s3cret@h").unwrap();
        assert!(!u.to_string().contains("s3cret"));
        let u = parse("redis+unix:///tmp/r.sock?db=1&pass=s3cret").unwrap();
        assert!(!u.to_string().contains("s3cret"), "{u}");
    }

    #[test]
    fn free_text_loses_its_passwords() {
        let t = "error: invalid value 'redis://bob:hunter2@h:99999,rediss://:pw@x' for '--server <URL>'";
        let r = redact_text(t);
        assert!(!r.contains("hunter2") && !r.contains(":pw@"), "{r}");
        assert!(
            r.contains("redis://bob:***@h:99999") && r.contains("rediss://:***@x"),
            "{r}"
        );
        assert_eq!(
            redact_text("unix:///s?db=1&pass=hunter2 x"),
            "unix:///s?db=1&pass=*** x"
        );
        assert_eq!(redact_text("no urls here"), "no urls here");
    }

    #[test]
    fn errors_never_echo_a_password() {
        for bad in [
            "redis://u:s3cret@h:99999",
            "http://u:s3cret@h",
            "redis://u:s3cret@h/x",
            "redis://u:s3cret@h?x=1",
        ] {
            let e = parse(bad).err().unwrap();
            assert!(!e.contains("s3cret"), "{bad} -> {e}");
        }
    }

    #[test]
    fn accepts_the_documented_forms() {
        for ok in [
            "redis://127.0.0.1",
            "redis://127.0.0.1:6380/3",
            "rediss://cache.example:6380",
            "redis://user:pw@h:1",
            "redis+unix:///var/run/redis.sock",
            "unix:///var/run/redis.sock?db=2",
            "redis://[::1]:6379",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok).err());
        }
    }

    #[test]
    fn refuses_malformed_urls() {
        for bad in [
            "",
            "localhost:6379",
            "http://h",
            "redis://",
            "redis://:6379",
            "redis://h:0",
            "redis://h:65536",
            "redis://h:port",
            "redis://h/abc",
            "redis://h?timeout=1",
            "redis+unix://",
            "unix:///s.sock?nope=1",
            "redis://%8a@127.0.0.1",
        ] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
