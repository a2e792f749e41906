//! The Redlock libraries `--classic` shares its lock with, installed once per checkout in
//! `target/classic-libs/` (Python venvs from PyPI, node packages from npm), and a small driver
//! for each that takes, tries or holds a lock the library's own way.
//!
//! Both the `redlock` package (1.2.0, the seckill demo's `RedLock`) and redlock-py install a
//! module named `redlock`, so each has a venv of its own; redis-py (its `Lock`) comes with them.
//! node-redlock (with ioredis) is installed where `node` and `npm` are. A library that cannot
//! be installed makes its tests print SKIPPED, except under `CI=true`, where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::procs::{run, scrubbed};

/// How long one installation step may take (pip and npm download from the network).
const INSTALL_LIMIT: Duration = Duration::from_secs(300);

/// The libraries, by the driver that speaks for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lib {
    /// `redlock` 1.2.0: `RedLock('NAME', connection_details=[...])`.
    RedlockPackage,
    /// redlock-py: `Redlock([...]).lock('NAME', ttl)`.
    RedlockPy,
    /// redis-py's `Lock` on one instance: `Redis(...).lock('NAME', timeout=...)`.
    RedisPy,
    /// node-redlock 4 with ioredis: `new Redlock(clients).lock('NAME', ttl)`.
    NodeRedlock,
}

impl Lib {
    pub fn name(self) -> &'static str {
        match self {
            Lib::RedlockPackage => "redlock 1.2.0 (Python)",
            Lib::RedlockPy => "redlock-py",
            Lib::RedisPy => "redis-py Lock",
            Lib::NodeRedlock => "node-redlock",
        }
    }

    /// The driver's command: `ACTION NAME TTL_MS [FILE]` follow (see [`PY_DRIVER`]); the
    /// servers are in `SERVERS`, comma-separated. `None` (after printing SKIPPED) where the
    /// library is not installed.
    pub fn driver(self) -> Option<Command> {
        let libs = libs();
        let (program, args): (PathBuf, Vec<String>) = match self {
            Lib::NodeRedlock => {
                let node = libs
                    .node
                    .as_ref()
                    .or_else(|| skip(self, libs.node_missing.as_deref()))?;
                (
                    PathBuf::from("node"),
                    vec![node.join("driver.js").to_string_lossy().into_owned()],
                )
            }
            _ => {
                let venv = match self {
                    Lib::RedlockPackage => libs.redlock_package.as_ref(),
                    _ => libs.redlock_py.as_ref(),
                };
                let venv = venv.or_else(|| skip(self, libs.python_missing.as_deref()))?;
                let which = match self {
                    Lib::RedlockPackage => "redlock12",
                    Lib::RedlockPy => "redlockpy",
                    _ => "redispy",
                };
                (
                    venv.join("bin/python"),
                    vec![
                        libs.dir.join("driver.py").to_string_lossy().into_owned(),
                        which.to_string(),
                    ],
                )
            }
        };
        let mut cmd = scrubbed(program);
        cmd.args(args);
        Some(cmd)
    }

    /// The Python with the `redlock` package and redis-py, for scripts of a test's own.
    pub fn python() -> Option<PathBuf> {
        let libs = libs();
        match &libs.redlock_package {
            Some(venv) => Some(venv.join("bin/python")),
            None => skip(Lib::RedlockPackage, libs.python_missing.as_deref()),
        }
    }
}

fn skip<T>(lib: Lib, why: Option<&str>) -> Option<T> {
    let why = why.unwrap_or("not installed");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{}: {why} (CI=true: no skipping)",
        lib.name()
    );
    eprintln!("SKIPPED: {}: {why}", lib.name());
    None
}

struct Libs {
    dir: PathBuf,
    redlock_package: Option<PathBuf>,
    redlock_py: Option<PathBuf>,
    python_missing: Option<String>,
    node: Option<PathBuf>,
    node_missing: Option<String>,
}

/// Installed once per process (and kept across runs: a venv whose `ready` mark is there is
/// used as it is).
fn libs() -> &'static Libs {
    static LIBS: OnceLock<Libs> = OnceLock::new();
    LIBS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/classic-libs");
        std::fs::create_dir_all(&dir).expect("creating target/classic-libs");
        std::fs::write(dir.join("driver.py"), PY_DRIVER).expect("writing driver.py");
        let package = venv(&dir, "redlock-1.2.0", &["redlock==1.2.0", "redis"]);
        let py = venv(&dir, "redlock-py", &["redlock-py", "redis"]);
        let python_missing = package.as_ref().err().or(py.as_ref().err()).cloned();
        let node = node(&dir);
        Libs {
            redlock_package: package.ok(),
            redlock_py: py.ok(),
            python_missing,
            node_missing: node.as_ref().err().cloned(),
            node: node.ok(),
            dir,
        }
    })
}

/// A venv at `dir/name` with `packages`, made once.
fn venv(dir: &Path, name: &str, packages: &[&str]) -> Result<PathBuf, String> {
    let venv = dir.join(name);
    let ready = venv.join("ready");
    if ready.exists() {
        return Ok(venv);
    }
    let _ = std::fs::remove_dir_all(&venv);
    step(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv (scripts/test installs python3-venv)",
    )?;
    step(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(packages),
        &format!("pip install {}", packages.join(" ")),
    )?;
    std::fs::write(&ready, packages.join("\n")).map_err(|e| e.to_string())?;
    Ok(venv)
}

/// node-redlock and ioredis in `dir/node`, made once, where node and npm are.
fn node(dir: &Path) -> Result<PathBuf, String> {
    let node = dir.join("node");
    let ready = node.join("ready");
    if !ready.exists() {
        let _ = std::fs::remove_dir_all(&node);
        std::fs::create_dir_all(&node).map_err(|e| e.to_string())?;
        step(Command::new("node").arg("--version"), "node")?;
        step(
            Command::new("npm").current_dir(&node).args([
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "redlock@4.2.0",
                "ioredis@5",
            ]),
            "npm install redlock@4.2.0 ioredis@5",
        )?;
        std::fs::write(&ready, "redlock@4.2.0 ioredis@5").map_err(|e| e.to_string())?;
    }
    std::fs::write(node.join("driver.js"), NODE_DRIVER).map_err(|e| e.to_string())?;
    Ok(node)
}

/// Run one installation step; `Err` says what failed (not found, timed out, its stderr).
fn step(cmd: &mut Command, what: &str) -> Result<(), String> {
    // `run` panics when the program cannot be started or runs past its limit.
    let out = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cmd, INSTALL_LIMIT))) {
        Ok(out) => out,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("failed");
            return Err(format!("{what}: {}", why.lines().next().unwrap_or(why)));
        }
    };
    if out.code != Some(0) {
        return Err(format!("{what} failed: {}", out.stderr.trim()));
    }
    Ok(())
}

/// `driver.py LIB ACTION NAME TTL_MS [FILE]`, LIB one of redlock12, redlockpy, redispy:
/// - `try`: one attempt; prints `acquired` (then releases) or `refused`
/// - `hold`: takes the lock (retrying for up to 20 s), prints `held`, waits until FILE
///   exists, releases, and prints the time of the release (ns since the epoch)
const PY_DRIVER: &str = r#"
import os, sys, time
lib, action, name, ttl = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
urls = os.environ["SERVERS"].split(",")
if lib == "redlock12":
    from redlock import RedLock
    lock = RedLock(name, connection_details=[{"url": u} for u in urls], ttl=ttl, retry_times=1)
    acquire, release = lock.acquire, lock.release
elif lib == "redlockpy":
    from redlock import Redlock
    dlm = Redlock(urls, retry_count=1, retry_delay=0.01)
    held = []
    def acquire():
        got = dlm.lock(name, ttl)
        if got:
            held.append(got)
        return bool(got)
    def release():
        dlm.unlock(held.pop())
else:
    import redis
    lock = redis.Redis.from_url(urls[0]).lock(name, timeout=ttl / 1000)
    acquire = lambda: lock.acquire(blocking=False)
    release = lock.release
if action == "try":
    if acquire():
        print("acquired", flush=True)
        release()
    else:
        print("refused", flush=True)
elif action == "hold":
    deadline = time.time() + 20
    while not acquire():
        if time.time() > deadline:
            sys.exit("could not take the lock")
        time.sleep(0.05)
    print("held", flush=True)
    while not os.path.exists(sys.argv[5]):
        time.sleep(0.005)
    release()
    print(time.time_ns(), flush=True)
"#;

/// `driver.js ACTION NAME TTL_MS [FILE]`: as [`PY_DRIVER`], with node-redlock and ioredis.
const NODE_DRIVER: &str = r#"
const fs = require("fs");
const Redis = require("ioredis");
const Redlock = require("redlock");
const [action, name, ttlText, file] = process.argv.slice(2);
const ttl = Number(ttlText);
const clients = process.env.SERVERS.split(",").map((u) => new Redis(u, { maxRetriesPerRequest: 1 }));
const redlock = new Redlock(clients, { retryCount: 0 });
const done = (code) => { clients.forEach((c) => c.disconnect()); process.exit(code); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  if (action === "try") {
    try {
      const lock = await redlock.lock(name, ttl);
      console.log("acquired");
      await lock.unlock();
    } catch (e) {
      console.log("refused");
    }
    return done(0);
  }
  const deadline = Date.now() + 20000;
  let lock = null;
  while (!lock) {
    try {
      lock = await redlock.lock(name, ttl);
    } catch (e) {
      if (Date.now() > deadline) { console.error("could not take the lock"); return done(1); }
      await sleep(50);
    }
  }
  console.log("held");
  while (!fs.existsSync(file)) await sleep(5);
  await lock.unlock();
  console.log(String(BigInt(Date.now()) * 1000000n));
  done(0);
})();
"#;
