//! What redlock-inspect(1) says beyond the options: the verdicts, the columns and the JSON
//! fields (docs/inspect.md has them at length, with transcripts).

use super::prose::{Block, Block::*, Section};

/// Appended to DESCRIPTION.
pub const DESCRIPTION: &[Block] = &[Para(
    "With -r NAME, inspect reads the lock from every instance and prints one row per \
         instance, then the verdict, then the holders of a --limit or --shared resource, then \
         the queue when anyone waits. Without -r, it lists every lock under the prefix, found \
         on every instance with SCAN (never KEYS), one line each with its verdict. It changes \
         nothing, and exits 0 when a quorum answered, whatever the verdict.",
)];

pub const SECTIONS: &[Section] = &[
    Section {
        title: "VERDICTS",
        blocks: &[
            Item("free", "A quorum answered and none of them has a holder."),
            Item(
                "held by TOKEN (HOST pid PID) on k/N instances (quorum q), expires in DUR",
                "One token holds the lock on at least a quorum. \"expires in\" is how long a \
                 quorum keeps it: the q-th longest time left among the instances that hold it.",
            ),
            Item(
                "held by another client (value 'V') on k/N instances (quorum q), expires in DUR",
                "With --classic: another client (a Redlock library, or anything that set the \
                 plain key NAME) holds it on a quorum, its value V. The libraries record nothing \
                 else: no host, pid, command or fence.",
            ),
            Item(
                "held (k of N slots)",
                "k tokens each hold a --limit N slot on a quorum; the holders table follows.",
            ),
            Item(
                "shared by k",
                "k tokens each hold a --shared hold on a quorum; the holders table follows.",
            ),
            Item(
                "split",
                "A quorum answered, someone holds the lock somewhere, and no token has a \
                 quorum; the line lists what each instance says. Nobody holds the lock: a key \
                 set by hand, a lease that expired on some instances only, or a holder that \
                 crashed while acquiring looks like this, and the leftovers expire with their \
                 leases.",
            ),
            Item(
                "unknown",
                "Fewer than a quorum answered, so nobody can say; inspect prints what it saw \
                 and exits 69.",
            ),
            Para("Holds on fewer than a quorum of instances count for nothing."),
        ],
    },
    Section {
        title: "COLUMNS",
        blocks: &[
            Para("inspect -r NAME has one row per instance:"),
            Item("SERVER", "The instance's URL, with any password shown as ***."),
            Item(
                "STATUS",
                "ok, or the error that instance gave (the row ends there).",
            ),
            Item(
                "TOKEN",
                "The holder's token there; (free) when nobody holds it there; (k of N slots) or \
                 (shared by k) for a --limit or --shared resource, whose holders follow in a \
                 table of their own.",
            ),
            Item(
                "HOLDS",
                "The hold count: 1, plus one for each re-entry with the same token.",
            ),
            Item("LEFT", "The time left of the lease on that instance."),
            Item("FENCE", "The holder's fencing token (REDLOCK_FENCE)."),
            Item(
                "HOST, PID",
                "Where the holder runs: for run, the redlock run process; for acquire, the \
                 process that called it (its owner).",
            ),
            Item("SINCE", "When the holder first acquired the lock."),
            Item(
                "COMMAND",
                "The holder's command line, at most 200 characters, with passwords and other \
                 secrets masked.",
            ),
            Para(
                "The holders table of a --limit or --shared resource has one row per hold on a \
                 quorum, oldest first, with its token, on how many instances it holds (ON) and \
                 the facts above; its heading names the mode. The queue table, first in line \
                 first, has PLACE (1 is next), HOST, PID, WAITING SINCE, MODE (exclusive, shared \
                 or limit) and COMMAND. The listing without -r has a row per instance (SERVER, \
                 STATUS, LOCKS: how many of the listed locks it holds), then one per lock: \
                 RESOURCE, VERDICT and QUEUE (how many wait).",
            ),
            Para(
                "Colours are used only when standard output is a terminal and NO_COLOR is not \
                 set: the verdict is green when free, yellow when held, red when split or \
                 unknown. Text that comes from the servers (host, command, key names) has any \
                 control character replaced by ?, so a planted value cannot rewrite your \
                 terminal.",
            ),
        ],
    },
    Section {
        title: "JSON",
        blocks: &[
            Para(
                "--json prints one JSON document on standard output, with the same exit codes. \
                 Durations are integers in milliseconds, times are RFC 3339 in UTC. A field \
                 that does not apply is null, never missing; field names keep their meaning, \
                 and new ones may be added. inspect -r NAME --json prints a lock:",
            ),
            Item("resource", "The lock's name."),
            Item(
                "state, summary",
                "free, held, split or unknown (held also for slots and shared holds), and the \
                 verdict line as the table prints it.",
            ),
            Item(
                "n, quorum, answered",
                "Instances configured, N/2 + 1, and how many answered.",
            ),
            Item(
                "mode, limit",
                "exclusive, shared or limit, and N (1 for exclusive and shared); null unless \
                 held.",
            ),
            Item(
                "holders",
                "Every hold on a quorum, oldest first, each a holder with held_on (on how many \
                 instances); empty unless held.",
            ),
            Item(
                "token, held_on, expires_in_ms, holder",
                "The exclusive holder on a quorum: its token, on how many instances, how long a \
                 quorum keeps it, and its holder record (null and 0 otherwise).",
            ),
            Item(
                "tokens",
                "Every token seen, as {token, held_on}, most instances first.",
            ),
            Item(
                "instances",
                "One per --server, in order: server, reachable, error, holder (the exclusive \
                 lock there), holds (the --limit slots or --shared holds there) and last_fence \
                 (the last fence it handed out for the resource).",
            ),
            Item(
                "queue",
                "The waiters, first in line first: place, token, host, pid, command, \
                 waiting_since and mode.",
            ),
            Item(
                "unreadable",
                "The fields of a record that could not be read (a value out of range, not a \
                 number, not UTF-8): shown as unreadable rather than guessed.",
            ),
            Item(
                "keepers",
                "The holds a keeper renews (redlock acquire without --no-keep), each as token, \
                 host, keeper_pid, owner_pid and owner_command; empty when none, null in the \
                 listing.",
            ),
            Para(
                "A holder record has token, count, host, pid, command, since, ttl_ms, \
                 time_left_ms, fence and other_client: true for another client's hold of a \
                 --classic lock (a Redlock library's), of which only the token (the key's \
                 value) and time_left_ms are known. inspect --json without -r prints a listing: prefix, n, \
                 quorum, answered, servers (each with server, reachable, error and locks) and \
                 locks (the locks as above, sorted by resource).",
            ),
        ],
    },
];
