//! The real-world test harness: Redis servers, a fault-injecting proxy, and bounded runs of `redlock`.
#![allow(dead_code)]

pub mod engine;
pub mod libs;
pub mod procs;
pub mod proxy;
pub mod redis;
