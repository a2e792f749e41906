//! Property tests of the reply reader (`engine::wire::resp`): what a server sends is read back
//! as it was written, a reply cut anywhere waits for the rest, and no bytes whatever make it
//! panic; of the negative lengths only -1 (null) means anything.

use proptest::prelude::*;
use redis::Value;
use redlock::engine::wire::resp::{parse, Reply};

/// Values as our scripts' replies have them: integers, strings, nulls, nested arrays.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::Int),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::BulkString),
        "[a-zA-Z0-9 ]{0,20}".prop_map(Value::SimpleString),
        Just(Value::Nil),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        proptest::collection::vec(inner, 0..8).prop_map(Value::Array)
    })
}

/// RESP2, as a server writes it.
fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
        Value::BulkString(b) => {
            out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        Value::SimpleString(s) => out.extend_from_slice(format!("+{s}\r\n").as_bytes()),
        Value::Nil => out.extend_from_slice(b"$-1\r\n"),
        Value::Array(items) => {
            out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
            for i in items {
                encode(i, out);
            }
        }
        other => panic!("not generated: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn what_a_server_writes_is_read_back_whole(v in value(), tail in proptest::collection::vec(any::<u8>(), 0..8)) {
        let mut bytes = Vec::new();
        encode(&v, &mut bytes);
        let len = bytes.len();
        bytes.extend_from_slice(&tail);
        let (reply, used) = parse(&bytes).expect("RESP").expect("complete");
        prop_assert_eq!(reply, Reply::Value(v));
        prop_assert_eq!(used, len, "only the first reply is taken");
    }

    #[test]
    fn a_reply_cut_anywhere_waits_for_the_rest(v in value()) {
        let mut bytes = Vec::new();
        encode(&v, &mut bytes);
        for cut in 0..bytes.len() {
            prop_assert_eq!(parse(&bytes[..cut]), Ok(None), "cut at {}", cut);
        }
    }

    #[test]
    fn no_bytes_make_it_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn bytes_after_a_reply_type_never_panic(kind in prop::sample::select(b"+-:$*%~>_#,(=!|".to_vec()),
                                            rest in proptest::collection::vec(any::<u8>(), 0..60)) {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&rest);
        let _ = parse(&bytes);
    }

    #[test]
    fn negative_lengths_other_than_minus_one_are_refused(n in 2i64..1_000_000,
                                                          kind in prop::sample::select(b"$*~%>!=".to_vec())) {
        let bytes = format!("{}-{n}\r\n", char::from(kind)).into_bytes();
        prop_assert!(parse(&bytes).is_err(), "{:?}", String::from_utf8_lossy(&bytes));
    }
}
