//! Helpers for the unit tests of `process/`: programs to spawn and bounded waits.

use std::ffi::OsString;
use std::io;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::process::child::{Child, Exit, Program};

/// Every wait in these tests is bounded by this.
pub const BOUND: Duration = Duration::from_secs(10);

pub fn argv(words: &[&str]) -> Program {
    Program::Argv(words.iter().map(OsString::from).collect())
}

pub fn shell(script: &str) -> Program {
    Program::Shell(script.to_owned())
}

pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A waiter thread for `child`: how it ended arrives on the returned channel.
pub fn watch(child: &Child) -> mpsc::Receiver<io::Result<Exit>> {
    let (tx, rx) = mpsc::channel();
    child
        .spawn_waiter(move |exit| {
            let _ = tx.send(exit);
        })
        .expect("waiter thread");
    rx
}
