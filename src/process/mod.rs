//! Process control behind `run` (unix only): spawning and reaping the command in its own
//! process group, the terminal, the stop ladder, and signals as events.

pub mod child;
pub mod signals;
