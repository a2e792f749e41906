//! The critical sections' log, read back by both benchmark drivers: examples/critical.rs
//! appends one line `ENTER_NS EXIT_NS WORKER PID` a section, in one O_APPEND write.

use std::path::Path;

/// One section: when it began and ended (CLOCK_MONOTONIC, ns) and which worker ran it.
#[derive(Clone, Copy)]
pub struct Section {
    pub enter: u64,
    // The queue driver needs only entries and workers; the table's driver reads exits too.
    #[allow(dead_code)]
    pub exit: u64,
    pub worker: usize,
}

/// The sections logged so far, by entry (no log: none; a line that does not parse: skipped).
pub fn read_sections(log: &Path) -> Vec<Section> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut out: Vec<Section> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(Section {
                enter: f.first()?.parse().ok()?,
                exit: f.get(1)?.parse().ok()?,
                worker: f.get(2)?.parse().ok()?,
            })
        })
        .collect();
    out.sort_by_key(|s| (s.enter, s.worker));
    out
}
