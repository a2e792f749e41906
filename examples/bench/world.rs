//! The world the workloads run in, from the command line and the environment scripts/bench
//! sets: the redlock binaries (the table's columns), the servers, etcd, and the commands that
//! drive them.

use std::path::PathBuf;
use std::process::Command;

use crate::procs::{output_of, quiet};
use crate::redis_by_hand::urls;

pub struct Bin {
    pub path: PathBuf,
    /// What `--version` printed: the column's name.
    pub label: String,
}

pub struct Etcd {
    pub endpoint: String,
    pub version: String,
    pub data: String,
}

pub struct Env {
    pub bins: Vec<Bin>,
    /// examples/critical, the critical section every tool runs.
    pub critical: PathBuf,
    /// scripts/bench's work directory: logs and lock files.
    pub dir: PathBuf,
    pub ports: Vec<u16>,
    pub pids: Vec<u32>,
    pub rounds: usize,
    pub etcd: Result<Etcd, String>,
}

impl Env {
    /// From `bench REDLOCK CRITICAL DIR PORTS PIDS` and BENCH_REDLOCK2, BENCH_ROUNDS and the
    /// BENCH_ETCD* variables; `Err` is the line to print before exiting 2.
    pub fn from_args(args: &[String]) -> Result<Env, &'static str> {
        if args.len() != 6 {
            return Err("usage: bench REDLOCK CRITICAL DIR PORTS PIDS   (run scripts/bench instead)");
        }
        let csv = |s: &str| -> Vec<u32> { s.split(',').filter_map(|p| p.parse().ok()).collect() };
        let mut paths = vec![PathBuf::from(&args[1])];
        if let Some(second) = std::env::var_os("BENCH_REDLOCK2").filter(|s| !s.is_empty()) {
            paths.push(PathBuf::from(second));
        }
        let env = Env {
            bins: labelled(paths),
            critical: PathBuf::from(&args[2]),
            dir: PathBuf::from(&args[3]),
            ports: csv(&args[4]).into_iter().map(|p| p as u16).collect(),
            pids: csv(&args[5]),
            rounds: std::env::var("BENCH_ROUNDS")
                .ok()
                .and_then(|r| r.parse().ok())
                .filter(|&r| r > 0)
                .unwrap_or(3),
            etcd: etcd_from_env(),
        };
        if env.ports.len() < 5 || env.pids.len() < 5 {
            return Err("bench: needs 5 redis-servers (ports and pids)");
        }
        Ok(env)
    }

    /// The first `n` instances, as one `-s` value.
    pub fn servers(&self, n: usize) -> String {
        urls(&self.ports[..n])
    }

    /// `redlock ARGS` of binary `bin`, with no REDLOCK_* from our environment and no stdio.
    pub fn redlock(&self, bin: usize, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bins[bin].path);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("REDLOCK_") {
                cmd.env_remove(key);
            }
        }
        cmd.args(args);
        quiet(&mut cmd);
        cmd
    }

    /// `redlock -q run -r RESOURCE -s SERVERS -- true` of binary `bin`.
    pub fn run_true(&self, bin: usize, resource: &str, servers: &str) -> Command {
        self.redlock(bin, &["-q", "run", "-r", resource, "-s", servers, "--", "true"])
    }

    /// `etcdctl --endpoints=ENDPOINT ARGS`, API v3, no ETCDCTL_* from our environment.
    pub fn etcdctl(&self, endpoint: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("etcdctl");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCDCTL_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={endpoint}"))
            .args(args);
        quiet(&mut cmd);
        cmd
    }

    pub fn etcd_endpoint(&self) -> Option<&str> {
        self.etcd.as_ref().ok().map(|e| e.endpoint.as_str())
    }

    /// The redlock binaries in the order round `i` runs them: alternating, so neither always
    /// goes first (on a warm or a busy machine).
    pub fn order(&self, i: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.bins.len()).collect();
        if i % 2 == 1 {
            v.reverse();
        }
        v
    }

    /// Round `round` (of `rounds`) of `run` for each redlock binary, in `order(round)`, each
    /// announced as "WHAT, round R of N, redlock X".
    pub fn round_of_each(&self, round: usize, rounds: usize, what: &str, mut run: impl FnMut(usize)) {
        for b in self.order(round) {
            progress(&format!(
                "{what}, round {} of {rounds}, redlock {}",
                round + 1,
                column_name(b)
            ));
            run(b);
        }
    }
}

fn labelled(paths: Vec<PathBuf>) -> Vec<Bin> {
    let mut bins: Vec<Bin> = paths
        .into_iter()
        .map(|path| {
            let label = output_of(Command::new(&path).arg("--version"))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| path.display().to_string());
            Bin { path, label }
        })
        .collect();
    if bins.len() == 2 && bins[0].label == bins[1].label {
        bins[1].label.push_str(" (REDLOCK_BIN2)");
    }
    bins
}

fn etcd_from_env() -> Result<Etcd, String> {
    if let Ok(why) = std::env::var("BENCH_ETCD_UNAVAILABLE") {
        return Err(why);
    }
    let endpoint = std::env::var("BENCH_ETCD").map_err(|_| "no BENCH_ETCD endpoint given".to_string())?;
    let version = output_of(Command::new("etcd").arg("--version"))
        .and_then(|v| v.lines().next().map(|l| l.replace("etcd Version: ", "etcd ")))
        .unwrap_or_else(|| "etcd".into());
    let data = std::env::var("BENCH_ETCD_DATA").unwrap_or_else(|_| "?".into());
    Ok(Etcd {
        endpoint,
        version,
        data,
    })
}

/// Column names: A (REDLOCK_BIN) and B (REDLOCK_BIN2).
pub fn column_name(i: usize) -> &'static str {
    ["A", "B"].get(i).copied().unwrap_or("?")
}

/// A progress line on stderr (stdout is the table).
pub fn progress(what: &str) {
    eprintln!("bench: {what} …");
}
