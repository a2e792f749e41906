//! The README's first command, `scripts/demo`, run end to end as a newcomer would: no terminal,
//! stdin closed, output to a pipe. It must end by itself, show what it promises, and leave no
//! `redis-server` of its own running; interrupted, it stops them too and exits 130.
//!
//! The demo builds a release binary when run by hand; here `REDLOCK_DEMO_BIN` points it at the
//! binary this suite already built, so the test costs the demo's own few seconds, not a build.

mod support;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::procs;

/// The demo sleeps about 8 s in all; far more than that means it hangs.
const DEADLINE: Duration = Duration::from_secs(60);

fn demo() -> Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo");
    let mut cmd = procs::scrubbed(script);
    cmd.env("REDLOCK_DEMO_BIN", env!("CARGO_BIN_EXE_redlock"));
    cmd
}

/// The ports of the servers the demo announced: "… instances: redis://127.0.0.1:P,… (quorum 2)".
fn announced_ports(stdout: &str) -> Vec<u16> {
    let line = stdout
        .lines()
        .find(|l| l.contains("redis-server instances:"))
        .unwrap_or_else(|| panic!("no instances line in:\n{stdout}"));
    let ports: Vec<u16> = line
        .split("redis://127.0.0.1:")
        .skip(1)
        .map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().expect("a port")
        })
        .collect();
    assert_eq!(ports.len(), 3, "three servers in: {line}");
    ports
}

/// Every running `redis-server` whose command line names one of `ports`.
fn servers_left(ports: &[u16]) -> Vec<String> {
    let mut left = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let is_ours = cmdline.contains("redis-server")
            && ports.iter().any(|p| cmdline.contains(&format!("--port {p} ")));
        // A zombie has an empty cmdline, so what is listed here is really running.
        if is_ours {
            left.push(format!("pid {}: {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    left
}

#[test]
fn demo_ends_by_itself_serializes_the_jobs_and_stops_its_servers() {
    let out = procs::run(&mut demo(), DEADLINE);
    let all = format!("--- stdout ---\n{}\n--- stderr ---\n{}", out.stdout, out.stderr);
    assert_eq!(out.code, Some(0), "{all}");

    // The three jobs: each starts and ends before the next starts, with rising fences.
    let job_lines: Vec<&str> = out.stdout.lines().filter(|l| l.contains(" job ")).collect();
    assert_eq!(job_lines.len(), 6, "three starts and three ends:\n{all}");
    let mut fences = Vec::new();
    for pair in job_lines.chunks(2) {
        let (start, end) = (pair[0], pair[1]);
        let name = start
            .split(" job ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .expect("job name");
        assert!(start.contains("starts (fence "), "{start}\n{all}");
        assert!(
            end.ends_with(&format!("job {name} ends")),
            "{name} ends before the next starts:\n{all}"
        );
        let fence: u64 = start
            .rsplit("(fence ")
            .next()
            .and_then(|r| r.strip_suffix(')'))
            .and_then(|f| f.parse().ok())
            .unwrap_or_else(|| panic!("a fence in: {start}"));
        fences.push(fence);
    }
    assert!(
        fences.windows(2).all(|w| w[0] < w[1]),
        "fences rise: {fences:?}\n{all}"
    );

    // The cron scene: one host ran, two were busy.
    assert_eq!(out.stdout.matches("ran the backup").count(), 1, "{all}");
    assert_eq!(
        out.stdout.matches(": exit 75 (busy, skipped)").count(),
        2,
        "{all}"
    );

    assert!(
        out.stdout
            .contains("demo: done; stopping the instances it started."),
        "{all}"
    );
    let left = servers_left(&announced_ports(&out.stdout));
    assert!(left.is_empty(), "servers left running: {left:?}");
}

#[test]
fn demo_interrupted_stops_its_servers_and_exits_130() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stdout_path = dir.path().join("stdout");
    let mut cmd = demo();
    // Its own process group, so the SIGINT below reaches the whole demo as Ctrl-C would.
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn scripts/demo");
    let stdout = || fs::read_to_string(&stdout_path).unwrap_or_default();

    procs::wait_until("the demo's jobs to start", DEADLINE, || {
        stdout().contains(" job A starts")
    });
    let ports = announced_ports(&stdout());
    let pgid = i32::try_from(child.id()).expect("pid fits");
    procs::signal_group(pgid, libc::SIGINT);

    let status = procs::wait_timeout(&mut child, DEADLINE);
    let Some(status) = status else {
        let _ = child.kill();
        panic!("the demo did not end after SIGINT:\n{}", stdout());
    };
    assert_eq!(status.code(), Some(130), "{}", stdout());
    assert!(
        !stdout().contains("demo: done"),
        "interrupted before the end:\n{}",
        stdout()
    );
    procs::wait_until("the demo's servers to be gone", Duration::from_secs(10), || {
        servers_left(&ports).is_empty()
    });
}

/// Without `REDLOCK_DEMO_BIN` the demo builds redlock, a minute or more the first time: it
/// says so and lets cargo show its progress (no `--quiet`). A stand-in `cargo` on PATH
/// records how it was called and fails, which ends the demo before it starts any server.
#[test]
fn demo_shows_the_builds_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let calls = dir.path().join("cargo-args");
    let fake = dir.path().join("cargo");
    fs::write(
        &fake,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\necho '   Compiling redlock-cli' >&2\nexit 3\n",
            calls.display()
        ),
    )
    .expect("writing the stand-in cargo");
    fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let path = std::env::join_paths(
        std::iter::once(dir.path().to_path_buf()).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .expect("a PATH");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo");
    let out = procs::run(procs::scrubbed(script).env("PATH", path), DEADLINE);
    assert_eq!(
        out.code,
        Some(3),
        "the demo stops where its build failed: {out:?}"
    );
    assert!(out.stdout.contains("demo: building redlock"), "{out:?}");
    assert!(
        out.stderr.contains("Compiling"),
        "cargo's progress reaches the user: {out:?}"
    );
    let args = fs::read_to_string(&calls).expect("the demo ran cargo");
    let args: Vec<&str> = args.lines().collect();
    assert!(args.contains(&"build") && args.contains(&"--release"), "{args:?}");
    assert!(
        !args.contains(&"--quiet") && !args.contains(&"-q"),
        "cargo build must not be silenced: {args:?}"
    );
}
