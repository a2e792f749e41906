//! One open connection to one instance: the bytes waiting to go out and to be read, who each
//! reply still to come belongs to, and what the connection has learnt about its server (RESP3,
//! whether a script may go by its hash, which scripts it has seen in full).

use std::collections::{HashSet, VecDeque};

use redis::Value;

use super::error::{server_error, ErrorClass, InstanceError};
use super::resp::Reply;
use super::stream::{Setup, Stream};

/// What a sender hears back: the reply, or why there is none.
pub type Deliver = Box<dyn FnOnce(Result<Value, InstanceError>) + Send>;

/// A request as the wire sends it: the packed command and, for a script, the same request by
/// the script's hash, which the wire sends instead once this connection has carried the body.
pub struct Request {
    pub packed: Vec<u8>,
    pub by_hash: Option<ByHash>,
}

pub struct ByHash {
    /// The script's name: what the connection remembers it by.
    pub script: &'static str,
    /// EVALSHA with the same keys and arguments.
    pub packed: Vec<u8>,
}

/// Who a reply still to come belongs to, in order.
pub enum Waiting {
    Setup(Setup),
    Request {
        deliver: Deliver,
        script: Option<&'static str>,
    },
    /// SUBSCRIBE or UNSUBSCRIBE on a RESP3 connection: answered by a push frame when it
    /// succeeds, by an ordinary error reply when it does not.
    Subscribe,
    Unsubscribe,
    /// SUBSCRIBE to the subscription's hint channel: whether it is confirmed or refused (an
    /// ACL's channel rules) changes nothing, as hints only ever add to the waiter's timers.
    Hint,
}

pub struct Conn {
    pub stream: Stream,
    /// Bytes not yet taken by the socket.
    pub out: Vec<u8>,
    /// Bytes read but not yet a whole reply.
    pub inbuf: Vec<u8>,
    pub waiting: VecDeque<Waiting>,
    /// Whether the server took `HELLO 3`; `None` until it answered.
    pub resp3: Option<bool>,
    /// Whether EVALSHA is allowed (see `Setup::ShaProbe`); `None` until the probe answered.
    pub by_hash: Option<bool>,
    /// Scripts this connection has sent in full: the server has them cached from then on.
    pub loaded: HashSet<&'static str>,
}

/// What a reply meant, for the wire to act on outside the connection's lock.
pub enum Outcome {
    Deliver(Deliver, Result<Value, InstanceError>),
    /// The connection must close: a setup request was refused, or the peer is not Redis.
    Fail(InstanceError),
    /// `HELLO 3` answered: RESP3 or not.
    Protocol,
    Subscribed,
    SubscribeRefused(InstanceError),
    Message {
        channel: Vec<u8>,
        payload: Vec<u8>,
    },
    Nothing,
}

impl Conn {
    pub fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            out: Vec::new(),
            inbuf: Vec::new(),
            waiting: VecDeque::new(),
            resp3: None,
            by_hash: None,
            loaded: HashSet::new(),
        }
    }

    /// Queue `request` for writing: by hash where this connection has sent the script before
    /// and EVALSHA is allowed, in full otherwise (which also caches it on the server).
    pub fn push(&mut self, request: Request, deliver: Deliver) {
        let script = request.by_hash.as_ref().map(|h| h.script);
        match request.by_hash {
            Some(h) if self.by_hash == Some(true) && self.loaded.contains(h.script) => {
                self.out.extend_from_slice(&h.packed)
            }
            Some(h) => {
                self.loaded.insert(h.script);
                self.out.extend_from_slice(&request.packed);
            }
            None => self.out.extend_from_slice(&request.packed),
        }
        self.waiting.push_back(Waiting::Request { deliver, script });
    }

    pub fn push_setup(&mut self, packed: &[u8], setup: Setup) {
        self.out.extend_from_slice(packed);
        self.waiting.push_back(Waiting::Setup(setup));
    }

    /// SUBSCRIBE (or UNSUBSCRIBE) `channel`; only on a RESP3 connection, where a subscribed
    /// connection still takes requests.
    pub fn push_subscription(&mut self, channel: &str, subscribe: bool) {
        let name = if subscribe { "SUBSCRIBE" } else { "UNSUBSCRIBE" };
        self.out
            .extend_from_slice(&redis::cmd(name).arg(channel).get_packed_command());
        self.waiting.push_back(if subscribe {
            Waiting::Subscribe
        } else {
            Waiting::Unsubscribe
        });
    }

    /// SUBSCRIBE to a hint channel (see [`Waiting::Hint`]); its outcome is never told.
    pub fn push_hint(&mut self, channel: &str) {
        self.out
            .extend_from_slice(&redis::cmd("SUBSCRIBE").arg(channel).get_packed_command());
        self.waiting.push_back(Waiting::Hint);
    }

    /// What one reply from the server means.
    pub fn take(&mut self, reply: Reply) -> Outcome {
        if let Reply::Push(items) = reply {
            return self.push_frame(items);
        }
        let Some(front) = self.waiting.pop_front() else {
            return Outcome::Fail(InstanceError::new(
                ErrorClass::Protocol,
                "a reply nobody asked for",
            ));
        };
        match (front, reply) {
            (Waiting::Request { deliver, .. }, Reply::Value(v)) => Outcome::Deliver(deliver, Ok(v)),
            (Waiting::Request { deliver, script }, Reply::Error(e)) => {
                if e.starts_with("NOSCRIPT") {
                    // Flushed from the server's cache (SCRIPT FLUSH): sent in full next time.
                    // This request fails; resending it now would put it behind later ones.
                    if let Some(name) = script {
                        self.loaded.remove(name);
                    }
                }
                Outcome::Deliver(deliver, Err(server_error(&e)))
            }
            (Waiting::Setup(Setup::Required), Reply::Error(e)) => {
                Outcome::Fail(server_error(&e).setting_up())
            }
            (Waiting::Setup(Setup::Resp3), reply) => {
                self.resp3 = Some(matches!(reply, Reply::Value(_)));
                Outcome::Protocol
            }
            (Waiting::Setup(Setup::ShaProbe), reply) => {
                self.by_hash = Some(match reply {
                    Reply::Error(e) => e.starts_with("NOSCRIPT"),
                    _ => true,
                });
                Outcome::Nothing
            }
            (Waiting::Subscribe, Reply::Error(e)) => Outcome::SubscribeRefused(server_error(&e)),
            (Waiting::Setup(Setup::Required) | Waiting::Unsubscribe | Waiting::Hint, _) => Outcome::Nothing,
            (Waiting::Subscribe, _) => Outcome::Subscribed,
            (_, Reply::Push(_)) => Outcome::Nothing,
        }
    }

    /// A push frame: a message on our channel, or the confirmation of (UN)SUBSCRIBE, which
    /// comes in order with the replies, so it answers the request at the front.
    fn push_frame(&mut self, items: Vec<Value>) -> Outcome {
        let text = |v: Option<&Value>| match v {
            Some(Value::BulkString(b)) => b.clone(),
            Some(Value::SimpleString(s)) => s.as_bytes().to_vec(),
            _ => Vec::new(),
        };
        let kind = text(items.first());
        match kind.as_slice() {
            b"message" => Outcome::Message {
                channel: text(items.get(1)),
                payload: text(items.get(2)),
            },
            b"subscribe" if matches!(self.waiting.front(), Some(Waiting::Subscribe)) => {
                self.waiting.pop_front();
                Outcome::Subscribed
            }
            // A hint's confirmation, like an UNSUBSCRIBE's, only answers the request at the front.
            b"unsubscribe" | b"subscribe"
                if matches!(
                    (kind.as_slice(), self.waiting.front()),
                    (b"unsubscribe", Some(Waiting::Unsubscribe)) | (b"subscribe", Some(Waiting::Hint))
                ) =>
            {
                self.waiting.pop_front();
                Outcome::Nothing
            }
            _ => Outcome::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use std::sync::mpsc;

    fn conn() -> Conn {
        let (a, _b) = UnixStream::pair().expect("socket pair");
        Conn::new(Stream::Unix(a))
    }

    fn script_request(name: &'static str) -> Request {
        Request {
            packed: format!("EVAL {name}").into_bytes(),
            by_hash: Some(ByHash {
                script: name,
                packed: format!("EVALSHA {name}").into_bytes(),
            }),
        }
    }

    #[test]
    fn a_script_goes_in_full_once_then_by_hash_where_evalsha_is_allowed() {
        let mut c = conn();
        c.by_hash = Some(true);
        c.push(script_request("acquire"), Box::new(|_| {}));
        c.push(script_request("acquire"), Box::new(|_| {}));
        assert_eq!(String::from_utf8_lossy(&c.out), "EVAL acquireEVALSHA acquire");
    }

    #[test]
    fn without_evalsha_every_request_carries_the_body() {
        let mut c = conn();
        c.by_hash = Some(false);
        c.push(script_request("acquire"), Box::new(|_| {}));
        c.push(script_request("acquire"), Box::new(|_| {}));
        assert_eq!(String::from_utf8_lossy(&c.out), "EVAL acquireEVAL acquire");
    }

    #[test]
    fn noscript_sends_the_body_again_next_time() {
        let mut c = conn();
        c.by_hash = Some(true);
        c.push(script_request("release"), Box::new(|_| {}));
        let _ = c.take(Reply::Value(Value::Int(1)));
        c.out.clear();
        let (tx, rx) = mpsc::channel();
        c.push(
            script_request("release"),
            Box::new(move |r| tx.send(r.is_err()).expect("send")),
        );
        assert!(matches!(
            c.take(Reply::Error("NOSCRIPT No matching script".into())),
            Outcome::Deliver(..)
        ));
        c.out.clear();
        c.push(script_request("release"), Box::new(|_| {}));
        assert_eq!(String::from_utf8_lossy(&c.out), "EVAL release");
        drop(rx);
    }

    #[test]
    fn a_subscription_is_confirmed_by_a_push_in_order_and_messages_pass_through() {
        let mut c = conn();
        c.push(
            Request {
                packed: b"GET".to_vec(),
                by_hash: None,
            },
            Box::new(|_| {}),
        );
        c.push_subscription("wake", true);
        let msg = |kind: &str| {
            Reply::Push(vec![
                Value::BulkString(kind.as_bytes().to_vec()),
                Value::BulkString(b"wake".to_vec()),
                Value::BulkString(b"x".to_vec()),
            ])
        };
        assert!(matches!(c.take(msg("message")), Outcome::Message { .. }));
        assert!(matches!(c.take(Reply::Value(Value::Nil)), Outcome::Deliver(..)));
        assert!(matches!(c.take(msg("subscribe")), Outcome::Subscribed));
        assert!(c.waiting.is_empty());
    }

    #[test]
    fn a_hint_subscription_is_confirmed_or_refused_silently() {
        let mut c = conn();
        c.push_subscription("wake", true);
        c.push_hint("__keyspace@0__:x");
        c.push_hint("__keyspace@0__:y");
        let push = |kind: &str| Reply::Push(vec![Value::BulkString(kind.as_bytes().to_vec())]);
        assert!(matches!(c.take(push("subscribe")), Outcome::Subscribed));
        assert!(matches!(c.take(push("subscribe")), Outcome::Nothing));
        assert!(matches!(
            c.take(Reply::Error(
                "NOPERM this user has no permissions to access one of the channels".into()
            )),
            Outcome::Nothing
        ));
        assert!(c.waiting.is_empty());
    }

    #[test]
    fn a_refused_subscribe_is_an_ordinary_error_reply() {
        let mut c = conn();
        c.push_subscription("wake", true);
        assert!(matches!(
            c.take(Reply::Error("ERR unknown command 'SUBSCRIBE'".into())),
            Outcome::SubscribeRefused(_)
        ));
    }

    #[test]
    fn hello_refused_means_resp2_and_a_refused_auth_fails_the_connection() {
        let mut c = conn();
        c.push_setup(b"AUTH", Setup::Required);
        c.push_setup(b"HELLO", Setup::Resp3);
        assert!(matches!(
            c.take(Reply::Error("WRONGPASS x".into())),
            Outcome::Fail(_)
        ));
        assert!(matches!(
            c.take(Reply::Error("ERR unknown command".into())),
            Outcome::Protocol
        ));
        assert_eq!(c.resp3, Some(false));
    }
}
