//! The unit tests of child.rs, beside it: they use testing.rs's helpers, which build on
//! child.rs, so child.rs itself refers to neither.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::thread;

use nix::sys::signal::Signal;

use crate::process::child::*;
use crate::process::owner::Owner;
use crate::process::testing::{argv, shell, wait_until, watch, BOUND};

/// Spawn, wait on a waiter thread, and give how it ended, failing after BOUND.
fn run(program: &Program, env: &[(String, String)]) -> Exit {
    let child = Child::spawn(program, env).expect("spawn");
    let rx = watch(&child);
    let exit = rx
        .recv_timeout(BOUND)
        .expect("command finished in time")
        .expect("wait");
    assert_eq!(child.exit(), Some(exit));
    exit
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[test]
fn exit_status_is_passed_through() {
    for code in [0, 3, 42] {
        assert_eq!(run(&shell(&format!("exit {code}")), &[]), Exit::Code(code));
    }
    assert_eq!(run(&argv(&["true"]), &[]), Exit::Code(0));
    assert_eq!(run(&argv(&["false"]), &[]), Exit::Code(1));
}

#[test]
fn death_by_signal_is_128_plus_n() {
    // The signal is reported; cli/exit.rs makes it 128 + N (137, 143).
    assert_eq!(run(&shell("kill -9 $$"), &[]), Exit::Signal(libc::SIGKILL));
    assert_eq!(run(&shell("kill -TERM $$"), &[]), Exit::Signal(libc::SIGTERM));
}

#[test]
fn death_by_a_real_time_signal_is_reported_too() {
    // nix's `Signal` cannot name it: the waiter must not trip over that (see Waiter::wait).
    let sig = libc::SIGRTMIN() + 2;
    assert_eq!(run(&shell(&format!("kill -{sig} $$")), &[]), Exit::Signal(sig));
}

#[test]
fn exit_statuses_are_read_as_codes_or_signals() {
    assert_eq!(Exit::from_status(ExitStatus::from_raw(0)), Some(Exit::Code(0)));
    assert_eq!(
        Exit::from_status(ExitStatus::from_raw(42 << 8)),
        Some(Exit::Code(42))
    );
    let killed = ExitStatus::from_raw(libc::SIGKILL);
    assert_eq!(Exit::from_status(killed), Some(Exit::Signal(libc::SIGKILL)));
    // Killed by SIGQUIT with a core dump (0x80) is still signal 3.
    let dumped = ExitStatus::from_raw(libc::SIGQUIT | 0x80);
    assert_eq!(Exit::from_status(dumped), Some(Exit::Signal(libc::SIGQUIT)));
    // A stop report (WIFSTOPPED by SIGTSTP) is not how a command ended.
    let stopped = ExitStatus::from_raw((libc::SIGTSTP << 8) | 0x7f);
    assert_eq!(Exit::from_status(stopped), None);
}

#[test]
fn missing_program_is_not_found_127() {
    let err = Child::spawn(&argv(&["redlock-test-no-such-command-xyz"]), &[]).expect_err("must not spawn");
    assert!(matches!(err, SpawnError::NotFound(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "command not found: redlock-test-no-such-command-xyz"
    );
    let err = Child::spawn(&argv(&["/nonexistent/dir/prog"]), &[]).expect_err("no spawn");
    assert!(matches!(err, SpawnError::NotFound(_)), "{err}");
}

#[test]
fn shell_reports_its_own_not_found() {
    // `sh -c` does the lookup itself and exits 127; that status passes through.
    assert_eq!(
        run(&shell("redlock-test-no-such-command-xyz"), &[]),
        Exit::Code(127)
    );
}

#[test]
fn non_executable_file_is_126() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").expect("write script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = Child::spawn(&Program::Argv(vec![script.clone().into()]), &[]).expect_err("must not spawn");
    assert!(matches!(err, SpawnError::NotExecutable(_)), "{err:?}");
    assert!(err.to_string().starts_with("command not executable: "), "{err}");
    assert!(err.to_string().contains("not marked executable"), "{err}");
}

#[test]
fn missing_interpreter_is_127_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("script.sh");
    std::fs::write(&script, "#!/nonexistent/interpreter\n").expect("write script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let err = Child::spawn(&Program::Argv(vec![script.into()]), &[]).expect_err("no spawn");
    assert!(matches!(err, SpawnError::NotFound(_)), "{err:?}");
    assert!(err.to_string().contains("interpreter"), "{err}");
}

#[test]
fn directory_is_126() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Child::spawn(&Program::Argv(vec![dir.path().into()]), &[]).expect_err("must not spawn");
    assert!(matches!(err, SpawnError::NotExecutable(_)), "{err:?}");
    assert!(err.to_string().contains("is a directory"), "{err}");
}

#[test]
fn empty_argv_is_refused() {
    let err = Child::spawn(&Program::Argv(Vec::new()), &[]).expect_err("must not spawn");
    assert!(matches!(err, SpawnError::Other(_)), "{err:?}");
}

#[test]
fn env_vars_reach_the_command() {
    let env = [
        ("FOO".to_owned(), "bar".to_owned()),
        ("REDLOCK_FENCE".to_owned(), "17".to_owned()),
    ];
    let check = r#"test "$FOO" = bar && test "$REDLOCK_FENCE" = 17 && test -n "$PATH""#;
    assert_eq!(run(&shell(check), &env), Exit::Code(0));
    assert_eq!(run(&shell(r#"test "$FOO" = bar"#), &[]), Exit::Code(1));
}

#[cfg(target_os = "linux")]
#[test]
fn command_leads_its_own_process_group() {
    let mut child = Child::spawn(&argv(&["sleep", "100"]), &[]).expect("spawn");
    let pid = child.pid();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the parenthesised name: state, ppid, pgrp.
    let pgrp: u32 = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(2))
        .and_then(|field| field.parse().ok())
        .expect("pgrp field");
    assert_eq!(pgrp, pid);
    assert_ne!(pgrp, std::process::id(), "not in the test's group");
    child.signal_group(Signal::SIGKILL);
    assert_eq!(child.wait().expect("wait"), Exit::Signal(libc::SIGKILL));
}

#[test]
fn signal_group_reaches_grandchildren() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("grandchild.pid");
    let script = format!("sleep 100 & echo $! > '{}'; wait", pid_file.display());
    let child = Child::spawn(&shell(&script), &[]).expect("spawn");
    let rx = watch(&child);
    let mut grandchild = None;
    wait_until("the grandchild's pid is written", || {
        grandchild = read_pid(&pid_file);
        grandchild.is_some()
    });
    // Alive means not a zombie too (owner.rs): a zombie answers kill(pid, 0), and reparented
    // orphans may stay zombies for a while when PID 1 is slow to reap, as in some containers.
    let grandchild = Owner::of(grandchild.expect("pid")).expect("the grandchild's /proc entry");
    assert!(grandchild.alive());

    child.signal_group(Signal::SIGTERM);
    let exit = rx.recv_timeout(BOUND).expect("shell exited").expect("wait");
    assert_eq!(exit, Exit::Signal(libc::SIGTERM));
    wait_until("the grandchild is gone", || !grandchild.alive());
    // After reaping, signalling is a no-op rather than a shot at a recycled pid.
    child.signal_group(Signal::SIGKILL);
}

#[cfg(target_os = "linux")]
#[test]
fn command_dies_with_the_thread_that_spawned_it() {
    // PR_SET_PDEATHSIG fires when the spawning *thread* exits: this is why `run` must spawn
    // from the main thread, and it shows the death signal is set.
    let child = thread::spawn(|| Child::spawn(&argv(&["sleep", "100"]), &[]).expect("spawn"))
        .join()
        .expect("spawning thread");
    let rx = watch(&child);
    let exit = rx.recv_timeout(BOUND).expect("killed in time").expect("wait");
    assert_eq!(exit, Exit::Signal(libc::SIGKILL));
}

#[test]
fn spawn_error_messages_are_one_line() {
    let errors = [
        SpawnError::NotFound("foo".into()),
        SpawnError::NotExecutable("./x (permission denied)".into()),
        SpawnError::Other("sh (resource temporarily unavailable)".into()),
    ];
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(shown[0], "command not found: foo");
    assert_eq!(shown[1], "command not executable: ./x (permission denied)");
    assert!(shown.iter().all(|line| !line.contains('\n')));
}
