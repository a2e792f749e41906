//! Reading a script's reply values: an integer or a string, whichever way the server sent it
//! (RESP integer, bulk or simple string). Every module that reads replies shares these.

use redis::Value;

/// An integer, sent as one or as its decimal digits; `None` for anything else.
pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

/// A string (bytes that are not UTF-8 replaced), an integer's digits, or `""` for anything else.
pub fn string(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        _ => String::new(),
    }
}
