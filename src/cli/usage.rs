//! Usage errors in the user's words: a bad value from the environment names the variable it
//! came from (not a flag the user never typed), a space-separated server list is told to use
//! commas, and a typo gets the suggestion clap's own similarity test misses (docs/operator.md,
//! "Errors name what you wrote").

use std::ffi::OsString;

use clap::builder::StyledStr;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Command, CommandFactory};

use crate::cli::args::Cli;

/// `err` as the user should read it: reworded where it names a flag the user never typed,
/// with a tip where clap has none.
pub fn improve(err: clap::Error, argv: &[OsString]) -> clap::Error {
    let words: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match err.kind() {
        ErrorKind::ValueValidation | ErrorKind::InvalidValue => from_environment(err, &words),
        ErrorKind::InvalidSubcommand => subcommand_typo(err),
        ErrorKind::UnknownArgument => argument_typo(err, &words),
        ErrorKind::MissingRequiredArgument => options_after_command(err, &words),
        _ => err,
    }
}

fn context(err: &clap::Error, kind: ContextKind) -> Option<String> {
    match err.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => v.first().cloned(),
        _ => None,
    }
}

/// The subcommand the user named, if any (the first word that is one).
fn subcommand(words: &[String]) -> Option<&'static str> {
    let cmd = Cli::command();
    let names: Vec<&'static str> = ["run", "acquire", "extend", "release", "inspect", "completions"]
        .into_iter()
        .filter(|n| cmd.find_subcommand(n).is_some())
        .collect();
    words
        .iter()
        .find_map(|w| names.iter().find(|n| **n == w.as_str()).copied())
}

/// The argument behind clap's `--ttl <DUR>` (or `-t`), in the subcommand or the globals.
fn find_arg(cmd: &Command, shown: &str) -> Option<clap::Arg> {
    let flag = shown.split([' ', '=']).next().unwrap_or(shown);
    let matches = |a: &clap::Arg| {
        flag.strip_prefix("--").is_some_and(|l| a.get_long() == Some(l))
            || flag
                .strip_prefix('-')
                .and_then(|s| s.chars().next())
                .is_some_and(|c| flag.len() == 2 && a.get_short() == Some(c))
    };
    cmd.get_arguments()
        .chain(cmd.get_subcommands().flat_map(Command::get_arguments))
        .find(|a| matches(a))
        .cloned()
}

/// Whether the user typed `arg` on the command line (`--ttl X`, `--ttl=X`, `-t X`, `-tX`).
fn typed(arg: &clap::Arg, words: &[String]) -> bool {
    let before_command = words.iter().take_while(|w| *w != "--");
    before_command.into_iter().any(|w| {
        arg.get_long()
            .is_some_and(|l| *w == format!("--{l}") || w.starts_with(&format!("--{l}=")))
            || arg
                .get_short()
                .is_some_and(|c| w.starts_with('-') && !w.starts_with("--") && w.chars().nth(1) == Some(c))
    })
}

/// A bad value: from a variable, `REDLOCK_TTL=abc: 'abc' is not a duration …`; an empty
/// variable, named as set but empty; a server list with spaces, told to use commas.
fn from_environment(err: clap::Error, words: &[String]) -> clap::Error {
    let (Some(shown), Some(value)) = (
        context(&err, ContextKind::InvalidArg),
        context(&err, ContextKind::InvalidValue),
    ) else {
        return err;
    };
    let cmd = Cli::command();
    let Some(arg) = find_arg(&cmd, &shown) else {
        return err;
    };
    let reason =
        std::error::Error::source(&err).map_or_else(|| "invalid value".to_string(), |s| s.to_string());
    let servers = arg.get_id() == "servers";
    let commas = if servers && value.trim().contains(char::is_whitespace) {
        "; separate several servers with commas, not spaces (redis://a:6379,redis://b:6379)"
    } else {
        ""
    };
    let env = arg
        .get_env()
        .map(|e| e.to_string_lossy().into_owned())
        .filter(|e| std::env::var_os(e).is_some() && !typed(&arg, words));
    let message = match env {
        Some(var) => {
            let raw = std::env::var_os(&var).unwrap_or_default();
            if raw.to_string_lossy().trim().is_empty() {
                let default = arg
                    .get_default_values()
                    .first()
                    .map(|d| format!(" to use the default ({})", d.to_string_lossy()))
                    .unwrap_or_default();
                format!("{var} is set but empty; unset it{default} or give it a value")
            } else {
                let raw = crate::engine::server::redact_text(&raw.to_string_lossy());
                format!("{var}={raw}: {reason}{commas}")
            }
        }
        None if !commas.is_empty() => format!("invalid value '{value}' for '{shown}': {reason}{commas}"),
        None => return err,
    };
    let sub = subcommand(words);
    let mut cmd = cmd;
    let target = match sub.and_then(|s| cmd.find_subcommand_mut(s)) {
        Some(c) => c.clone(),
        None => cmd,
    };
    let mut target = target.bin_name(match sub {
        Some(s) => format!("redlock {s}"),
        None => "redlock".into(),
    });
    target.error(ErrorKind::ValueValidation, message)
}

/// `redlock rnu`: clap's similarity test finds nothing that close; an edit or a swap of two
/// letters away is close enough to suggest.
fn subcommand_typo(mut err: clap::Error) -> clap::Error {
    if err.get(ContextKind::SuggestedSubcommand).is_some() {
        return err;
    }
    let Some(typed) = context(&err, ContextKind::InvalidSubcommand) else {
        return err;
    };
    let cmd = Cli::command();
    let best = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .map(|name| (edit_distance(&typed, &name), name))
        .filter(|(d, name)| *d <= 2 && *d < name.len())
        .min();
    if let Some((_, name)) = best {
        err.insert(
            ContextKind::SuggestedSubcommand,
            ContextValue::Strings(vec![name]),
        );
    }
    err
}

/// `acquire --timeout 5s` means `--wait`, not the `--op-timeout` clap would suggest.
fn argument_typo(mut err: clap::Error, words: &[String]) -> clap::Error {
    let Some(flag) = context(&err, ContextKind::InvalidArg) else {
        return err;
    };
    let flag = flag.split('=').next().unwrap_or(&flag).to_string();
    let waits = matches!(subcommand(words), Some("acquire"))
        && matches!(flag.as_str(), "--timeout" | "--time-out" | "--wait-timeout");
    if waits {
        err.insert(ContextKind::SuggestedArg, ContextValue::String("--wait".into()));
        err.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(vec![StyledStr::from(
                "to give up when the lock is still held after a time, use --wait DUR (e.g. --wait 5s)",
            )]),
        );
    }
    err
}

/// `redlock run echo hi -r x`: the command started at `echo`, so `-r x` went to it. Say that
/// `run`'s options come before the command.
fn options_after_command(mut err: clap::Error, words: &[String]) -> clap::Error {
    if subcommand(words) != Some("run") {
        return err;
    }
    let Some(run) = Cli::command().find_subcommand("run").cloned() else {
        return err;
    };
    // The command starts at `--` or at the first word after `run` that is not an option or
    // an option's value.
    let mut rest = words.iter().skip_while(|w| *w != "run").skip(1).peekable();
    let mut after: Vec<&String> = vec![];
    while let Some(w) = rest.next() {
        if w == "--" {
            return err;
        }
        if w.starts_with('-') {
            let attached = w.contains('=') || (w.len() > 2 && !w.starts_with("--"));
            let takes_value = !attached && find_arg(&run, w).is_some_and(|a| a.get_action().takes_values());
            if takes_value {
                rest.next();
            }
            continue;
        }
        after.extend(rest);
        break;
    }
    let misplaced: Vec<&str> = after
        .iter()
        .filter(|w| find_arg(&run, w).is_some())
        .map(|w| w.as_str())
        .collect();
    if misplaced.is_empty() {
        return err;
    }
    err.insert(
        ContextKind::Suggested,
        ContextValue::StyledStrs(vec![StyledStr::from(format!(
            "{} came after the command, so it went to the command: run's options belong \
             before the command (redlock run -r NAME [OPTIONS] -- COMMAND [ARGS]...)",
            misplaced.join(", ")
        ))]),
    );
    err
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbours (`rnu` → `run` is 1) each count 1.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_and_single_edits_are_one_step() {
        assert_eq!(edit_distance("rnu", "run"), 1);
        assert_eq!(edit_distance("inspcet", "inspect"), 1);
        assert_eq!(edit_distance("relase", "release"), 1);
        assert_eq!(edit_distance("run", "run"), 0);
        assert_eq!(edit_distance("xyz", "run"), 3);
    }

    #[test]
    fn typed_flags_are_found_in_every_form() {
        let cmd = Cli::command();
        let ttl = find_arg(&cmd, "--ttl <DUR>").expect("--ttl");
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(typed(&ttl, &words(&["acquire", "--ttl", "5"])));
        assert!(typed(&ttl, &words(&["acquire", "--ttl=5"])));
        assert!(typed(&ttl, &words(&["acquire", "-t5"])));
        assert!(!typed(&ttl, &words(&["acquire", "-r", "x"])));
        assert!(!typed(&ttl, &words(&["run", "-r", "x", "--", "sleep", "--ttl"])));
    }
}
