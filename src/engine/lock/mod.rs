//! The lock itself: acquire (with fencing, and undo everywhere on failure), extend, release,
//! force release and read, each one round of one atomic script per instance. One file a job:
//!
//! - [`decider`]: the resource's instance order, and which instance decides (no split votes)
//! - [`acquire`]: one attempt, from asking the instances to a quorum of grants or giving way
//! - [`conclude`]: an attempt's outcome: a fenced lease, or an undo and busy or unavailable
//! - [`ask`]: one round of the acquire script, and what its grants count for
//! - [`argv`]: what the acquire and restore scripts are asked, by name
//! - [`fence`]: the fence a lease gets, and whether it must be written back first
//! - [`renew`]: extending a lease, and taking back instances that lost it
//! - [`release`]: releasing one hold, breaking a lock, reading it
//! - [`queue`]: the waiters' queue: joining, renewing, leaving, and whose turn it is
//! - [`replies`]: what the scripts answer, decoded into one type per script
//! - [`slots`]: holds beside the exclusive lock: `--limit N` slots, and N mismatches
//! - [`undo`]: giving back what a failed attempt took, and telling busy from unavailable
//!
//! Key layout (all under the prefix P, `redlock:` by default):
//!   P lock:NAME      hash {token, count, host, pid, cmd, since, ttl, fence, pending}, expires
//!                    with the lease; fence is 0 until the holder finished acquiring, pending
//!                    the fence this instance handed out when it was taken
//!   P fence:NAME     the last fence this instance handed out for NAME; never expires
//!   P released:NAME  pub/sub channel; a release or force release publishes on it
//!   P undone:NAME    pub/sub channel nobody listens to: where a failed attempt's undo "publishes"
//!   P queue:NAME     sorted set of waiting tokens by arrival (microseconds, that instance's clock)
//!   P qinfo:NAME     hash token -> 'expires_ms|host|pid|since_ms|mode|cmd', each waiter's record
//!   P qexp:NAME      sorted set token -> expires_ms: renewals drop a few lapsed waiters each
//!                    (never a walk over the queue); a waiter that died is also dropped when it
//!                    reaches the head, as it no longer listens on its channel
//!   P wake:NAME:T    pub/sub channel of waiter T: a release tells the waiters whose turn it is
//!   P hold:NAME#ID   a hold other than the exclusive lock, a hash as the lock's: ID is the slot
//!                    (0..N-1) of a `--limit N` hold, `r:TOKEN` for a `--shared` one
//!   P holds:NAME     hash: mode ('shared' or 'limit'), limit (N), and t:TOKEN -> ID for each of
//!                    those holds; expires no sooner than any of them
//!   P fenced-by:NAME the token the fence counter's last value went to (fence claims)
//!   P data-since:NAME since when this instance remembers NAME (unix ms, written by its first
//!                    acquisition there; never expires): a grant from an instance that has
//!                    remembered it for less than the ttl may come from one restarted empty
//!
//! `--classic` (see [`Keys::classic`]): the lock is the plain string key NAME (with the prefix
//! only when one was given), its value the token, as every Redlock library takes it; the side
//! hash P classic:NAME plays P lock:NAME's part beside it, the queue and wake-up channels are
//! those of the resource `classic:NAME`, and P fence:NAME is the resource's one counter. The
//! scripts' classic forms (scripts/classic_*.lua) keep the plain key in step with the hash.

mod acquire;
mod argv;
mod ask;
mod conclude;
mod decider;
mod fence;
mod locker;
mod queue;
mod release;
mod renew;
mod replies;
mod slots;
mod undo;

pub use crate::engine::holder::Busy;
pub use decider::Approach;
pub use locker::{Attempt, Keys, Lease, Locker, Mode, Request};
pub use queue::{Place, REGISTRATION};
pub use release::{Forced, Released};
pub use renew::Extended;
