//! Why an instance gave no usable answer, in classes that decide exit codes
//! ([`InstanceError`], [`ErrorClass`], [`TlsProblem`]), the server it came from
//! ([`ServerError`]), and a server's error line read into them: the transport's own errors, so
//! it depends on nothing above it.

use std::fmt;

use crate::engine::server::ServerUrl;

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

/// What went wrong with TLS, as far as it tells what to do next (`cli::words` says what).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsProblem {
    /// The server's certificate is signed by a CA we do not trust.
    UnknownIssuer,
    /// The server's certificate does not list the name we connected by.
    WrongName,
    /// The server's certificate has expired (or this host's clock is wrong).
    Expired,
    /// The server may require a client certificate and got none it accepts.
    ClientCertRequired,
    /// The server does not accept our client certificate.
    ClientCertRejected,
    /// What came back was not TLS: a plain port.
    NotTls,
    /// Any other handshake failure.
    Other,
    /// The client certificate and key could not be set up.
    ClientKey,
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

/// A password was sent to a server that has none configured (Redis: `AUTH <password> called
/// without any password configured for the default user`).
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
