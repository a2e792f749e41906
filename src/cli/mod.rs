//! What the user types and sees: the clap definition, its resolution into the engine's
//! settings, the one table of exit codes, the inspect table and JSON, and the generated
//! completion scripts and man pages. Nothing here talks to a server.

pub mod args;
pub mod complete;
pub mod config;
pub mod exit;
pub mod keep;
pub mod man;
pub mod messages;
pub mod output;
pub mod table;
pub mod usage;
pub mod values;
pub mod words;
