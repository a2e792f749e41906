//! Signals and `redlock run` (docs/run.md, "Signals and the terminal"): a signal sent to
//! redlock reaches the command once; any other that would end redlock is caught; one while
//! waiting ends the wait with 128 + N, one line and no partial hold; a Ctrl-C typed at a
//! terminal reaches the command once, and the command can read the terminal.

mod support;

use std::fs::File;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::engine::{holder_token, plant};
use support::procs::{self, redlock, run, Bg, Out};
use support::redis::Cluster;

const LIMIT: Duration = Duration::from_secs(30);

/// `redlock run -r RESOURCE -c SCRIPT` in the background in `dir`, with `$LOG`, `$READY` and
/// `$DONE` naming files `log`, `ready` and `done` there; returns once the script made `$READY`.
fn run_script(cluster: &Cluster, dir: &Path, resource: &str, script: &str) -> Bg {
    let bg = Bg::start(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("LOG", dir.join("log"))
            .env("READY", dir.join("ready"))
            .env("DONE", dir.join("done"))
            .args(["run", "-r", resource, "-c", script]),
        dir,
    );
    let ready = dir.join("ready");
    procs::wait_until("the command is ready", LIMIT, || ready.exists());
    bg
}

/// `acquire --no-keep -n` of `resource`: exit 0 where it is free.
fn acquire_now(cluster: &Cluster, resource: &str) -> Out {
    run(
        redlock().env("REDLOCK_SERVERS", cluster.servers_arg()).args([
            "acquire",
            "--no-keep",
            "-n",
            "-r",
            resource,
        ]),
        LIMIT,
    )
}

#[test]
fn sigterm_reaches_the_command_once_and_frees_the_lock_at_once() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log");
    // The trap records the signal, then the shell dies of it, so redlock passes 143 through.
    let script =
        r#"trap 'echo TERM >> "$LOG"; trap - TERM; kill -TERM $$' TERM; : > "$READY"; sleep 60 & wait"#;
    let mut bg = run_script(&cluster, dir.path(), "term", script);
    procs::signal(bg.child.id(), libc::SIGTERM);
    assert_eq!(bg.code(LIMIT), 143, "{}", bg.stderr());
    assert_eq!(
        procs::file_lines(&log),
        ["TERM"],
        "the command saw SIGTERM exactly once"
    );
    let after = acquire_now(&cluster, "term");
    assert_eq!(after.code, Some(0), "the lock is free right after: {after:?}");
}

#[test]
fn sighup_and_sigquit_are_forwarded_too() {
    let cluster = Cluster::start(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log");
    let script = r#"trap 'echo HUP >> "$LOG"' HUP; trap 'echo QUIT >> "$LOG"; exit 5' QUIT; : > "$READY"; while :; do sleep 0.05; done"#;
    let mut bg = run_script(&cluster, dir.path(), "hup", script);
    procs::signal(bg.child.id(), libc::SIGHUP);
    procs::wait_until("the command saw SIGHUP", LIMIT, || {
        !procs::file_lines(&log).is_empty()
    });
    procs::signal(bg.child.id(), libc::SIGQUIT);
    assert_eq!(
        bg.code(LIMIT),
        5,
        "the command's own status after its trap: {}",
        bg.stderr()
    );
    assert_eq!(procs::file_lines(&log), ["HUP", "QUIT"]);
}

#[test]
fn usr1_and_usr2_reach_the_command_once_and_redlock_keeps_running() {
    let cluster = Cluster::start(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, done) = (dir.path().join("log"), dir.path().join("done"));
    let script = r#"trap 'echo USR1 >> "$LOG"' USR1; trap 'echo USR2 >> "$LOG"' USR2; : > "$READY"; while [ ! -e "$DONE" ]; do sleep 0.05; done; exit 7"#;
    let mut bg = run_script(&cluster, dir.path(), "usr", script);
    procs::signal(bg.child.id(), libc::SIGUSR1);
    procs::wait_until("the command saw SIGUSR1", LIMIT, || {
        procs::file_lines(&log).len() == 1
    });
    procs::signal(bg.child.id(), libc::SIGUSR2);
    procs::wait_until("the command saw SIGUSR2", LIMIT, || {
        procs::file_lines(&log).len() == 2
    });
    assert!(
        matches!(bg.child.try_wait(), Ok(None)),
        "redlock keeps running after USR1/USR2: {}",
        bg.stderr()
    );
    std::fs::write(&done, "").expect("done marker");
    assert_eq!(
        bg.code(LIMIT),
        7,
        "the command's status passes through: {}",
        bg.stderr()
    );
    assert_eq!(procs::file_lines(&log), ["USR1", "USR2"], "each exactly once");
}

#[test]
fn sigalrm_does_not_end_redlock_and_leaves_no_lock_held() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let done = dir.path().join("done");
    let script = r#": > "$READY"; while [ ! -e "$DONE" ]; do sleep 0.05; done"#;
    let mut bg = run_script(&cluster, dir.path(), "alarm", script);
    for sig in [libc::SIGALRM, libc::SIGVTALRM, libc::SIGRTMIN()] {
        procs::signal(bg.child.id(), sig);
    }
    // Nothing must happen for a while: redlock keeps running.
    procs::throughout(Duration::from_millis(200), Duration::from_millis(5), || {
        assert!(
            matches!(bg.child.try_wait(), Ok(None)),
            "redlock survives SIGALRM and the like: {}",
            bg.stderr()
        );
        true
    });
    std::fs::write(&done, "").expect("done marker");
    assert_eq!(bg.code(LIMIT), 0, "{}", bg.stderr());
    for (i, server) in cluster.servers.iter().enumerate() {
        assert_eq!(
            holder_token(&mut server.conn(), "alarm"),
            None,
            "instance {i} is free"
        );
    }
}

#[test]
fn a_signal_while_waiting_exits_128_plus_n_with_one_line_and_no_partial_hold() {
    let cases = [
        (libc::SIGINT, "SIGINT", 130),
        (libc::SIGTERM, "SIGTERM", 143),
        (libc::SIGUSR1, "SIGUSR1", 128 + libc::SIGUSR1),
        (libc::SIGALRM, "SIGALRM", 128 + libc::SIGALRM),
    ];
    for (sig, name, code) in cases {
        let cluster = Cluster::start(3);
        // Held by another token on two instances: every attempt of ours takes the third and
        // must give it back.
        for server in &cluster.servers[..2] {
            plant(&mut server.conn(), "queue", "other", 30_000);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bg = Bg::start(
            redlock().env("REDLOCK_SERVERS", cluster.servers_arg()).args([
                "run",
                "-r",
                "queue",
                "--token",
                "mine",
                "--",
                "echo",
                "must not run",
            ]),
            dir.path(),
        );
        procs::wait_until("the waiting notice", LIMIT, || {
            bg.stderr().contains("redlock: waiting for lock 'queue': ")
        });
        let sent = Instant::now();
        procs::signal(bg.child.id(), sig);
        assert_eq!(bg.code(LIMIT), code, "{}", bg.stderr());
        let said: Vec<String> = bg
            .stderr()
            .lines()
            .filter(|l| !l.starts_with("redlock: waiting for lock "))
            .map(String::from)
            .collect();
        assert_eq!(
            said,
            [format!(
                "redlock: interrupted by {name} while waiting for lock 'queue'; nothing is held"
            )],
            "one line saying why"
        );
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "ended the wait at once: {:?}",
            sent.elapsed()
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("redlock.stdout")).expect("stdout"),
            ""
        );
        for (i, server) in cluster.servers.iter().enumerate() {
            let expected = (i < 2).then(|| "other".to_string());
            assert_eq!(
                holder_token(&mut server.conn(), "queue"),
                expected,
                "instance {i}"
            );
        }
    }
}

/// Everything the terminal showed so far.
struct Screen(Arc<Mutex<Vec<u8>>>);

impl Screen {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// A pseudo-terminal whose slave end becomes redlock's controlling terminal and stdio, as in an
/// interactive shell. Built from posix_openpt directly, so no `script`, python or tmux is needed.
struct Pty {
    master: File,
    slave: OwnedFd,
}

impl Pty {
    fn open() -> Pty {
        // SAFETY: posix_openpt/grantpt/unlockpt/ptsname_r/open take integer flags and write
        // only into the buffer we pass with its length; every returned fd is checked and owned.
        unsafe {
            let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            assert!(master >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
            let master = File::from_raw_fd(master);
            use std::os::fd::AsRawFd;
            assert_eq!(libc::grantpt(master.as_raw_fd()), 0, "grantpt");
            assert_eq!(libc::unlockpt(master.as_raw_fd()), 0, "unlockpt");
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(
                libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()),
                0,
                "ptsname_r"
            );
            let slave = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
            assert!(slave >= 0, "open pty slave: {}", std::io::Error::last_os_error());
            Pty {
                master,
                slave: OwnedFd::from_raw_fd(slave),
            }
        }
    }

    /// Run `cmd` in a new session whose controlling terminal is the slave (redlock is then the
    /// terminal's foreground process group, as a job started from a shell prompt).
    fn spawn(&self, cmd: &mut Command) -> Child {
        let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup pty slave"));
        cmd.stdin(stdio(&self.slave))
            .stdout(stdio(&self.slave))
            .stderr(stdio(&self.slave));
        // SAFETY: setsid and ioctl(TIOCSCTTY) are async-signal-safe syscalls on integers; they
        // run in the forked child before exec, where stdin is already the pty slave.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.spawn().expect("spawn redlock on a pty")
    }

    /// Drain the master on a thread (so the terminal's echo never blocks anyone) into a
    /// buffer that can be read while it fills; the thread ends at EIO, once every slave fd is
    /// closed.
    fn screen(&self) -> Screen {
        let mut reader = self.master.try_clone().expect("dup pty master");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        thread::spawn(move || {
            use std::io::Read;
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = reader.read(&mut chunk) {
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&chunk[..n]);
            }
        });
        Screen(seen)
    }

    /// What a user types.
    fn type_bytes(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.master.write_all(bytes).expect("write to the pty");
    }
}

#[test]
fn ctrl_c_at_a_terminal_reaches_the_command_exactly_once_and_it_can_read_the_terminal() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name);
    let (log, ready, got, stop) = (path("log"), path("ready"), path("got"), path("stop"));
    // Reads a line from the terminal (a background job would be stopped by SIGTTIN instead),
    // then counts SIGINTs until told to stop.
    let script = r#"trap 'echo INT >> "$LOG"' INT; : > "$READY"; read line; echo "$line" > "$GOT"
                    while [ ! -e "$STOP" ]; do sleep 0.05; done"#;
    let mut pty = Pty::open();
    let mut child = pty.spawn(
        redlock()
            .env("REDLOCK_SERVERS", cluster.servers_arg())
            .env("LOG", &log)
            .env("READY", &ready)
            .env("GOT", &got)
            .env("STOP", &stop)
            // -v: redlock reports each signal it forwards; it must have none to forward.
            .args(["-v", "run", "-r", "tty", "-c", script]),
    );
    let screen = pty.screen();
    let bounded = |what: &str, cond: &dyn Fn() -> bool| procs::wait_until(what, LIMIT, cond);
    bounded("the command is ready", &|| ready.exists());
    pty.type_bytes(b"hello\n");
    bounded("the command read the terminal", &|| {
        std::fs::read_to_string(&got).is_ok_and(|s| s == "hello\n")
    });
    pty.type_bytes(&[0x03]); // Ctrl-C (VINTR)
    bounded("the command saw SIGINT", &|| !procs::file_lines(&log).is_empty());
    // Room for a second delivery, if there were one (the time passing is the point; a second
    // line ends it early, and the assertion below tells).
    procs::throughout(Duration::from_millis(500), Duration::from_millis(5), || {
        procs::file_lines(&log).len() == 1
    });
    std::fs::write(&stop, "").expect("stop file");
    let status = procs::wait_timeout(&mut child, LIMIT);
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("redlock on the pty did not exit");
    });
    let echoed = screen.text();
    assert_eq!(status.code(), Some(0), "the command's status, not 130: {echoed}");
    assert_eq!(
        procs::file_lines(&log),
        ["INT"],
        "exactly one SIGINT; terminal: {echoed}"
    );
    // Two deliveries a millisecond apart can merge into one trap run, so also check the
    // mechanism: the terminal sent Ctrl-C to the command's group only, not to redlock.
    assert!(
        echoed.contains("redlock: debug: "),
        "-v lines reach the terminal: {echoed}"
    );
    assert!(
        !echoed.contains("forwarding signal"),
        "redlock saw the Ctrl-C too: {echoed}"
    );
    let after = acquire_now(&cluster, "tty");
    assert_eq!(after.code, Some(0), "{after:?}");
}

#[test]
fn ctrl_c_at_a_terminal_while_waiting_exits_130() {
    let cluster = Cluster::start(1);
    plant(&mut cluster.servers[0].conn(), "tty-wait", "other", 30_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pty = Pty::open();
    let mut child = pty.spawn(redlock().env("REDLOCK_SERVERS", cluster.servers_arg()).args([
        "run",
        "-r",
        "tty-wait",
        "--",
        "touch",
        dir.path().join("ran").to_str().expect("utf-8"),
    ]));
    let screen = pty.screen();
    procs::wait_until("the waiting notice", LIMIT, || {
        screen.text().contains("redlock: waiting for lock ")
    });
    pty.type_bytes(&[0x03]);
    let status = procs::wait_timeout(&mut child, LIMIT).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("redlock did not exit after Ctrl-C");
    });
    let shown = screen.text();
    assert_eq!(status.code(), Some(130), "{shown}");
    assert!(
        shown.contains("redlock: waiting for lock 'tty-wait': held by"),
        "{shown}"
    );
    assert!(!dir.path().join("ran").exists(), "the command must not run");
}
