//! What the instances did during a workload: commands and connections counted by INFO,
//! read before and after, and the difference per handoff.

use std::collections::HashMap;

use crate::redis_by_hand::{command_calls, info_value, is_request, query as redis_query};

/// What the instances did, summed: commands by name (INFO commandstats) and connections.
pub struct RedisWork {
    calls: HashMap<String, f64>,
    connections: f64,
}

/// The counts so far on `ports`; None when an instance did not answer.
pub fn redis_work(ports: &[u16]) -> Option<RedisWork> {
    let mut work = RedisWork {
        calls: HashMap::new(),
        connections: 0.0,
    };
    for port in ports {
        for (name, calls) in command_calls(*port)? {
            *work.calls.entry(name).or_default() += calls;
        }
        let stats = redis_query(*port, &["INFO", "stats"])?;
        work.connections += info_value(&stats, "total_connections_received").unwrap_or(0.0);
    }
    Some(work)
}

/// Per handoff, between two readings on `instances` instances: requests (commands a client
/// sends itself), commands (those inside scripts included) and new connections; NaN when
/// either reading is missing.
pub fn per_handoff(
    before: &Option<RedisWork>,
    after: &Option<RedisWork>,
    instances: usize,
    handoffs: f64,
) -> (f64, f64, f64) {
    let (Some(b), Some(a)) = (before, after) else {
        return (f64::NAN, f64::NAN, f64::NAN);
    };
    let delta = |pick: &dyn Fn(&str) -> bool| -> f64 {
        a.calls
            .iter()
            .filter(|(c, _)| pick(c))
            .map(|(c, n)| n - b.calls.get(c).copied().unwrap_or(0.0))
            .sum::<f64>()
    };
    // Our own INFO connections: the two that read `after`, on each instance.
    let ours = instances as f64 * 2.0;
    (
        delta(&is_request) / handoffs,
        delta(&|c: &str| c != "info") / handoffs,
        (a.connections - b.connections - ours) / handoffs,
    )
}
