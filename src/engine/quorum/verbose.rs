//! The `-v` lines a round writes: each reply as it arrives (a late one too), and the line
//! that ends the round, naming the instances it did not wait for.

use std::time::{Duration, Instant};

use super::{ErrorClass, Quorum, Reply};
use crate::engine::trace::Trace;

/// `WHO ok after 1.2ms`, or `WHO error: … after …` in the CLI's words for the error; `late`
/// adds that the round was over by then.
pub(super) fn reply_line<T>(
    trace: &Trace,
    who: &str,
    reply: &Reply<T>,
    started: Instant,
    late: bool,
) -> String {
    let status = match reply {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("error: {}", (trace.error)(e)),
    };
    let after = if late { " (after the round was over)" } else { "" };
    format!(
        "{who} {status} after {:.1}ms{after}",
        started.elapsed().as_secs_f64() * 1e3
    )
}

impl Quorum {
    /// The `-v` line that ends a round, naming the instances it did not wait for (their
    /// answers, if any come, are listed as they arrive).
    pub(super) fn trace_round<T>(&self, what: &str, replies: &[Reply<T>], elapsed: Duration) {
        if self.trace.is_none() {
            return;
        }
        let unawaited: Vec<String> = replies
            .iter()
            .zip(&self.servers)
            .filter(
                |(r, _)| matches!(r, Err(e) if e.class == ErrorClass::NotAwaited && e.message != "not asked"),
            )
            .map(|(_, s)| s.to_string())
            .collect();
        let rest = if unawaited.is_empty() {
            String::new()
        } else {
            format!("; decided without waiting for {}", unawaited.join(", "))
        };
        self.trace(&format!(
            "{what}: round done in {:.1}ms{rest}",
            elapsed.as_secs_f64() * 1e3
        ));
    }
}
