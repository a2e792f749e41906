//! One Redis instance: a worker thread that owns its connection, opens it with the connect
//! timeout, bounds every request by the op timeout, and reconnects on the next job after a
//! failure. Jobs run in the order they were sent, so an undo never overtakes its attempt.

use std::fmt;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use redis::{ErrorKind, ServerErrorKind, Value};

use crate::engine::scripts::Script;
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
    pub message: String,
}

impl InstanceError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        InstanceError {
            class,
            message: message.into(),
        }
    }

    /// Whether the request may have taken effect on the server (a timeout mid-request).
    pub fn maybe_applied(&self) -> bool {
        matches!(self.class, ErrorClass::Timeout | ErrorClass::NotAwaited)
    }
}

impl fmt::Display for InstanceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Map a redis error to our classes, with a message that never contains a URL or password
/// (the redis crate's messages do not; the caller names the server by its redacted Display).
fn classify(e: &redis::RedisError, connecting: bool) -> InstanceError {
    // rustls verifies lazily, on the first request, so a certificate problem can surface on
    // any job, not only while connecting. It is a refusal, never "unreachable".
    if let Some(tls) = crate::engine::tls::rustls_error(e) {
        return InstanceError::new(ErrorClass::Refused, crate::engine::tls::describe(tls));
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
fn one_line(s: &str) -> String {
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

/// The connection state a worker owns; jobs borrow it.
pub struct Session {
    server: ServerUrl,
    connect_timeout: Duration,
    op_timeout: Duration,
    conn: Option<redis::Connection>,
}

impl Session {
    fn connection(&mut self) -> Result<&mut redis::Connection, InstanceError> {
        if self.conn.is_none() {
            let conn = open(&self.server, self.connect_timeout, self.op_timeout)?;
            self.conn = Some(conn);
        }
        // Just set above when it was missing.
        self.conn
            .as_mut()
            .ok_or_else(|| InstanceError::new(ErrorClass::Unreachable, "not connected"))
    }

    /// Run one command. A broken or timed-out connection is dropped so the next job
    /// reconnects instead of reading a stale reply.
    pub fn query(&mut self, cmd: &redis::Cmd) -> Result<Value, InstanceError> {
        let conn = self.connection()?;
        match cmd.query::<Value>(conn) {
            Ok(v) => Ok(v),
            Err(e) => {
                let err = classify(&e, false);
                if err.class != ErrorClass::Protocol || e.is_unrecoverable_error() {
                    self.conn = None;
                }
                Err(err)
            }
        }
    }

    /// Run a script by SHA; if the server does not have it (first use, restart, SCRIPT
    /// FLUSH), send the body once with EVAL, which also caches it there.
    pub fn eval(&mut self, script: &Script, keys: &[&str], args: &[&str]) -> Result<Value, InstanceError> {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&script.sha).arg(keys.len()).arg(keys).arg(args);
        let conn = self.connection()?;
        let first = cmd.query::<Value>(conn);
        let result = match first {
            Err(e) if matches!(e.kind(), ErrorKind::Server(ServerErrorKind::NoScript)) => {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(&script.body).arg(keys.len()).arg(keys).arg(args);
                cmd.query::<Value>(conn)
            }
            other => other,
        };
        result.map_err(|e| {
            let err = classify(&e, false);
            if err.class != ErrorClass::Protocol || e.is_unrecoverable_error() {
                self.conn = None;
            }
            match err.class {
                ErrorClass::Protocol => {
                    InstanceError::new(err.class, format!("{} script: {}", script.name, err.message))
                }
                _ => err,
            }
        })
    }
}

type Job = Box<dyn FnOnce(&mut Session) + Send>;

/// A handle on one instance's worker. Dropping it ends the worker once its queue is empty.
pub struct Instance {
    pub server: ServerUrl,
    jobs: mpsc::Sender<Job>,
}

impl Instance {
    pub fn start(server: ServerUrl, connect_timeout: Duration, op_timeout: Duration) -> Instance {
        let (jobs, queue) = mpsc::channel::<Job>();
        let mut session = Session {
            server: server.clone(),
            connect_timeout,
            op_timeout,
            conn: None,
        };
        let name = format!("redlock-{}", server.short());
        let spawned = thread::Builder::new().name(name).spawn(move || {
            for job in queue {
                job(&mut session);
            }
        });
        if spawned.is_err() {
            // Without a worker every job's reply channel closes unanswered, so the instance
            // shows as unreachable in every round: the right outcome, with no panic.
        }
        Instance { server, jobs }
    }

    /// Queue `job` unless `deadline` has passed by the time the worker reaches it, in which
    /// case `late` runs instead (so the caller always hears back, and a stale request is
    /// never sent).
    pub fn submit(
        &self,
        deadline: Instant,
        job: impl FnOnce(&mut Session) + Send + 'static,
        late: impl FnOnce() + Send + 'static,
    ) {
        let wrapped: Job = Box::new(move |s: &mut Session| {
            if Instant::now() >= deadline {
                late();
            } else {
                job(s);
            }
        });
        let _ = self.jobs.send(wrapped);
    }
}
