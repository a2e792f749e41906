//! The engine: talks to the Redis instances and holds locks on a quorum of them. Returns
//! typed outcomes; never prints, never exits, and never names a flag.

pub mod error;
pub mod heartbeat;
pub mod holder;
pub mod instance;
pub mod keeper;
pub mod listing;
pub mod lock;
pub mod notify;
pub mod quorum;
pub mod scripts;
pub mod secrets;
pub mod server;
pub mod settings;
pub mod state;
pub mod sync;
pub mod trace;
pub mod value;
pub mod wait;
pub mod wakeup;
pub mod wire;
