//! What one instance can answer: a request and how to read its reply ([`Call`]). Why an
//! instance gave no usable answer is the transport's (`wire::error`), and so is the redis
//! crate's blocking connection (`wire::connect`); both are re-exported here, where the rest of
//! the engine has always found them.

use redis::Value;

use crate::engine::scripts::Script;
use crate::engine::wire::conn::{ByHash, Request};
pub use crate::engine::wire::connect::open;
pub use crate::engine::wire::error::{
    one_line, server_error, ErrorClass, InstanceError, ServerError, NO_PASSWORD_CONFIGURED,
};

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
