//! Replies as Redis sends them (RESP2, and RESP3 after `HELLO 3`), parsed from a buffer that
//! may hold a partial reply: the I/O thread reads whatever arrived and takes out each complete
//! reply, in order. Requests are packed by `redis::Cmd`; only the parsing is ours, because a
//! pipelined connection must read replies without blocking on one.
//!
//! RESP3 values are read as their RESP2 equivalents wherever a script's reply could carry
//! them (null as `Nil`, a boolean as Lua's RESP2 conversion has it: true 1, false `Nil`), so
//! the scripts' replies read the same on either protocol. Push frames (`>`: pub/sub
//! messages and subscription confirmations) are not replies to a request: they come apart.

use redis::Value;

/// The largest reply we accept: far beyond anything our scripts return (a `read_many` of a
/// few hundred locks), small enough that a server gone mad cannot make us buffer gigabytes.
const MAX_REPLY_BYTES: usize = 64 << 20;

/// One reply: a value, or the error line the server sent (`-ERR …`, `-NOAUTH …`), or (RESP3)
/// a push frame, which answers no request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Value(Value),
    Error(String),
    Push(Vec<Value>),
}

/// Why a buffer cannot be a reply: the peer does not speak RESP (or is not Redis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotResp(pub String);

/// The first complete reply in `buf` and how many bytes it took; `Ok(None)` when more bytes
/// are needed.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, NotResp> {
    let mut at = 0;
    match value(buf, &mut at, 0)? {
        Some(reply) => Ok(Some((reply, at))),
        None if buf.len() > MAX_REPLY_BYTES => Err(NotResp("reply too large".into())),
        None => Ok(None),
    }
}

/// Nested arrays deeper than this are not a reply of ours.
const MAX_DEPTH: usize = 16;

fn value(buf: &[u8], at: &mut usize, depth: usize) -> Result<Option<Reply>, NotResp> {
    if depth > MAX_DEPTH {
        return Err(NotResp("reply nested too deeply".into()));
    }
    let Some(line) = line(buf, at)? else {
        return Ok(None);
    };
    let (kind, rest) = match line.split_first() {
        Some((k, r)) => (*k, r),
        None => return Err(NotResp("empty line".into())),
    };
    let text = || String::from_utf8_lossy(rest).into_owned();
    Ok(Some(match kind {
        b'+' => Reply::Value(Value::SimpleString(text())),
        b'-' => Reply::Error(text()),
        b':' => Reply::Value(Value::Int(number(rest)?)),
        b'$' => match blob(buf, at, rest)? {
            Blob::Missing => return Ok(None),
            Blob::Null => Reply::Value(Value::Nil),
            Blob::Bytes(b) => Reply::Value(Value::BulkString(b)),
        },
        // RESP3: a blob error, a verbatim string ("txt:" and the text), a double, a big number.
        b'!' => match blob(buf, at, rest)? {
            Blob::Missing => return Ok(None),
            Blob::Null => Reply::Error(String::new()),
            Blob::Bytes(b) => Reply::Error(String::from_utf8_lossy(&b).into_owned()),
        },
        b'=' => match blob(buf, at, rest)? {
            Blob::Missing => return Ok(None),
            Blob::Null => Reply::Value(Value::Nil),
            Blob::Bytes(b) => Reply::Value(Value::BulkString(
                b.get(4..).map_or_else(Vec::new, <[u8]>::to_vec),
            )),
        },
        b',' | b'(' => Reply::Value(Value::BulkString(rest.to_vec())),
        b'_' => Reply::Value(Value::Nil),
        b'#' => match rest {
            b"t" => Reply::Value(Value::Int(1)),
            b"f" => Reply::Value(Value::Nil),
            _ => return Err(NotResp("bad boolean".into())),
        },
        b'*' | b'~' | b'>' => {
            let Some(items) = items(buf, at, rest, depth, 1)? else {
                return Ok(None);
            };
            match (kind, items) {
                (_, None) => Reply::Value(Value::Nil),
                (b'>', Some(items)) => Reply::Push(items),
                (_, Some(items)) => Reply::Value(Value::Array(items)),
            }
        }
        b'%' => {
            let Some(items) = items(buf, at, rest, depth, 2)? else {
                return Ok(None);
            };
            let mut pairs = Vec::new();
            let mut flat = items.unwrap_or_default().into_iter();
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                pairs.push((k, v));
            }
            Reply::Value(Value::Map(pairs))
        }
        // Attributes describe the reply that follows; nothing of ours asks for them.
        b'|' => {
            if items(buf, at, rest, depth, 2)?.is_none() {
                return Ok(None);
            }
            return value(buf, at, depth + 1);
        }
        other => {
            return Err(NotResp(format!(
                "unexpected {:?} where a reply starts; is this a Redis server?",
                char::from(other)
            )))
        }
    }))
}

enum Blob {
    Missing,
    Null,
    Bytes(Vec<u8>),
}

/// The body of a length-prefixed string whose header (`rest`, the digits) was read.
fn blob(buf: &[u8], at: &mut usize, rest: &[u8]) -> Result<Blob, NotResp> {
    let len = number(rest)?;
    if len == -1 {
        return Ok(Blob::Null);
    }
    let len = usize::try_from(len).map_err(|_| NotResp("bad length".into()))?;
    if len > MAX_REPLY_BYTES {
        return Err(NotResp("reply too large".into()));
    }
    let end = *at + len;
    if buf.len() < end + 2 {
        return Ok(Blob::Missing);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(NotResp("bulk string not terminated".into()));
    }
    let bytes = buf[*at..end].to_vec();
    *at = end + 2;
    Ok(Blob::Bytes(bytes))
}

/// The `count × per` elements of an aggregate whose header (`rest`) was read: `Ok(None)` when
/// more bytes are needed, `Some(None)` for a null aggregate (`*-1`).
#[allow(clippy::type_complexity)]
fn items(
    buf: &[u8],
    at: &mut usize,
    rest: &[u8],
    depth: usize,
    per: usize,
) -> Result<Option<Option<Vec<Value>>>, NotResp> {
    let len = number(rest)?;
    if len == -1 {
        return Ok(Some(None));
    }
    let len = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_mul(per))
        .ok_or_else(|| NotResp("bad length".into()))?;
    let mut items = Vec::with_capacity(len.min(1024));
    for _ in 0..len {
        match value(buf, at, depth + 1)? {
            Some(Reply::Value(v)) => items.push(v),
            // An error inside an array (a script's pcall result): keep it as text.
            Some(Reply::Error(e)) => items.push(Value::SimpleString(e)),
            Some(Reply::Push(p)) => items.push(Value::Array(p)),
            None => return Ok(None),
        }
    }
    Ok(Some(Some(items)))
}

/// The next `\r\n`-terminated line from `at`, without its terminator.
fn line<'a>(buf: &'a [u8], at: &mut usize) -> Result<Option<&'a [u8]>, NotResp> {
    let rest = &buf[*at..];
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(end) => {
            *at += end + 2;
            Ok(Some(&rest[..end]))
        }
        // A header line is short; a long run without one is not RESP.
        None if rest.len() > 64 * 1024 => Err(NotResp("no line end in 64 KiB".into())),
        None => Ok(None),
    }
}

fn number(digits: &[u8]) -> Result<i64, NotResp> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| NotResp("bad number".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Reply {
        let (reply, used) = parse(bytes).expect("RESP").expect("complete");
        assert_eq!(used, bytes.len());
        reply
    }

    #[test]
    fn every_kind_of_reply() {
        assert_eq!(one(b"+OK\r\n"), Reply::Value(Value::SimpleString("OK".into())));
        assert_eq!(one(b":-42\r\n"), Reply::Value(Value::Int(-42)));
        assert_eq!(
            one(b"$3\r\na\r\n\r\n"),
            Reply::Value(Value::BulkString(b"a\r\n".to_vec()))
        );
        assert_eq!(one(b"$-1\r\n"), Reply::Value(Value::Nil));
        assert_eq!(
            one(b"-NOAUTH Authentication required.\r\n"),
            Reply::Error("NOAUTH Authentication required.".into())
        );
        assert_eq!(
            one(b"*3\r\n:1\r\n$1\r\nx\r\n*0\r\n"),
            Reply::Value(Value::Array(vec![
                Value::Int(1),
                Value::BulkString(b"x".to_vec()),
                Value::Array(vec![])
            ]))
        );
    }

    #[test]
    fn a_partial_reply_waits_for_more_at_every_cut() {
        let whole = b"*2\r\n$5\r\nhello\r\n:7\r\n+next\r\n";
        let first = b"*2\r\n$5\r\nhello\r\n:7\r\n".len();
        for cut in 0..first {
            assert_eq!(parse(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        let (_, used) = parse(whole).expect("RESP").expect("complete");
        assert_eq!(used, first, "only the first reply is taken");
    }

    #[test]
    fn resp3_values_read_as_their_resp2_equivalents() {
        assert_eq!(one(b"_\r\n"), Reply::Value(Value::Nil));
        assert_eq!(one(b"#t\r\n"), Reply::Value(Value::Int(1)));
        assert_eq!(one(b"#f\r\n"), Reply::Value(Value::Nil));
        assert_eq!(one(b",1.5\r\n"), Reply::Value(Value::BulkString(b"1.5".to_vec())));
        assert_eq!(
            one(b"=7\r\ntxt:abc\r\n"),
            Reply::Value(Value::BulkString(b"abc".to_vec()))
        );
        assert_eq!(one(b"!5\r\nERR x\r\n"), Reply::Error("ERR x".into()));
        assert_eq!(
            one(b"~2\r\n:1\r\n:2\r\n"),
            Reply::Value(Value::Array(vec![Value::Int(1), Value::Int(2)]))
        );
        assert_eq!(
            one(b"%1\r\n+proto\r\n:3\r\n"),
            Reply::Value(Value::Map(vec![(
                Value::SimpleString("proto".into()),
                Value::Int(3)
            )]))
        );
        assert_eq!(one(b"|1\r\n+a\r\n:1\r\n:5\r\n"), Reply::Value(Value::Int(5)));
    }

    #[test]
    fn a_push_frame_comes_apart_from_replies() {
        assert_eq!(
            one(b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n"),
            Reply::Push(vec![
                Value::BulkString(b"message".to_vec()),
                Value::BulkString(b"ch".to_vec()),
                Value::BulkString(b"x".to_vec())
            ])
        );
    }

    #[test]
    fn what_is_not_resp_is_refused() {
        assert!(parse(b"HTTP/1.1 400 Bad Request\r\n").is_err());
        assert!(parse(b":abc\r\n").is_err());
        assert!(parse(b"$3\r\nabcde\r\n").is_err());
        let deep = "*1\r\n".repeat(100);
        assert!(parse(deep.as_bytes()).is_err());
        // Of the negative lengths, only -1 (null) means anything.
        assert!(parse(b"$-2\r\n").is_err());
        assert!(parse(b"*-5\r\n").is_err());
        assert!(parse(b"#x\r\n").is_err());
    }
}
