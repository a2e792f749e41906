//! The tools the handoff workloads compare (a redlock binary, flock(1), `etcdctl lock`), each
//! as the command around one critical section; and BENCH_TRACE's copy of redlock's `-v` lines.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, Command, Stdio};
use std::thread;

use crate::clock::monotonic_ns;
use crate::contenders::{critical_args, critical_under};
use crate::procs::quiet;
use crate::world::Env;

#[derive(Clone)]
pub enum Tool {
    /// Binary `bin` on the first 3 instances.
    Redlock {
        bin: usize,
        resource: String,
    },
    Flock {
        lockfile: PathBuf,
    },
    Etcd {
        endpoint: String,
        name: String,
    },
}

impl Tool {
    /// The tool's command around `critical LOG WORKER 20`.
    pub fn around(&self, env: &Env, log: &Path, worker: usize) -> Command {
        let mut cmd = match self {
            Tool::Redlock { bin, resource } if std::env::var_os("BENCH_TRACE").is_some() => {
                // `-v` lines, stamped with CLOCK_MONOTONIC, go next to the section log.
                let servers = env.servers(3);
                let mut c = env.redlock(*bin, &["-v", "run", "-r", resource, "-s", &servers, "--"]);
                c.stderr(Stdio::piped());
                c
            }
            Tool::Redlock { bin, resource } => return critical_under(env, *bin, &[], resource, log, worker),
            Tool::Flock { lockfile } => {
                let mut c = Command::new("flock");
                c.arg(lockfile);
                quiet(&mut c);
                c
            }
            Tool::Etcd { endpoint, name } => env.etcdctl(endpoint, &["lock", name, "--"]),
        };
        critical_args(&mut cmd, env, log, worker);
        cmd
    }
}

/// BENCH_TRACE: each stderr line of a `redlock -v run`, stamped with CLOCK_MONOTONIC.
pub fn copy_trace(mut err: ChildStderr, path: &Path, tag: String) {
    let path = path.to_path_buf();
    thread::spawn(move || {
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .ok();
        let (mut buf, mut byte) = (Vec::new(), [0u8; 1]);
        while let Ok(1) = err.read(&mut byte) {
            if byte[0] != b'\n' {
                buf.push(byte[0]);
                continue;
            }
            let line = format!("{} {tag} {}\n", monotonic_ns(), String::from_utf8_lossy(&buf));
            if let Some(o) = out.as_mut() {
                let _ = o.write_all(line.as_bytes());
            }
            buf.clear();
        }
    });
}
