//! Contenders around the critical section (examples/critical): how long it takes, how many
//! runs each contender makes, its command under redlock, and a contender's thread.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::thread;

use crate::procs::succeeds;
use crate::watchdog::Watchdog;
use crate::world::Env;

/// The critical section's length, ms.
pub const CRITICAL_MS: u64 = 20;
/// The runs each contender makes in the handoff and `--limit` workloads.
pub const ITERATIONS: usize = 25;

/// Runs `cmds` one after another on a thread of its own until the watchdog expires; the
/// thread returns how many failed.
pub fn worker_thread(mut cmds: Vec<Command>, watchdog: Arc<Watchdog>) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut failed = 0;
        for cmd in cmds.iter_mut() {
            if watchdog.expired() {
                break;
            }
            failed += usize::from(!succeeds(cmd));
        }
        failed
    })
}

/// `redlock -q run -r RESOURCE -s (3 instances) EXTRA -- critical LOG WORKER 20` of binary `bin`.
pub fn critical_under(
    env: &Env,
    bin: usize,
    extra: &[&str],
    resource: &str,
    log: &Path,
    worker: usize,
) -> Command {
    let servers = env.servers(3);
    let mut args = vec!["-q", "run", "-r", resource, "-s", servers.as_str()];
    args.extend_from_slice(extra);
    args.push("--");
    let mut cmd = env.redlock(bin, &args);
    critical_args(&mut cmd, env, log, worker);
    cmd
}

/// `critical LOG WORKER 20` at the end of a tool's command.
pub fn critical_args(cmd: &mut Command, env: &Env, log: &Path, worker: usize) {
    cmd.arg(&env.critical)
        .arg(log)
        .arg(worker.to_string())
        .arg(CRITICAL_MS.to_string());
}
