//! What the benchmark's drivers (`bench/`, `queue_bench.rs`) ask Redis by hand: the URLs of
//! their instances, one command on a fresh connection, the numbers in its replies, and which
//! commands are a client's own requests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One command on a fresh connection; the reply's first line, or a bulk string's body.
pub fn query(port: u16, args: &[&str]) -> Option<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    stream.write_all(req.as_bytes()).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let line = line.trim_end().to_string();
    if let Some(len) = line.strip_prefix('$') {
        let len: i64 = len.parse().ok()?;
        if len < 0 {
            return Some(String::new());
        }
        let mut body = vec![0u8; len as usize + 2];
        reader.read_exact(&mut body).ok()?;
        body.truncate(len as usize);
        return Some(String::from_utf8_lossy(&body).into_owned());
    }
    Some(line)
}

/// The `redis://` URLs of instances on 127.0.0.1, as one `-s` value.
pub fn urls(ports: &[u16]) -> String {
    ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// An integer reply (`:N`) as a number.
pub fn integer(reply: &str) -> Option<i64> {
    reply.strip_prefix(':')?.parse().ok()
}

/// The number in an INFO reply's `name:value` line.
pub fn info_value(info: &str, name: &str) -> Option<f64> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// Commands a client sends itself (they cannot run inside a script).
pub fn is_request(command: &str) -> bool {
    let base = command.split('|').next().unwrap_or(command);
    matches!(
        base,
        "eval"
            | "evalsha"
            | "eval_ro"
            | "evalsha_ro"
            | "fcall"
            | "fcall_ro"
            | "function"
            | "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ping"
            | "hello"
            | "client"
            | "auth"
            | "select"
            | "script"
            | "multi"
            | "exec"
            | "quit"
            | "reset"
    )
}

/// Each command's calls so far on 127.0.0.1:`port`, from INFO commandstats (`None` when the
/// instance did not answer).
pub fn command_calls(port: u16) -> Option<Vec<(String, f64)>> {
    let info = query(port, &["INFO", "commandstats"])?;
    Some(
        info.lines()
            .filter_map(|line| {
                let (name, fields) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = fields
                    .split(',')
                    .find_map(|f| f.strip_prefix("calls="))
                    .and_then(|n| n.parse::<f64>().ok())
                    .unwrap_or(0.0);
                Some((name.to_string(), calls))
            })
            .collect(),
    )
}
