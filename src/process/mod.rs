//! Process control behind `run` (unix only): spawning and reaping the command in its own
//! process group, the terminal, the stop ladder, and signals as events. It reports facts (how
//! the command ended, why it could not start); the exit codes they mean are cli/exit.rs's.

pub mod child;
pub mod keeper;
pub mod kept;
pub mod ladder;
pub mod owner;
pub mod signals;
mod terminal;

#[cfg(test)]
mod child_tests;
#[cfg(test)]
mod testing;
