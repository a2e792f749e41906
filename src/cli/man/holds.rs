//! What redlock-extend(1) and redlock-release(1) say beyond the options: which hold they act
//! on, and what they do to another token's lock (README, "Shell scripts: acquire and release";
//! the rule is stated here in full, for a reader who has only the man pages).

use super::prose::{Block, Block::*};

/// Appended to redlock-extend(1)'s DESCRIPTION.
pub const EXTEND: &[Block] = &[Para(
    "redlock extend renews the lease of the hold whose token it is given (--token, or \
     REDLOCK_TOKEN as redlock acquire's caller exports it) on a quorum of instances, to --ttl \
     from now; a renewal never shortens a lease that has longer left. It exits 0, or 1 with a \
     message when that token does not hold the lock (it expired, was released or was broken, \
     or a keeper lost it, and the message says when and why). A hold kept by acquire's keeper \
     needs no extend; a --no-keep hold does, before its lease runs out.",
)];

/// Appended to redlock-release(1)'s DESCRIPTION.
pub const RELEASE: &[Block] = &[
    Para(
        "redlock release --token T (or REDLOCK_TOKEN) drops one hold of that token: the hold \
         count goes down by one, and the lock is free when it reaches 0. It is sent to every \
         instance and done once a quorum confirmed it. It never touches a lock held by another \
         token: it exits 1 with a message saying who holds it. Releasing a hold kept by \
         acquire's keeper ends the keeper too.",
    ),
    Para(
        "redlock release --force breaks the lock whoever holds it, every hold of the resource \
         (each --limit slot and --shared hold too), and prints each one it broke: an operator's \
         tool for a stuck lock. A redlock run whose lock is broken this way stops its command \
         and exits 70.",
    ),
];
