//! A blocking connection of the redis crate's to one instance, for what does not go on the
//! pipelined wire (the pub/sub listener of a RESP2-only server, `push.rs`), and the redis
//! crate's errors read into our classes.

use std::time::Duration;

use redis::{ErrorKind, ServerErrorKind, Value};

use super::error::{one_line, ErrorClass, InstanceError};
use super::tls::{failure, rustls_error};
use crate::engine::server::ServerUrl;

/// A connection to `server` with both timeouts set, ready for requests, its failures in the
/// same classes as the wire's and with the TLS check below (the wire itself connects in
/// `stream.rs`).
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

/// Map a redis error to our classes, with a message that never contains a URL or password
/// (the redis crate's messages do not; the caller names the server by its redacted Display).
fn classify(e: &redis::RedisError, connecting: bool) -> InstanceError {
    // rustls verifies lazily, on the first request, so a certificate problem can surface on
    // any job, not only while connecting. It is a refusal, never "unreachable".
    if let Some(tls) = rustls_error(e) {
        return failure(tls);
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
