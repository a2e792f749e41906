//! Man pages rendered from the CLI definition: clap_mangen draws NAME, SYNOPSIS, DESCRIPTION
//! and the options from `cli.rs`; we append what clap does not know, as flock(1) and rg(1)
//! have them: EXIT STATUS, ENVIRONMENT, EXAMPLES and SEE ALSO. The checked-in `man/` is this
//! output, and `tests/generated.rs` fails when the two differ.

use clap::CommandFactory;
use clap_mangen::roff::{bold, italic, roman, Roff};

use crate::cli::args::Cli;
use crate::cli::exit::{self, Applies};

/// Variables `run` sets in the command's environment (CONTRACT.md, run step 2).
const RUN_CHILD_ENV: &[(&str, &str)] = &[
    ("REDLOCK_RESOURCE", "Set for the command: the lock's name."),
    (
        "REDLOCK_TOKEN",
        "Set for the command: the holder's token, so a nested redlock run or acquire of the \
         same resource re-enters instead of deadlocking.",
    ),
    (
        "REDLOCK_FENCE",
        "Set for the command: a fencing token, a decimal integer that strictly increases from \
         one holder of the resource to the next. Pass it to the storage you protect, which \
         rejects writes carrying an older fence. Each hold has its own (--limit, --shared): \
         fences strictly increase over all acquisitions of the resource, whatever their mode.",
    ),
    (
        "REDLOCK_MODE",
        "Set for the command: exclusive, shared (--shared) or limit (--limit N with N > 1).",
    ),
    (
        "REDLOCK_LIMIT",
        "Read as --limit N's default; set for the command to N (1 for exclusive and shared holds).",
    ),
];

/// Examples for pages whose command has none in its `--help`.
const EXTEND_EXAMPLES: &[&str] = &["redlock extend -r migrate --token \"$TOKEN\" -t 10m"];
const RELEASE_EXAMPLES: &[&str] = &[
    "redlock release -r migrate --token \"$TOKEN\"",
    "redlock release -r deploy-prod --force   # break a stuck lock; prints who held it",
];

/// Every page as (file name, contents): `redlock.1`, then `redlock-SUBCOMMAND.1`.
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let subs: Vec<String> = root
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect();
    let mut pages = vec![("redlock.1".to_string(), page(&root, None, &subs))];
    for name in &subs {
        if let Some(sub) = root.find_subcommand(name) {
            pages.push((format!("redlock-{name}.1"), page(sub, Some(name), &subs)));
        }
    }
    pages
}

/// One page: clap_mangen's rendering of `cmd` without its after-help text (which becomes
/// EXAMPLES here) and without its VERSION section (the version is in the title line).
fn page(cmd: &clap::Command, sub: Option<&str>, all_subs: &[String]) -> Vec<u8> {
    // Not `cmd.get_version()`, which names the commit: the checked-in pages would change with it.
    let version = env!("CARGO_PKG_VERSION");
    let examples = examples(cmd, sub);
    let env = environment(cmd, sub);
    let stripped = cmd
        .clone()
        .after_help(None::<&str>)
        .after_long_help(None::<&str>)
        .version(None::<&str>)
        .long_version(None::<&str>);
    let man = clap_mangen::Man::new(stripped).source(format!("redlock {version}"));
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = man.render(&mut out);

    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for row in exit::TABLE {
        let listed = match (row.applies, sub) {
            (Applies::All, _) | (Applies::Servers, None) => true,
            (Applies::Servers, Some(name)) => name != "completions",
            (Applies::Only(_), None) => true,
            (Applies::Only(names), Some(name)) => names.contains(&name),
        };
        if listed {
            roff.control("TP", [])
                .text([bold(row.label())])
                .text([roman(row.meaning)]);
        }
    }
    if matches!(sub, None | Some("run")) {
        roff.control("TP", [])
            .text([italic("the command's own")])
            .text([roman(
                "run exits with the command's status, or 128 + N when it died of signal N.",
            )]);
    }

    if !env.is_empty() {
        roff.control("SH", ["ENVIRONMENT"]);
        for (name, text) in env {
            roff.control("TP", []).text([bold(name)]).text([roman(text)]);
        }
    }

    if !examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        roff.control("nf", []).control("RS", ["4"]);
        for line in examples {
            roff.text([roman(line)]);
        }
        roff.control("RE", []).control("fi", []);
    }

    roff.control("SH", ["SEE ALSO"]);
    let mut see: Vec<String> = Vec::new();
    if sub.is_some() {
        see.push("redlock(1)".into());
    }
    see.extend(
        all_subs
            .iter()
            .filter(|s| Some(s.as_str()) != sub)
            .map(|s| format!("redlock-{s}(1)")),
    );
    see.extend(["flock(1)", "timeout(1)", "redis-server(1)"].map(String::from));
    roff.text([roman(see.join(", "))]);
    if sub.is_none() {
        roff.control("PP", []).text([roman(
            "The Redlock algorithm: https://redis.io/docs/latest/develop/use/patterns/distributed-locks/",
        )]);
    }
    out.extend_from_slice(roff.to_roff().as_bytes());
    out
}

/// The indented lines under "Examples:" in the command's help.
fn examples(cmd: &clap::Command, sub: Option<&str>) -> Vec<String> {
    match sub {
        Some("extend") => return EXTEND_EXAMPLES.iter().map(|s| s.to_string()).collect(),
        Some("release") => return RELEASE_EXAMPLES.iter().map(|s| s.to_string()).collect(),
        _ => {}
    }
    let Some(text) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) else {
        return Vec::new();
    };
    text.to_string()
        .lines()
        .skip_while(|l| l.trim() != "Examples:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().to_string())
        .collect()
}

/// The variables this command reads (from its clap definition, so they never drift), then
/// the ones `run` sets for its command.
fn environment(cmd: &clap::Command, sub: Option<&str>) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = Vec::new();
    // The main page lists what every subcommand reads.
    let args = cmd.get_arguments().chain(
        cmd.get_subcommands()
            .filter(|_| sub.is_none())
            .flat_map(|s| s.get_arguments()),
    );
    for arg in args {
        let Some(name) = arg.get_env() else { continue };
        let name = name.to_string_lossy().into_owned();
        if vars.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let flag = arg.get_long().map(|l| format!("--{l}")).unwrap_or_default();
        let mut text = format!("The default for {flag}.");
        if name == "REDLOCK_RECORD_COMMAND" {
            // A flag that turns something off: its variable reads the other way round.
            text = "0 (or false, no, off) records only the program's name next to the lock, as \
                    --no-record-command does; 1, the default, the command line with passwords, \
                    tokens and keys masked."
                .into();
        }
        if name == "REDLOCK_SERVERS" {
            text.push_str(
                " A comma-separated list of URLs; the place for URLs with passwords, which \
                 then never appear on a command line (ps, shell history).",
            );
        }
        if name == "REDLOCK_TOKEN" && sub.is_some_and(|s| s != "run") {
            text.push_str(" Set by redlock run for its command, so nested calls re-enter.");
        }
        vars.push((name, text));
    }
    if matches!(sub, None | Some("run")) {
        for (name, text) in RUN_CHILD_ENV {
            if let Some(v) = vars.iter_mut().find(|(n, _)| n == name) {
                v.1 = format!("{} {text}", v.1);
            } else {
                vars.push((name.to_string(), text.to_string()));
            }
        }
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_table_lists_every_code_in_exit_rs() {
        let codes: Vec<i32> = exit::TABLE
            .iter()
            .flat_map(|row| row.codes.iter().copied())
            .collect();
        for code in [
            exit::OK,
            exit::FAILURE,
            exit::USAGE,
            exit::UNAVAILABLE,
            exit::LOCK_LOST,
            exit::BUSY,
            exit::TIMEOUT,
            exit::NOT_EXECUTABLE,
            exit::NOT_FOUND,
            exit::INTERRUPTED_INT,
            exit::INTERRUPTED_TERM,
        ] {
            assert!(
                codes.contains(&code),
                "exit code {code} is missing from the man pages"
            );
        }
    }

    #[test]
    fn every_page_has_the_sections_the_issue_asks_for() {
        let pages = pages();
        assert!(
            pages.len() >= 7,
            "{:?}",
            pages.iter().map(|p| &p.0).collect::<Vec<_>>()
        );
        for (name, bytes) in pages {
            let text = String::from_utf8(bytes).unwrap();
            for section in [
                ".SH NAME",
                ".SH SYNOPSIS",
                ".SH \"EXIT STATUS\"",
                ".SH ENVIRONMENT",
                ".SH EXAMPLES",
                ".SH \"SEE ALSO\"",
            ] {
                assert!(text.contains(section), "{name} lacks {section}");
            }
        }
    }
}
