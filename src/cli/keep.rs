//! The hidden `redlock __keep` command line: what `acquire` hands the keeper it starts. Not
//! part of [`crate::cli::args::Cli`], so no help, completion or man page shows it; people never
//! type it. Secrets travel in the environment, not here, where `ps` would show them: the
//! server URLs (`REDLOCK_SERVERS`, with their passwords) and the token (`REDLOCK_TOKEN`).

use std::time::Duration;

use clap::{Args, Parser};

use crate::cli::args::GlobalArgs;
use crate::cli::values::{parse_positive_duration, parse_resource, parse_token};

#[derive(Debug, Parser)]
#[command(
    name = "redlock __keep",
    disable_help_flag = true,
    disable_version_flag = true
)]
pub struct KeepCli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(flatten)]
    pub keep: KeepArgs,
}

/// The lease to keep and whom for.
#[derive(Debug, Args)]
pub struct KeepArgs {
    #[arg(long, value_parser = parse_resource)]
    pub resource: String,

    #[arg(long, env = "REDLOCK_TOKEN", hide_env_values = true, value_parser = parse_token)]
    pub token: String,

    #[arg(long, value_parser = parse_positive_duration)]
    pub ttl: Duration,

    /// `exclusive`, `shared` or `limit`.
    #[arg(long)]
    pub mode: String,

    #[arg(long, default_value_t = 1)]
    pub limit: u32,

    /// Which hold of the resource: '' for the exclusive lock, the slot, `r:TOKEN`.
    #[arg(long, default_value = "", env = "REDLOCK_KEEP_HOLD", hide_env_values = true)]
    pub hold: String,

    #[arg(long)]
    pub fence: u64,

    /// When the hold was first acquired, unix ms.
    #[arg(long)]
    pub since: u64,

    /// When the lease's validity ends, in CLOCK_MONOTONIC nanoseconds.
    #[arg(long)]
    pub valid_until_ns: u64,

    /// The owner's pid and start time (/proc/PID/stat field 22).
    #[arg(long)]
    pub owner: u32,
    #[arg(long)]
    pub owner_start: u64,

    /// `--classic`: the classic key's prefix ('' unless one was given), as `Settings::classic`.
    #[arg(long)]
    pub classic_key_prefix: Option<String>,

    /// The command line the holder record shows (the owner's), for restoring an instance.
    #[arg(long, env = "REDLOCK_KEEP_CMD", default_value = "")]
    pub cmd: String,
}
