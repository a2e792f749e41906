//! The value parsers behind the command line's flags and variables: durations, server URLs,
//! TLS files, names, tokens, prefixes and pids. Bad input is a usage error (exit 2) in clap's
//! form, with a message that says what would be accepted.

use std::path::Path;
use std::time::Duration;

use crate::engine::server::tls_settings::PemFile;
use crate::engine::server::ServerUrl;

/// The largest duration we accept anywhere: far beyond any sensible lease or wait, small
/// enough that deadlines computed from it never overflow.
const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

pub const MAX_RESOURCE_BYTES: usize = 512;
pub const MAX_TOKEN_BYTES: usize = 256;
pub const MAX_PREFIX_BYTES: usize = 256;

/// Every duration flag and variable goes through here: a bare number is seconds, as flock's
/// `-w 5` and timeout(1)'s `5` or `0.5` are (docs/operator.md, "Durations"); otherwise
/// humantime (`500ms`, `30s`, `1h 30m`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    let d = match bare_seconds(text) {
        Some(secs) => Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| *d <= MAX_DURATION)
            .ok_or_else(|| format!("'{s}' is too long; the limit is 10 years"))?,
        None => humantime::parse_duration(text).map_err(|e| {
            format!("'{s}' is not a duration ({e}); use e.g. 5 (seconds), 500ms, 30s, 2m, 1h 30m")
        })?,
    };
    if d > MAX_DURATION {
        return Err(format!("'{s}' is too long; the limit is 10 years"));
    }
    Ok(d)
}

/// `5`, `0.5`, `.5`, `10.`: a plain decimal number of seconds (no sign, exponent, `inf`).
fn bare_seconds(s: &str) -> Option<f64> {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let dots = s.chars().filter(|c| *c == '.').count();
    if digits == 0 || dots > 1 || digits + dots != s.len() {
        return None;
    }
    s.parse().ok()
}

pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(1) {
        return Err(format!("'{s}' must be at least 1ms"));
    }
    Ok(d)
}

pub fn parse_server(s: &str) -> Result<ServerUrl, String> {
    s.parse()
}

pub fn parse_tls_ca(s: &str) -> Result<PemFile, String> {
    PemFile::certificates(Path::new(s))
}

pub fn parse_tls_cert(s: &str) -> Result<PemFile, String> {
    PemFile::certificates(Path::new(s))
}

pub fn parse_tls_key(s: &str) -> Result<PemFile, String> {
    PemFile::private_key(Path::new(s))
}

/// A running process, for `--owner`.
pub fn parse_owner(s: &str) -> Result<u32, String> {
    let pid: u32 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a process id; give the pid of a running process"))?;
    if pid <= 1 || !Path::new(&format!("/proc/{pid}")).exists() {
        return Err(format!(
            "there is no process {pid} to own the hold; give the pid of a running process"
        ));
    }
    Ok(pid)
}

pub fn parse_resource(s: &str) -> Result<String, String> {
    check_name("resource name", s, MAX_RESOURCE_BYTES)
}

pub fn parse_token(s: &str) -> Result<String, String> {
    check_name("token", s, MAX_TOKEN_BYTES)
}

pub fn parse_prefix(s: &str) -> Result<String, String> {
    if s.chars().any(char::is_whitespace) {
        return Err("the prefix must not contain spaces; use e.g. 'myapp:locks:'".into());
    }
    check_name("prefix", s, MAX_PREFIX_BYTES)
}

fn check_name(what: &str, s: &str, max: usize) -> Result<String, String> {
    if s.is_empty() {
        return Err(format!("the {what} must not be empty"));
    }
    if s.len() > max {
        return Err(format!(
            "the {what} is {} bytes long; the limit is {max}",
            s.len()
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(format!("the {what} must not contain control characters"));
    }
    Ok(s.to_string())
}
