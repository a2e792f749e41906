//! What redlock-run(1) says beyond the options: how `run` behaves (docs/run.md, which it sums
//! up), for a reader who has only the installed package.

use super::prose::{Block, Block::*, Section};

/// Appended to DESCRIPTION.
pub const DESCRIPTION: &[Block] = &[
    Para(
        "redlock run takes the lock named by -r on a quorum (N/2 + 1) of the --server \
         instances, runs the command while it holds the lock, and releases it on every instance \
         the moment the command exits. The command runs only while the lock is held, the lock \
         is not held longer than the command (unless --min-hold says so), and redlock exits \
         with the command's status.",
    ),
    Para(
        "The command starts at -- or at the first word that does not begin with -; every word \
         after it is the command's (redlock run -r x ls -l). A word beginning with - before it \
         is one of redlock's options, so a typo such as --tiemout 5s is a usage error (exit 2), \
         never a command to run. With -c STRING, sh -c STRING runs instead. The command gets \
         redlock's standard input, output and error as they are, runs in a process group of \
         its own, and finds the variables listed under ENVIRONMENT (REDLOCK_RESOURCE, \
         REDLOCK_TOKEN, REDLOCK_FENCE, REDLOCK_MODE, REDLOCK_LIMIT) in its environment.",
    ),
];

pub const SECTIONS: &[Section] = &[
    Section {
        title: "WAITING AND THE QUEUE",
        blocks: &[
            Para(
                "While the lock is held elsewhere, run waits: for as long as it takes by \
                 default, up to --wait DUR, or not at all with --no-wait. Waiters are served \
                 first come, first served: each registers in the resource's queue and keeps its \
                 place while it waits, a waiter that dies leaves the queue within a few \
                 seconds, and a release wakes the waiter whose turn it is about one round trip \
                 later. --no-wait never joins the queue. With --limit N the first N in line \
                 hold; shared waiters that reach the head of the queue together enter together, \
                 and a --shared request behind a queued exclusive one waits for it.",
            ),
            Para(
                "A wait longer than about a second prints a notice on stderr (not with \
                 --quiet) naming the holder, how long it has held the lock (not its lease's \
                 time left, which renewals keep full) and the waiter's place:",
            ),
            Lines(&[
                "redlock: waiting for lock 'deploy-prod': held by ci-7 pid 4121 (./deploy.sh prod) for 4m 12s; 2 ahead of you",
            ]),
            Para(
                "A new notice follows when the holder changes or the place changes by a lot, \
                 never more than one every few seconds. A lock kept only by --min-hold after its \
                 command finished says so, and until when.",
            ),
            Para(
                "When --wait runs out, or at once with --no-wait, run exits 75 (or the code \
                 given with -E) after one line naming the holder, and the command never runs. \
                 Waiting is for a holder, never for servers: when a quorum of instances cannot \
                 be reached or refuses us (authentication, TLS), run exits 69 within about the \
                 connect and op timeouts, whatever --wait says.",
            ),
        ],
    },
    Section {
        title: "HEARTBEAT",
        blocks: &[
            Para(
                "While the command runs, redlock renews the lease on every instance every \
                 ttl/3: every 10 seconds with the default --ttl 30s. An instance that lost the \
                 key (it restarted empty) and is free is taken back on the next renewal that \
                 reaches it, so a restart does not quietly shrink the quorum. A renewal that \
                 fails is retried (every ttl/30, at least once a second) for as long as the \
                 last good one is valid; the first failure prints a warning (not with --quiet).",
            ),
            Para(
                "A redlock run or redlock acquire of the same resource inside the command finds \
                 REDLOCK_TOKEN and re-enters at once (the hold count goes up) instead of waiting \
                 for itself. It sees the same token and fence, runs no heartbeat of its own, and \
                 drops only its own hold when it ends.",
            ),
        ],
    },
    Section {
        title: "LOCK LOSS",
        blocks: &[
            Para(
                "If no renewal reaches a quorum before the lease's validity ends, or a quorum \
                 answers that the lock is no longer ours (another token holds it, a majority of \
                 instances lost their data, or an operator ran redlock release --force), the \
                 lock is lost. That is never silent: redlock prints one line, whatever --quiet \
                 says, and stops the command with a ladder: SIGTERM to the command's whole \
                 process group (with SIGCONT, so a stopped command gets it), then, if the \
                 command is still running --kill-after later (default 10s), SIGKILL to the \
                 group. The SIGTERM is sent before the lease runs out, not after. When the \
                 command has exited, redlock releases what is left of the lock and exits 70.",
            ),
            Para(
                "So write commands that stop cleanly on SIGTERM (trap ... TERM in a script), \
                 pick a ttl well above the pauses your hosts and network can have, and pass \
                 REDLOCK_FENCE to the storage you protect, so that it refuses a late write from \
                 a holder that lost the lock.",
            ),
        ],
    },
    Section {
        title: "SIGNALS",
        blocks: &[
            Para(
                "SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2 and SIGWINCH sent to \
                 redlock are forwarded to the command's process group, once each. redlock then \
                 waits for the command, releases the lock and exits with the command's status \
                 (143 if the SIGTERM killed it; 0 if it trapped it and exited 0). Any other \
                 signal that would end a process (SIGALRM, SIGPIPE, ...) is caught: no catchable \
                 signal ends redlock while it holds the lock, and redlock never kills the \
                 command because of a signal it got.",
            ),
            Para(
                "In an interactive terminal the command's group is made the terminal's \
                 foreground group, as a shell does for a job: Ctrl-C and Ctrl-\\ reach the \
                 command directly, exactly once, and the command can read the terminal. Ctrl-Z \
                 stops the command and redlock; fg resumes both. While redlock is stopped its \
                 heartbeat is too, so a stop longer than the ttl ends in a lost lock.",
            ),
            Para(
                "While still waiting for the lock, any of those signals but SIGWINCH ends the \
                 wait: any partial hold is undone, the command never runs, one line says so \
                 (not with --quiet), and redlock exits 128 + N: 130 for SIGINT, 143 for SIGTERM.",
            ),
            Para(
                "If redlock itself is killed with SIGKILL, the command gets SIGKILL too (the \
                 Linux parent-death signal), and the lock expires on the servers within its ttl.",
            ),
        ],
    },
    Section {
        title: "TIME LIMITS",
        blocks: &[
            Item(
                "--timeout DUR",
                "A command still running after DUR is stopped as a command whose lock was lost \
                 is (SIGTERM to its group, SIGKILL after --kill-after), the lock is released, \
                 and redlock exits 124, as timeout(1) does.",
            ),
            Item(
                "--min-hold DUR",
                "The lock stays held at least DUR after it was acquired, even when the command \
                 ends sooner: the release then only shortens the lease to what is left of DUR, \
                 and redlock exits at once with the command's status. For a cron job started on \
                 several hosts whose clocks differ a little: with --no-wait --min-hold 5m, a job \
                 that takes a second does not run again on a host whose clock is behind.",
            ),
        ],
    },
    Section {
        title: "SHARING A LOCK WITH SERVICES",
        blocks: &[
            Para(
                "With --classic (or REDLOCK_CLASSIC=1), the lock is the plain string key NAME \
                 (--prefix P makes it PNAME, but only when a prefix is given), its value the \
                 token: what every Redlock library takes (redlock-py, the redlock package, \
                 redsync, node-redlock, redis-py's Lock). A service locking NAME with one of \
                 them and redlock run --classic -r NAME exclude each other. The heartbeat, lock \
                 loss, --timeout, --min-hold, re-entry and REDLOCK_FENCE work as usual among \
                 redlock's own processes, through keys under the prefix that the libraries \
                 never read; a library's hold takes no fence. Waiters queue among themselves; \
                 a library does not queue and may take the lock ahead of them. A library's \
                 release wakes the waiters through keyspace notifications where the servers \
                 send them (notify-keyspace-events with K, g and x), else they look again at \
                 least once a second and at its expiry. --limit and --shared are usage errors \
                 with --classic.",
            ),
        ],
    },
];
