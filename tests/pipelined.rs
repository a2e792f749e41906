//! Requests are pipelined, in order, and releases are prompt (docs/how-it-works.md, "The wire:
//! pipelined, in order"; docs/run.md, "Step by step" 4): a paused instance that resumes runs a
//! finished holder's acquire and release in order and is left free; a stopped minority is never
//! waited for.

mod support;

use std::time::Duration;

use support::engine::holder_token;
use support::procs::{self, redlock, run};
use support::redis::Cluster;

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn a_paused_instance_runs_the_release_when_it_resumes_and_is_left_free() {
    let cluster = Cluster::start(3);
    for (i, paused) in cluster.servers.iter().enumerate() {
        let resource = format!("pi{i}");
        paused.pause();
        // A connect timeout shorter than the op timeout is what made the old one-request-at-
        // a-time worker give up on the release for good: it was still waiting for the acquire's
        // reply when the release round's time ran out, so the release was never written.
        let out = run(
            redlock().env("REDLOCK_SERVERS", cluster.servers_arg()).args([
                "--connect-timeout",
                "50ms",
                "--op-timeout",
                "1s",
                "run",
                "-q",
                "-r",
                &resource,
                "--",
                "true",
            ]),
            LIMIT,
        );
        paused.resume();
        assert_eq!(out.code, Some(0), "instance {i} paused: {out:?}");
        // Its socket holds the acquire and the release, written in that order while it was
        // stopped; once it reads them it is free. (Before pipelining, the release was never
        // written, and the finished holder's key stayed for the whole 30 s lease.)
        procs::wait_until(
            &format!("instance {i} to run the release it got while paused"),
            Duration::from_secs(5),
            || holder_token(&mut paused.conn(), &resource).is_none(),
        );
        for (j, other) in cluster.servers.iter().enumerate() {
            assert_eq!(holder_token(&mut other.conn(), &resource), None, "instance {j}");
        }
    }
}

#[test]
fn run_with_one_of_three_stopped_does_not_wait_for_it() {
    let cluster = Cluster::start(3);
    cluster.servers[1].pause();
    // Long timeouts make the old behaviour (the release waiting for the stopped instance until
    // the op timeout) impossible to miss; half of them is loose enough for a busy machine.
    let out = run(
        redlock().env("REDLOCK_SERVERS", cluster.servers_arg()).args([
            "--op-timeout",
            "4s",
            "--connect-timeout",
            "4s",
            "run",
            "-r",
            "prompt",
            "--",
            "true",
        ]),
        LIMIT,
    );
    cluster.servers[1].resume();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stderr, "",
        "nothing to warn about: the release is on its way: {out:?}"
    );
    assert!(
        out.elapsed < Duration::from_secs(2),
        "finished at the quorum, not the op timeout: {:?}",
        out.elapsed
    );
}

#[test]
fn release_with_one_of_three_stopped_does_not_wait_for_it() {
    let cluster = Cluster::start(3);
    let servers = cluster.servers_arg();
    let slow = ["--op-timeout", "4s", "--connect-timeout", "4s"];
    let token = run(
        redlock()
            .env("REDLOCK_SERVERS", &servers)
            .args(slow)
            .args(["acquire", "--no-keep", "-r", "rel"]),
        LIMIT,
    );
    assert_eq!(token.code, Some(0), "{token:?}");
    cluster.servers[0].pause();
    let out = run(
        redlock().env("REDLOCK_SERVERS", &servers).args(slow).args([
            "release",
            "-r",
            "rel",
            "--token",
            token.stdout.trim(),
        ]),
        LIMIT,
    );
    cluster.servers[0].resume();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.elapsed < Duration::from_secs(2), "{:?}", out.elapsed);
    procs::wait_until(
        "the resumed instance to run the release",
        Duration::from_secs(5),
        || holder_token(&mut cluster.servers[0].conn(), "rel").is_none(),
    );
}
