//! What redlock-acquire(1) says beyond the options: the token it prints, and the keeper that
//! keeps the hold alive for the rest of the calling script (docs/keeper.md, which it sums up
//! for a reader who has only the man page).

use super::prose::{Block, Block::*, Section};

/// Appended to DESCRIPTION.
pub const DESCRIPTION: &[Block] = &[
    Para(
        "redlock acquire takes the lock and prints its token on standard output, one line, or \
         with --json one document {resource, token, fence, ttl_ms, validity_ms}, and exits 0. \
         It waits as redlock run does (--wait, --no-wait, the first-come-first-served queue and \
         its notice; see redlock-run(1)). With the holder's token (--token, or REDLOCK_TOKEN) it \
         re-enters: the hold count goes up and the same token is printed.",
    ),
    Para(
        "redlock extend and redlock release take the token from --token or, failing that, from \
         REDLOCK_TOKEN, so a script can hold a lock for a stretch of its own:",
    ),
    Lines(&[
        "REDLOCK_TOKEN=$(redlock acquire -r migrate) || exit",
        "export REDLOCK_TOKEN",
        "./migrate.sh",
        "redlock release -r migrate",
    ]),
];

pub const SECTIONS: &[Section] = &[Section {
    title: "THE KEEPER",
    blocks: &[
        Para(
            "Unless --no-keep is given, acquire leaves a small keeper process behind that renews \
             the lease every ttl/3, as run's heartbeat does, until the hold ends. The hold ends \
             when redlock release drops it, or when its owner exits, whichever comes first: like \
             exec 9>f; flock 9, a script that crashes or is killed never leaves its lock behind \
             for a lease. This changes what acquire first did: its lease no longer lapses by \
             itself while the owner lives.",
        ),
        Para(
            "The owner is the process that ran redlock acquire, that is the calling shell \
             script. acquire looks through a wrapper that only waits for it (timeout, sudo, \
             doas, su, runuser, time) to the process that ran the wrapper. --owner PID names \
             another process.",
        ),
        Para(
            "The keeper closes standard output at once, so tok=$(redlock acquire -r X) returns \
             immediately. It keeps the caller's standard error only where that is a terminal or \
             a regular file, never a pipe or a socket, so out=$(redlock acquire -r X 2>&1) and a \
             program that captures acquire's output return at once too.",
        ),
        Para(
            "If the keeper loses the lock (a quorum refuses, or cannot be reached until the \
             lease is gone), it prints one redlock: line where it kept standard error and sends \
             the owner SIGTERM, so a script never carries on believing it holds the lock. \
             redlock release and redlock extend then exit 1, saying when and why the lock was \
             lost.",
        ),
        Para(
            "redlock release of a kept hold ends its keeper, which then reports no loss. \
             redlock inspect shows the keeper and its owner (host, pid, command).",
        ),
        Item(
            "--no-keep",
            "A bare lease of --ttl that only redlock extend prolongs, and that lapses by itself \
             otherwise: for a hold that must outlive its owner, such as a CI pipeline that \
             acquires in one step and releases in a later one.",
        ),
    ],
}];
