//! The contract's safety properties 1–5 and 7, on real redis-server instances, through the
//! library: exclusion, validity, undo, token guard, fan-out, fencing; and faults.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use redlock::cli::{exit, messages};
use redlock::engine::error::LockError;
use redlock::engine::lock::Attempt;
use redlock::engine::settings::Wait;
use redlock::engine::wait;
use redlock::engine::wakeup::Wakeup;
use support::engine::{acquire, holder_token, locker, plant, request};
use support::proxy::Proxy;
use support::redis::{Cluster, RedisServer};

const TTL: Duration = Duration::from_secs(10);

#[test]
fn eight_threads_never_overlap_and_lose_no_increment() {
    let cluster = Cluster::start(3);
    let urls = cluster.urls();
    let inside = Arc::new(AtomicBool::new(false));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let counter = Arc::new(std::sync::Mutex::new(0u64));
    const THREADS: usize = 8;
    const ROUNDS: usize = 15;
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (urls, inside, overlaps, counter) = (
                urls.clone(),
                Arc::clone(&inside),
                Arc::clone(&overlaps),
                Arc::clone(&counter),
            );
            thread::spawn(move || {
                let locker = locker(&urls);
                let wakeup = Wakeup::new();
                for i in 0..ROUNDS {
                    let req = request("counter", &format!("t{t}-{i}"), TTL);
                    let lease = wait::acquire(
                        &locker,
                        &req,
                        Wait::For(Duration::from_secs(60)),
                        &wakeup,
                        &mut |_| {},
                    )
                    .expect("acquire within 60s");
                    if inside.swap(true, Ordering::SeqCst) {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    // A deliberately non-atomic read-sleep-write: the sleep gives an overlap
                    // time to lose an update.
                    let seen = *counter.lock().unwrap();
                    thread::sleep(Duration::from_millis(1));
                    *counter.lock().unwrap() = seen + 1;
                    inside.store(false, Ordering::SeqCst);
                    let released = locker.release("counter", &lease.token, Duration::ZERO);
                    assert!(
                        released.released >= 2,
                        "released where it held a quorum: {released:?}"
                    );
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker panicked");
    }
    assert_eq!(overlaps.load(Ordering::SeqCst), 0, "two holders overlapped");
    assert_eq!(*counter.lock().unwrap(), (THREADS * ROUNDS) as u64);
}

#[test]
fn a_quorum_is_enough_when_one_instance_is_held_by_another_token() {
    let cluster = Cluster::start(3);
    plant(&mut cluster.servers[0].conn(), "undo", "someone-else", 10_000);
    let locker = locker(&cluster.urls());
    let lease = acquire(&locker, &request("undo", "mine", TTL));
    assert!(!lease.reentered);
    assert_eq!(
        holder_token(&mut cluster.servers[0].conn(), "undo").as_deref(),
        Some("someone-else")
    );
    for s in &cluster.servers[1..] {
        assert_eq!(holder_token(&mut s.conn(), "undo").as_deref(), Some("mine"));
    }
}

#[test]
fn a_failed_attempt_leaves_nothing_of_ours_behind() {
    let cluster = Cluster::start(3);
    plant(&mut cluster.servers[0].conn(), "undo", "someone-else", 10_000);
    plant(&mut cluster.servers[2].conn(), "undo", "someone-else", 10_000);
    let locker = locker(&cluster.urls());
    match locker
        .try_acquire(&request("undo", "mine", TTL))
        .expect("answered")
    {
        Attempt::Acquired(_) => panic!("acquired with only 1 of 3"),
        Attempt::Busy(busy) => {
            let h = busy.holder.expect("a holder is named");
            assert_eq!(h.token, "someone-else");
            assert_eq!(busy.held_on, 2);
        }
    }
    // The free instance granted it for a moment; the undo took it back.
    assert_eq!(holder_token(&mut cluster.servers[1].conn(), "undo"), None);
    assert_eq!(
        holder_token(&mut cluster.servers[0].conn(), "undo").as_deref(),
        Some("someone-else")
    );
}

#[test]
fn a_ttl_shorter_than_the_acquisition_is_a_failure_not_a_success() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.addr());
    proxy.set_delay(Duration::from_millis(20));
    let locker = locker(&[proxy.url()]);
    // 40 ms round trip against a 30 ms lease: a quorum answers, but with no validity left.
    let err = match locker.try_acquire(&request("short", "mine", Duration::from_millis(30))) {
        Ok(Attempt::Acquired(l)) => panic!("acquired with validity {:?}", l.validity()),
        Ok(Attempt::Busy(b)) => panic!("busy: {}", b.describe("short")),
        // As a command returns it: the CLI's code and message come from it.
        Err(e) => anyhow::Error::from(e),
    };
    assert_eq!(messages::code_of(&err), exit::FAILURE);
    // The engine states the fact; the CLI's message names the flag to change.
    let err = redlock::cli::messages::explain(err);
    assert!(err.to_string().contains("use a longer --ttl"), "{err}");
    assert_eq!(
        holder_token(&mut server.conn(), "short"),
        None,
        "the undo released it"
    );
}

#[test]
fn release_and_extend_with_a_wrong_token_change_nothing() {
    let cluster = Cluster::start(3);
    let locker = locker(&cluster.urls());
    let lease = acquire(&locker, &request("guard", "right", TTL));
    let released = locker.release("guard", "wrong", Duration::ZERO);
    assert_eq!(released.released, 0);
    assert_eq!(released.others.len(), 3);
    let err = locker
        .extend("guard", "wrong", Duration::from_secs(60), None)
        .expect_err("not the holder");
    assert!(matches!(err, LockError::NotHolder { .. }), "{err}");
    for s in &cluster.servers {
        assert_eq!(holder_token(&mut s.conn(), "guard").as_deref(), Some("right"));
        let pttl: i64 = redis::cmd("PTTL")
            .arg("redlock:lock:guard")
            .query(&mut s.conn())
            .unwrap();
        assert!(
            pttl <= 10_000,
            "the wrong token's extend did not lengthen the lease"
        );
    }
    let forced = locker.force_release("guard");
    assert_eq!(forced.holders.len(), 3);
    assert_eq!(forced.holders[0].token, lease.token);
    for s in &cluster.servers {
        assert_eq!(holder_token(&mut s.conn(), "guard"), None);
    }
}

#[test]
fn extend_renews_the_lease_for_the_holder() {
    let cluster = Cluster::start(3);
    let locker = locker(&cluster.urls());
    acquire(&locker, &request("renew", "me", Duration::from_secs(2)));
    let extended = locker
        .extend("renew", "me", Duration::from_secs(60), None)
        .expect("extend");
    // The round ends at a quorum; the third renewal still lands, just not awaited.
    assert!(extended.renewed >= 2);
    for s in &cluster.servers {
        let mut conn = s.conn();
        support::procs::wait_until("the renewal on every instance", Duration::from_secs(2), || {
            redis::cmd("PTTL")
                .arg("redlock:lock:renew")
                .query::<i64>(&mut conn)
                .unwrap()
                > 50_000
        });
    }
}

#[test]
fn reentry_needs_as_many_releases_as_acquisitions() {
    let cluster = Cluster::start(3);
    let locker = locker(&cluster.urls());
    let first = acquire(&locker, &request("nest", "me", TTL));
    let second = acquire(&locker, &request("nest", "me", TTL));
    assert!(!first.reentered && second.reentered);
    assert_eq!(second.count, 2);
    assert_eq!(second.fence, first.fence, "a re-entry keeps the holder's fence");
    let r = locker.release("nest", "me", Duration::ZERO);
    assert_eq!((r.released, r.remaining), (3, 1));
    assert!(matches!(
        locker.try_acquire(&request("nest", "other", TTL)).unwrap(),
        Attempt::Busy(_)
    ));
    let r = locker.release("nest", "me", Duration::ZERO);
    assert_eq!((r.released, r.remaining), (3, 0));
    acquire(&locker, &request("nest", "other", TTL));
}

#[test]
fn fifty_successive_holders_get_strictly_increasing_fences() {
    let mut cluster = Cluster::start(3);
    let urls = cluster.urls();
    let reversed: Vec<String> = urls.iter().rev().cloned().collect();
    let mut last = 0;
    for i in 0..50 {
        if i == 25 {
            // One instance of three comes back empty: its counter restarts at 0.
            cluster.servers[1].restart();
        }
        // Every other holder lists the servers in another order.
        let locker = locker(if i % 2 == 0 { &urls } else { &reversed });
        let lease = acquire(&locker, &request("fenced", &format!("holder-{i}"), TTL));
        assert!(
            lease.fence > last,
            "holder {i}: fence {} after {last}",
            lease.fence
        );
        last = lease.fence;
        locker.release("fenced", &lease.token, Duration::ZERO);
    }
}

#[test]
fn a_fence_is_written_back_so_the_next_quorum_sees_it() {
    // Counters that drifted apart (restarts, partial holds): 10 / 3 / 3.
    let cluster = Cluster::start(3);
    for (s, c) in cluster.servers.iter().zip([10, 3, 3]) {
        redis::cmd("SET")
            .arg("redlock:fence:apart")
            .arg(c)
            .query::<()>(&mut s.conn())
            .unwrap();
    }
    let locker = locker(&cluster.urls());
    // A gets {0, 1}: max(10, 3) + 1.
    plant(&mut cluster.servers[2].conn(), "apart", "blocker", 10_000);
    let a = acquire(&locker, &request("apart", "a", TTL));
    assert_eq!(a.fence, 11);
    locker.release("apart", "a", Duration::ZERO);
    redis::cmd("DEL")
        .arg("redlock:lock:apart")
        .query::<()>(&mut cluster.servers[2].conn())
        .unwrap();
    // B gets {1, 2}, which never saw 10: only the write-back of 11 to instance 1 keeps B above A.
    plant(&mut cluster.servers[0].conn(), "apart", "blocker", 10_000);
    let b = acquire(&locker, &request("apart", "b", TTL));
    assert_eq!(b.fence, 12, "B read A's fence on the instance both quorums share");
}

#[test]
fn one_killed_instance_of_three_does_not_stop_acquire_or_release() {
    let mut cluster = Cluster::start(3);
    cluster.servers[2].kill();
    let locker = locker(&cluster.urls());
    let lease = acquire(&locker, &request("faults", "me", TTL));
    let r = locker.release("faults", &lease.token, Duration::ZERO);
    assert_eq!(r.released, 2);
    assert_eq!(r.failed.len(), 1);
}

#[test]
fn one_stopped_instance_costs_about_the_op_timeout_not_a_hang() {
    let cluster = Cluster::start(3);
    cluster.servers[0].pause();
    let locker = locker(&cluster.urls());
    let t0 = Instant::now();
    let lease = acquire(&locker, &request("stopped", "me", TTL));
    locker.release("stopped", &lease.token, Duration::ZERO);
    // connect 250ms + op 250ms per round at the very worst, for three rounds; a hang
    // would be unbounded.
    assert!(t0.elapsed() < Duration::from_secs(3), "took {:?}", t0.elapsed());
    cluster.servers[0].resume();
}

#[test]
fn two_of_three_down_is_unavailable_at_once() {
    let mut cluster = Cluster::start(3);
    cluster.servers[0].kill();
    cluster.servers[1].pause();
    let locker = locker(&cluster.urls());
    let t0 = Instant::now();
    let err = anyhow::Error::from(
        locker
            .try_acquire(&request("down", "me", TTL))
            .err()
            .expect("no quorum"),
    );
    assert!(t0.elapsed() < Duration::from_secs(2), "took {:?}", t0.elapsed());
    assert_eq!(messages::code_of(&err), exit::UNAVAILABLE);
    let msg = err.to_string();
    assert!(msg.contains(&cluster.servers[0].port().to_string()), "{msg}");
    assert!(msg.contains("2 of 3"), "{msg}");
    cluster.servers[1].resume();
    assert_eq!(
        holder_token(&mut cluster.servers[2].conn(), "down"),
        None,
        "the partial hold was undone"
    );
}

#[test]
fn an_acquire_on_five_slow_instances_costs_rounds_not_instances() {
    let servers: Vec<RedisServer> = (0..5).map(|_| RedisServer::start()).collect();
    let proxies: Vec<Proxy> = servers.iter().map(|s| Proxy::start(s.addr())).collect();
    let urls: Vec<String> = proxies.iter().map(Proxy::url).collect();
    let locker = locker(&urls);
    // Load the scripts and open the connections first.
    let warm = acquire(&locker, &request("fanout", "warm", TTL));
    locker.release("fanout", &warm.token, Duration::ZERO);
    for p in &proxies {
        p.set_delay(Duration::from_millis(50));
    }
    let t0 = Instant::now();
    let lease = acquire(&locker, &request("fanout", "me", TTL));
    let took = t0.elapsed();
    // One round trip is 100 ms here: the acquire round and the fence round cost two;
    // asking the five one after another would cost ten.
    assert!(took < Duration::from_millis(300), "acquire took {took:?}");
    assert_eq!(lease.fence, 2);
}

#[test]
fn a_restore_never_shortens_a_longer_lease_either() {
    // restore.lua's "already ours" path, run directly: same rule as extend.lua.
    let server = RedisServer::start();
    let mut conn = server.conn();
    let locker = locker(&[server.url()]);
    acquire(&locker, &request("kept", "me", Duration::from_secs(60)));
    let restore = &redlock::engine::scripts::scripts().restore;
    let done: i64 = redis::cmd("EVAL")
        .arg(&restore.body)
        .arg(4)
        .arg(&[
            "redlock:lock:kept",
            "redlock:fence:kept",
            "redlock:holds:kept",
            "redlock:fenced-by:kept",
        ])
        .arg(&[
            "me",
            "2000",
            "h",
            "1",
            "c",
            "0",
            "1",
            "1",
            "exclusive",
            "1",
            "",
            "redlock:hold:kept#",
        ])
        .query(&mut conn)
        .expect("restore");
    assert_eq!(done, 1);
    let pttl: i64 = redis::cmd("PTTL")
        .arg("redlock:lock:kept")
        .query(&mut conn)
        .unwrap();
    assert!(pttl > 50_000, "a 2s restore shortened the 60s lease to {pttl}ms");
}

#[test]
fn a_renewal_never_shortens_a_longer_lease() {
    // A nested holder (or `extend`) with a shorter ttl must not cut the outer holder's lease.
    let cluster = Cluster::start(3);
    let locker = locker(&cluster.urls());
    acquire(&locker, &request("long", "me", Duration::from_secs(60)));
    locker
        .extend("long", "me", Duration::from_secs(2), None)
        .expect("extend");
    locker.settle();
    for s in &cluster.servers {
        let pttl: i64 = redis::cmd("PTTL")
            .arg("redlock:lock:long")
            .query(&mut s.conn())
            .unwrap();
        assert!(
            pttl > 50_000,
            "the 2s renewal shortened the 60s lease to {pttl}ms"
        );
    }
}

/// Delayed restarts, kept by the client (engine/lock/ask.rs, `distrust_restarted`): a holder
/// on a bare quorum {0, 1} (its key lost on 2) keeps the lock when instance 1 restarts empty,
/// because a newcomer's grant from instance 1, which has remembered the resource for less than
/// the ttl, does not count beside the grant of an instance with an older memory of it. Without that rule the newcomer takes {1, 2}: a second
/// holder while the first still holds instance 0.
#[test]
fn an_instance_restarted_lately_does_not_count_toward_a_newcomers_quorum() {
    let mut cluster = Cluster::start(3);
    let ttl = Duration::from_secs(2);
    let urls = cluster.urls();
    // Every instance's memory of the resource older than the ttl (both holders use 2 s) first:
    // it counts from the first acquisition there, and a first use counts as it is.
    let first = locker(&urls);
    let early = acquire(&first, &request("bare", "anyone", ttl));
    first.release(&early.resource, &early.token, Duration::ZERO);
    // The memory must grow older than the ttl: the time passing is the point.
    thread::sleep(Duration::from_millis(2200));
    acquire(&locker(&urls), &request("bare", "first", ttl));
    redis::cmd("DEL")
        .arg("redlock:lock:bare")
        .query::<()>(&mut cluster.servers[2].conn())
        .expect("DEL");
    cluster.servers[1].restart();
    match locker(&urls)
        .try_acquire(&request("bare", "second", ttl))
        .expect("attempt")
    {
        Attempt::Acquired(lease) => panic!(
            "a second holder on the restarted instance and the free one (fence {}): {}",
            lease.fence,
            cluster.logs()
        ),
        Attempt::Busy(_) => {}
    }
    assert_eq!(
        holder_token(&mut cluster.servers[0].conn(), "bare").as_deref(),
        Some("first")
    );
    assert_eq!(
        holder_token(&mut cluster.servers[2].conn(), "bare"),
        None,
        "the attempt was undone"
    );
    // A resource's first use, where every instance is that young, counts as it is.
    let fresh = Cluster::start(3);
    acquire(&locker(&fresh.urls()), &request("bare", "third", ttl));
}
