//! What one instance can answer: a request and how to read its reply ([`Call`]), and why an
//! instance gave no usable answer ([`InstanceError`], in classes that decide exit codes).
//! The requests travel on the pipelined wire (`wire`); the pub/sub listeners (`notify`) open
//! their own connections with [`open`].

use std::fmt;
use std::time::Duration;

use redis::{ErrorKind, ServerErrorKind, Value};

use crate::engine::scripts::Script;
use crate::engine::server::ServerUrl;
use crate::engine::wire::tls::TlsProblem;
use crate::engine::wire::{ByHash, Request};

/// Why an instance gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// Could not connect, or the connection broke.
    Unreachable,
    /// No answer within the op timeout (or the round ended first).
    Timeout,
    /// The server refused us: authentication, permissions, TLS.
    Refused,
    /// The server answered something we did not expect (not Redis, a script error).
    Protocol,
    /// The round was decided before this instance answered; its request still runs.
    NotAwaited,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceError {
    pub class: ErrorClass,
    /// What went wrong; for a TLS problem, rustls's text alone.
    pub message: String,
    /// What TLS problem it is, if it is one.
    pub tls: Option<TlsProblem>,
}

impl InstanceError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        InstanceError {
            class,
            message: message.into(),
            tls: None,
        }
    }

    /// A TLS problem: always a refusal. `message` is rustls's text.
    pub fn tls(problem: TlsProblem, message: impl Into<String>) -> Self {
        InstanceError {
            class: ErrorClass::Refused,
            message: message.into(),
            tls: Some(problem),
        }
    }

    /// Whether the request may have taken effect on the server (a timeout mid-request).
    pub fn maybe_applied(&self) -> bool {
        matches!(self.class, ErrorClass::Timeout | ErrorClass::NotAwaited)
    }
}

/// The plain fact, naming no flag; `cli::words::instance_error` adds what to do about a TLS
/// problem.
impl fmt::Display for InstanceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tls {
            None => f.write_str(&self.message),
            Some(TlsProblem::ClientKey) => write!(f, "client certificate and key: {}", self.message),
            Some(_) => write!(f, "TLS handshake failed: {}", self.message),
        }
    }
}

/// An instance's error, with the server it came from.
#[derive(Debug, Clone)]
pub struct ServerError {
    pub server: ServerUrl,
    pub error: InstanceError,
}

/// `host:port: error` (the server by its Display, which hides a password).
impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.server, self.error)
    }
}

/// Map a redis error to our classes, with a message that never contains a URL or password
/// (the redis crate's messages do not; the caller names the server by its redacted Display).
fn classify(e: &redis::RedisError, connecting: bool) -> InstanceError {
    // rustls verifies lazily, on the first request, so a certificate problem can surface on
    // any job, not only while connecting. It is a refusal, never "unreachable".
    if let Some(tls) = crate::engine::wire::tls::rustls_error(e) {
        return crate::engine::wire::tls::failure(tls);
    }
    // A server with requirepass answers a long unauthenticated request (our scripts have
    // more than 10 arguments) with this protocol error instead of NOAUTH, and hangs up.
    let no_auth =
        e.code().is_some_and(|c| c == "NOAUTH") || e.to_string().contains("Protocol error: unauthenticated");
    let class = if e.is_timeout() {
        ErrorClass::Timeout
    } else if no_auth
        || e.kind() == ErrorKind::AuthenticationFailed
        || matches!(e.kind(), ErrorKind::Server(ServerErrorKind::NoPerm))
        || e.code()
            .is_some_and(|c| matches!(c, "NOAUTH" | "WRONGPASS" | "NOPERM"))
    {
        ErrorClass::Refused
    } else if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
        ErrorClass::Unreachable
    } else if connecting {
        ErrorClass::Refused
    } else {
        ErrorClass::Protocol
    };
    let message = match class {
        ErrorClass::Timeout if connecting => "connect timed out".to_string(),
        ErrorClass::Timeout => "timed out".to_string(),
        ErrorClass::Refused if no_auth => {
            "authentication required: put the password in the URL (redis://:PASSWORD@host, or \
             ?pass=PASSWORD for a unix socket), and the URL in REDLOCK_SERVERS"
                .to_string()
        }
        ErrorClass::Refused
            if e.kind() == ErrorKind::AuthenticationFailed || e.code().is_some_and(|c| c == "WRONGPASS") =>
        {
            "authentication failed: wrong user or password".to_string()
        }
        _ => one_line(&e.to_string()),
    };
    InstanceError::new(class, message)
}

/// One line, without the `(os error N)` tail nobody at 3 a.m. needs.
pub fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let s = match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    };
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => s,
    }
}

/// A connection to `server` with both timeouts set, ready for requests: the one way every
/// part of the engine connects (rounds and release subscriptions alike), so every caller gets
/// the same error classes and the TLS check below.
pub fn open(
    server: &ServerUrl,
    connect_timeout: Duration,
    op_timeout: Duration,
) -> Result<redis::Connection, InstanceError> {
    let info = server
        .connection_info()
        .map_err(|e| InstanceError::new(ErrorClass::Refused, one_line(&e.to_string())))?;
    let conn = redis::Client::open(info)
        .and_then(|c| c.get_connection_with_timeout(connect_timeout))
        .map_err(|e| classify(&e, true))?;
    conn.set_read_timeout(Some(op_timeout))
        .and_then(|_| conn.set_write_timeout(Some(op_timeout)))
        .map_err(|e| classify(&e, true))?;
    let mut conn = conn;
    if server.is_tls() {
        // rustls shakes hands on the first request; make that a PING so a TLS problem is
        // reported as one, not as a failed script. A plain port never answers a ClientHello,
        // hence the hint on a timeout.
        redis::cmd("PING").query::<Value>(&mut conn).map_err(|e| {
            let err = classify(&e, true);
            match err.class {
                ErrorClass::Timeout => InstanceError::new(
                    ErrorClass::Timeout,
                    "TLS handshake timed out; is this a TLS port? use redis:// for a plain one",
                ),
                _ => err,
            }
        })?;
    }
    Ok(conn)
}

/// An error line a server sent (`-ERR …`), in our classes: a refusal (authentication,
/// permissions) or a protocol error (a script error, a command the server does not know).
pub fn server_error(line: &str) -> InstanceError {
    let code = line.split_whitespace().next().unwrap_or("");
    // A server with requirepass answers a long unauthenticated request (our scripts have
    // more than 10 arguments) with this protocol error instead of NOAUTH, and hangs up.
    if code == "NOAUTH" || line.contains("Protocol error: unauthenticated") {
        return InstanceError::new(
            ErrorClass::Refused,
            "authentication required: put the password in the URL (redis://:PASSWORD@host, or \
             ?pass=PASSWORD for a unix socket), and the URL in REDLOCK_SERVERS",
        );
    }
    if code == "WRONGPASS" {
        return InstanceError::new(
            ErrorClass::Refused,
            "authentication failed: wrong user or password",
        );
    }
    if code == "NOSCRIPT" {
        // Only a script's second or later use on a connection goes by hash, so the server's
        // script cache was emptied meanwhile (SCRIPT FLUSH, or a restart behind a proxy).
        return InstanceError::new(
            ErrorClass::Protocol,
            "the server's script cache was flushed (NOSCRIPT); the next request sends the script again",
        );
    }
    let class = if code == "NOPERM" {
        ErrorClass::Refused
    } else {
        ErrorClass::Protocol
    };
    // "ERR" says nothing the rest of the line does not.
    let text = line.strip_prefix("ERR ").unwrap_or(line);
    InstanceError::new(class, one_line(text))
}

/// A password was sent to a server that has none configured (Redis: "AUTH <password> called
/// without any password configured for the default user").
pub const NO_PASSWORD_CONFIGURED: &str = "authentication failed: the server has no password configured";

impl InstanceError {
    /// The same error as an answer to AUTH or SELECT, before any request: whatever the
    /// server refuses there, it refuses us.
    pub fn setting_up(self) -> InstanceError {
        match self.class {
            ErrorClass::Refused => self,
            // Redis's answer to a password when it has none: not a wrong password, so say so.
            _ if self.message.contains("without any password configured") => {
                InstanceError::new(ErrorClass::Refused, NO_PASSWORD_CONFIGURED)
            }
            _ if self.message.to_lowercase().contains("auth")
                || self.message.to_lowercase().contains("password") =>
            {
                InstanceError::new(
                    ErrorClass::Refused,
                    "authentication failed: wrong user or password",
                )
            }
            _ => InstanceError::new(ErrorClass::Refused, self.message),
        }
    }
}

/// What one round asks of one instance: a request, and how to read its reply.
pub struct Call<T> {
    pub request: Request,
    /// The script's name, for its errors.
    script: Option<&'static str>,
    parse: Box<dyn FnOnce(Value) -> Result<T, InstanceError> + Send>,
}

impl<T: 'static> Call<T> {
    /// Any command, its reply read by `parse`.
    pub fn query(
        cmd: &redis::Cmd,
        parse: impl FnOnce(Value) -> Result<T, InstanceError> + Send + 'static,
    ) -> Call<T> {
        Call {
            request: Request {
                packed: cmd.get_packed_command(),
                by_hash: None,
            },
            script: None,
            parse: Box::new(parse),
        }
    }

    /// A script: EVAL with its body the first time a connection sends it, EVALSHA after that
    /// (the wire decides, see `wire::conn::Conn::push`). Both forms are packed here, so the
    /// choice never waits for a reply and never reorders requests.
    pub fn eval(
        script: &'static Script,
        keys: &[&str],
        args: &[&str],
        parse: impl FnOnce(Value) -> Result<T, InstanceError> + Send + 'static,
    ) -> Call<T> {
        let mut full = redis::cmd("EVAL");
        full.arg(&script.body).arg(keys.len()).arg(keys).arg(args);
        let mut by_hash = redis::cmd("EVALSHA");
        by_hash.arg(&script.sha).arg(keys.len()).arg(keys).arg(args);
        Call {
            request: Request {
                packed: full.get_packed_command(),
                by_hash: Some(ByHash {
                    script: script.name,
                    packed: by_hash.get_packed_command(),
                }),
            },
            script: Some(script.name),
            parse: Box::new(parse),
        }
    }

    /// The outcome of `reply`: parsed, or the error, a script's naming the script.
    pub fn finish(self, reply: Result<Value, InstanceError>) -> Result<T, InstanceError> {
        let script = self.script;
        reply
            .and_then(self.parse)
            .map_err(|e| match (e.class.clone(), script) {
                (ErrorClass::Protocol, Some(name)) => {
                    InstanceError::new(e.class, format!("{name} script: {}", e.message))
                }
                _ => e,
            })
    }
}
