//! A workload's watchdog: a livelock shows as "timed out" in the table instead of a hang.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::procs::kill_children;

/// Past `limit` it kills every child, again every 50 ms until dropped (a worker may spawn one
/// more before it looks), and `expired()` tells the workload to stop starting new ones.
pub struct Watchdog {
    expired: Arc<AtomicBool>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Watchdog {
    pub fn start(what: &str, limit: Duration) -> Watchdog {
        let expired = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let (flag, what) = (Arc::clone(&expired), what.to_string());
        let thread = thread::spawn(move || {
            if stopped.recv_timeout(limit) != Err(RecvTimeoutError::Timeout) {
                return;
            }
            flag.store(true, Ordering::SeqCst);
            eprintln!("bench: {what}: still running after {limit:?}; stopping it");
            loop {
                kill_children();
                if stopped.recv_timeout(Duration::from_millis(50)) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
            }
        });
        Watchdog {
            expired,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn expired(&self) -> bool {
        self.expired.load(Ordering::SeqCst)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
