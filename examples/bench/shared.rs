//! The part `shared8`: 8 readers looping on `--shared` (and `flock -s`), one exclusive writer
//! arriving among them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::clock::monotonic_ns;
use crate::contenders::{critical_args, critical_under, worker_thread, CRITICAL_MS};
use crate::procs::{quiet, succeeds};
use crate::sections::{read_sections, Section};
use crate::stats::{median_by, most_inside};
use crate::table::{ms, na, Table};
use crate::watchdog::Watchdog;
use crate::world::{progress, Env};

const SHARED_K: usize = 8;
const SHARED_RUNS: usize = 40;

/// Readers and one writer: redlock `--shared` and exclusive, or `flock -s` and `flock`.
enum SharedTool {
    Redlock(usize),
    Flock(PathBuf),
}

impl SharedTool {
    fn section(&self, env: &Env, shared: bool, resource: &str, log: &Path, worker: usize) -> Command {
        match self {
            SharedTool::Redlock(bin) => {
                let extra: &[&str] = if shared { &["--shared"] } else { &[] };
                critical_under(env, *bin, extra, resource, log, worker)
            }
            SharedTool::Flock(file) => {
                let mut cmd = Command::new("flock");
                if shared {
                    cmd.arg("-s");
                }
                cmd.arg(file);
                critical_args(&mut cmd, env, log, worker);
                quiet(&mut cmd);
                cmd
            }
        }
    }
}

/// One round of SHARED_K readers and a writer arriving once a quarter of their sections are done.
#[derive(Clone, Copy)]
struct SharedRun {
    /// The writer's spawn to its section's start, ms; NaN if it never got in.
    wait_ms: f64,
    /// Reader sections that began meanwhile.
    wait_sections: f64,
    readers_most: usize,
    beside_writer: usize,
    failed: usize,
    sections: usize,
}

fn shared_run(env: &Env, tool: &SharedTool, tag: &str) -> SharedRun {
    let log = env.dir.join(format!("{tag}.log"));
    let _ = std::fs::remove_file(&log);
    let readers_ideal = SHARED_RUNS as f64 * CRITICAL_MS as f64 / 1e3;
    let watchdog = Arc::new(Watchdog::start(
        tag,
        Duration::from_secs_f64(readers_ideal * 10.0 + 20.0),
    ));
    let readers: Vec<_> = (0..SHARED_K)
        .map(|w| {
            let cmds = (0..SHARED_RUNS)
                .map(|_| tool.section(env, true, tag, &log, w))
                .collect();
            worker_thread(cmds, Arc::clone(&watchdog))
        })
        .collect();
    // The writer comes once a quarter of the reader sections are logged.
    let mut writer = tool.section(env, false, tag, &log, SHARED_K);
    let quarter = SHARED_K * SHARED_RUNS / 4;
    while !watchdog.expired() && read_sections(&log).len() < quarter {
        thread::sleep(Duration::from_millis(2));
    }
    let arrived = monotonic_ns();
    let writer_ok = !watchdog.expired() && succeeds(&mut writer);
    let failed: usize = readers.into_iter().map(|h| h.join().unwrap_or(SHARED_RUNS)).sum();
    let sections = read_sections(&log);
    let (writes, reads): (Vec<Section>, Vec<Section>) = sections.iter().partition(|s| s.worker == SHARED_K);
    let (wait_ms, wait_sections, beside_writer) = match writes.first() {
        Some(w) => (
            w.enter.saturating_sub(arrived) as f64 / 1e6,
            reads
                .iter()
                .filter(|r| r.enter >= arrived && r.enter < w.enter)
                .count() as f64,
            reads
                .iter()
                .filter(|r| r.enter < w.exit && r.exit > w.enter)
                .count(),
        ),
        None => (f64::NAN, f64::NAN, 0),
    };
    SharedRun {
        wait_ms,
        wait_sections,
        readers_most: most_inside(&reads),
        beside_writer,
        failed: failed + usize::from(!writer_ok) + usize::from(watchdog.expired()),
        sections: sections.len(),
    }
}

pub fn shared(env: &Env, table: &mut Table) {
    let mut red: Vec<Vec<SharedRun>> = (0..env.bins.len()).map(|_| vec![]).collect();
    let mut flo = vec![];
    let what = format!("--shared, {SHARED_K} readers and a writer");
    for round in 0..env.rounds {
        env.round_of_each(round, env.rounds, &what, |b| {
            let tool = SharedTool::Redlock(b);
            red[b].push(shared_run(env, &tool, &format!("shared-{b}-{round}")));
        });
        progress(&format!(
            "flock -s, {SHARED_K} readers and a writer, round {} of {}",
            round + 1,
            env.rounds
        ));
        let tool = SharedTool::Flock(env.dir.join("shared.lock"));
        flo.push(shared_run(env, &tool, &format!("shared-flock-{round}")));
    }
    add_rows(table, &red, &flo);
}

fn add_rows(table: &mut Table, red: &[Vec<SharedRun>], flo: &[SharedRun]) {
    let wait = |runs: &[SharedRun]| {
        let wait_ms = median_by(runs, |r| r.wait_ms);
        let n = median_by(runs, |r| r.wait_sections);
        if wait_ms.is_finite() {
            format!("{} = {n:.0} reader sections", ms(wait_ms))
        } else {
            "timed out".into()
        }
    };
    let safety = |runs: &[SharedRun]| {
        format!(
            "{} readers at most; {} beside the writer; {} failed, {} sections",
            runs.iter().map(|r| r.readers_most).max().unwrap_or(0),
            runs.iter().map(|r| r.beside_writer).sum::<usize>(),
            runs.iter().map(|r| r.failed).sum::<usize>(),
            runs.iter().map(|r| r.sections).sum::<usize>()
        )
    };
    table.add(
        "`--shared`: the writer's wait",
        &format!(
            "{SHARED_K} readers × {SHARED_RUNS} runs around a 20 ms section, shared (flock: `flock -s`); one exclusive writer arrives once a quarter of their sections are done: its wait (spawn to section start) and the reader sections that began meanwhile; median of rounds"
        ),
        red.iter().map(|r| wait(r)).collect(),
        wait(flo),
        na(),
        na(),
    );
    table.add(
        "`--shared`: safety",
        "most readers inside at once (shared holds overlap), reader sections overlapping the writer's (there must be none), failed runs, over all rounds",
        red.iter().map(|r| safety(r)).collect(),
        safety(flo),
        na(),
        na(),
    );
}
