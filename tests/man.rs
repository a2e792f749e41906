//! The man pages a person reads on a host with only the package installed: every page has the
//! sections of flock(1) and rg(1); ENVIRONMENT names every variable `--help` shows and every one
//! the code reads; EXIT STATUS lists exactly the codes of that command in the code's one table;
//! SYNOPSIS shows value placeholders and `--`; redlock-run(1), redlock-inspect(1) and
//! redlock-acquire(1) explain what the contract says they must. These read the checked-in
//! `man/` (what ships); `tests/generated.rs` proves it is what the code renders.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

use support::procs;
use support::redis::RedisServer;

const QUICK: Duration = Duration::from_secs(30);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The page of `sub` (`None`: redlock.1) as roff source.
fn roff(sub: Option<&str>) -> String {
    let name = match sub {
        Some(sub) => format!("redlock-{sub}.1"),
        None => "redlock.1".to_string(),
    };
    fs::read_to_string(root().join("man").join(&name)).unwrap_or_else(|e| panic!("man/{name}: {e}"))
}

/// Roff source as a reader sees the words: font changes and escapes gone.
fn plain(roff: &str) -> String {
    roff.replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\-", "-")
        .replace("\\*(Aq", "'")
        .replace("\\\\", "\\")
}

/// The body of section `title` (`.SH TITLE` or `.SH "TITLE"`), up to the next section.
fn section(roff: &str, title: &str) -> Option<String> {
    let mut lines = roff.lines();
    lines.find(|l| {
        let heading = l.strip_prefix(".SH ").map(|h| h.trim_matches('"'));
        heading == Some(title)
    })?;
    Some(
        lines
            .take_while(|l| !l.starts_with(".SH "))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Every subcommand with a page, from the binary's own help.
fn subcommands() -> Vec<String> {
    let mut subs: Vec<String> = fs::read_dir(root().join("man"))
        .expect("man/")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("redlock-")?
                .strip_suffix(".1")
                .map(str::to_string)
        })
        .collect();
    subs.sort();
    assert!(subs.len() >= 6, "{subs:?}");
    subs
}

fn pages() -> Vec<Option<String>> {
    std::iter::once(None)
        .chain(subcommands().into_iter().map(Some))
        .collect()
}

#[test]
fn every_page_has_the_sections_a_reader_looks_for() {
    for sub in pages() {
        let page = roff(sub.as_deref());
        for title in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "EXIT STATUS",
            "ENVIRONMENT",
            "EXAMPLES",
            "SEE ALSO",
        ] {
            let body =
                section(&page, title).unwrap_or_else(|| panic!("{} has no {title} section", name(&sub)));
            assert!(!body.trim().is_empty(), "{}: {title} is empty", name(&sub));
        }
        assert_eq!(
            page.matches(".ds Aq").count(),
            2,
            "{}: the roff preamble once (.ie/.el), not once per part",
            name(&sub)
        );
    }
}

fn name(sub: &Option<String>) -> String {
    match sub {
        Some(s) => format!("redlock-{s}(1)"),
        None => "redlock(1)".into(),
    }
}

/// The `REDLOCK_*` variables `redlock [SUB] --help` shows (`[env: REDLOCK_X=…]`).
fn help_variables(sub: Option<&str>) -> BTreeSet<String> {
    let mut cmd = procs::redlock();
    cmd.args(sub).arg("--help");
    let out = procs::run(&mut cmd, QUICK);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    variables(&out.stdout)
}

fn variables(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("REDLOCK_") && w.len() > "REDLOCK_".len())
        .map(str::to_string)
        .collect()
}

fn environment(sub: Option<&str>) -> String {
    plain(&section(&roff(sub), "ENVIRONMENT").expect("an ENVIRONMENT section"))
}

/// The names ENVIRONMENT defines (its `.TP` terms), not the ones its text mentions.
fn defined(sub: Option<&str>) -> BTreeSet<String> {
    let env = section(&roff(sub), "ENVIRONMENT").expect("an ENVIRONMENT section");
    let lines: Vec<&str> = env.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0] == ".TP")
        .map(|w| plain(w[1]).trim().to_string())
        .collect()
}

#[test]
fn environment_names_every_variable_that_help_shows_and_no_color() {
    for sub in pages() {
        let sub = sub.as_deref();
        let defined = defined(sub);
        for var in help_variables(sub) {
            assert!(
                defined.contains(&var),
                "redlock {} --help shows {var}; its man page's ENVIRONMENT does not",
                sub.unwrap_or("")
            );
        }
        assert!(
            defined.contains("NO_COLOR"),
            "{sub:?}: NO_COLOR is not in ENVIRONMENT"
        );
    }
}

#[test]
fn run_page_lists_the_variables_the_command_gets() {
    let env = environment(Some("run"));
    for var in [
        "REDLOCK_RESOURCE",
        "REDLOCK_TOKEN",
        "REDLOCK_FENCE",
        "REDLOCK_LIMIT",
        "REDLOCK_MODE",
    ] {
        assert!(
            defined(Some("run")).contains(var),
            "redlock-run(1) ENVIRONMENT lacks {var}:\n{env}"
        );
    }
    assert!(env.contains("Set for the command"), "{env}");
}

/// Every `"REDLOCK_…"` name in the source, read with clap's `env` or `std::env`, is in the
/// main page's ENVIRONMENT: a variable read outside clap (such as one added for a new
/// feature) cannot go undocumented.
#[test]
fn main_page_names_every_variable_the_code_reads() {
    let mut found = BTreeSet::new();
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("src/").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = fs::read_to_string(&path).expect("a source file");
                for piece in text.split('"').skip(1).step_by(2) {
                    if piece.starts_with("REDLOCK_")
                        && piece.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    {
                        found.insert(piece.to_string());
                    }
                }
            }
        }
    }
    // Set by build.rs at compile time (the version line); never read at run time.
    found.remove("REDLOCK_LONG_VERSION");
    // A prefix the keeper matches on, not a variable; and what `acquire` hands the keeper it
    // starts (never set by a user: docs/keeper.md).
    found.remove("REDLOCK_");
    found.retain(|v| !v.starts_with("REDLOCK_KEEP_"));
    assert!(found.contains("REDLOCK_SERVERS"), "{found:?}");
    let defined = defined(None);
    let missing: Vec<&String> = found.iter().filter(|v| !defined.contains(*v)).collect();
    assert!(
        missing.is_empty(),
        "redlock(1) ENVIRONMENT lacks {missing:?}: add them in src/cli/man/environment.rs"
    );
}

/// The codes a page's EXIT STATUS lists (`128 + N` and "the command's own" aside).
fn listed_codes(sub: Option<&str>) -> BTreeSet<i32> {
    let body = section(&roff(sub), "EXIT STATUS").expect("an EXIT STATUS section");
    let lines: Vec<&str> = body.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0] == ".TP")
        .flat_map(|w| {
            plain(w[1])
                .split(", ")
                .filter_map(|c| c.trim().parse::<i32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn exit_status_lists_exactly_the_codes_of_that_command() {
    for sub in pages() {
        let sub = sub.as_deref();
        let table: BTreeSet<i32> = redlock::cli::exit::rows_for(sub)
            .flat_map(|row| row.codes.iter().copied())
            .collect();
        assert_eq!(
            listed_codes(sub),
            table,
            "{sub:?}: EXIT STATUS and exit.rs disagree"
        );
    }
    let codes = |sub| listed_codes(Some(sub)).into_iter().collect::<Vec<_>>();
    assert_eq!(
        codes("completions"),
        [0, 2],
        "completions never talks to a server"
    );
    for sub in ["extend", "release", "inspect"] {
        assert_eq!(codes(sub), [0, 1, 2, 69], "{sub}");
    }
    assert_eq!(codes("acquire"), [0, 1, 2, 69, 75, 130, 143]);
    assert_eq!(codes("run"), [0, 1, 2, 69, 70, 75, 124, 126, 127, 130, 143]);
    assert!(plain(&roff(Some("run"))).contains("the command's own"));
    assert!(!plain(&roff(Some("acquire"))).contains("the command's own"));
}

#[test]
fn synopsis_shows_value_placeholders_and_the_double_dash() {
    let synopsis = |sub| plain(&section(&roff(sub), "SYNOPSIS").expect("a SYNOPSIS"));
    let run = synopsis(Some("run"));
    for needle in [
        "redlock run [GLOBAL OPTIONS] -r NAME",
        "[-w DUR | -n]",
        "[--timeout DUR]",
        "[--kill-after DUR]",
        "[--] COMMAND [ARGS]...",
        "-c STRING",
    ] {
        assert!(
            run.contains(needle),
            "redlock-run(1) SYNOPSIS lacks {needle:?}:\n{run}"
        );
    }
    let main = synopsis(None);
    for needle in [
        "[-s URL]...",
        "[--connect-timeout DUR]",
        "[--tls-ca FILE]",
        "COMMAND",
    ] {
        assert!(
            main.contains(needle),
            "redlock(1) SYNOPSIS lacks {needle:?}:\n{main}"
        );
    }
    let release = synopsis(Some("release"));
    assert!(
        release.contains("-r NAME [--classic] --token T") && release.contains("-r NAME --force"),
        "{release}"
    );
    assert!(synopsis(Some("completions")).contains("SHELL"));
}

fn assert_mentions(sub: &str, needles: &[&str]) {
    let page = plain(&roff(Some(sub)));
    let flat = page.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in needles {
        assert!(flat.contains(needle), "redlock-{sub}(1) does not say {needle:?}");
    }
}

#[test]
fn run_page_explains_heartbeat_loss_signals_queue_and_limits() {
    assert_mentions(
        "run",
        &[
            ".SH HEARTBEAT",
            "every ttl/3",
            ".SH \"LOCK LOSS\"",
            "SIGTERM to the command's whole process group",
            "SIGKILL",
            "--kill-after",
            "exits 70",
            ".SH SIGNALS",
            "forwarded to the command's process group, once each",
            "128 + N: 130 for SIGINT, 143 for SIGTERM",
            ".SH \"WAITING AND THE QUEUE\"",
            "first come, first served",
            "redlock: waiting for lock",
            "ahead of you",
            "--timeout DUR",
            "exits 124",
            "--min-hold DUR",
        ],
    );
}

#[test]
fn inspect_page_explains_verdicts_columns_and_json() {
    assert_mentions(
        "inspect",
        &[
            ".SH VERDICTS",
            "free",
            "held by TOKEN",
            "held (k of N slots)",
            "shared by k",
            "split",
            "unknown",
            ".SH COLUMNS",
            "SERVER",
            "STATUS",
            "HOLDS",
            "LEFT",
            "FENCE",
            "SINCE",
            "WAITING SINCE",
            ".SH JSON",
        ],
    );
}

#[test]
fn acquire_page_explains_the_keeper() {
    assert_mentions(
        "acquire",
        &[
            ".SH \"THE KEEPER\"",
            "renews the lease every ttl/3",
            "owner",
            "--owner PID",
            "--no-keep",
            "SIGTERM",
            "REDLOCK_TOKEN",
        ],
    );
}

/// Every field `inspect --json` prints, at any depth, is named in redlock-inspect(1)'s JSON
/// section: taken from a real document, so a new field cannot go unexplained.
#[test]
fn inspect_page_names_every_json_field() {
    let server = RedisServer::start();
    let inner = format!(
        "{bin} -s {url} inspect -r m --json && {bin} -s {url} inspect --json",
        bin = env!("CARGO_BIN_EXE_redlock"),
        url = server.url()
    );
    let out = procs::run(
        procs::redlock().args(["-s", &server.url(), "run", "-r", "m", "-c", &inner]),
        QUICK,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut keys = BTreeSet::new();
    let stream = serde_json::Deserializer::from_str(&out.stdout).into_iter::<serde_json::Value>();
    for doc in stream {
        collect_keys(&doc.expect("inspect printed JSON"), &mut keys);
    }
    assert!(keys.contains("holder") && keys.contains("locks"), "{keys:?}");
    let json = plain(&section(&roff(Some("inspect")), "JSON").expect("a JSON section"));
    let words: BTreeSet<&str> = json
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    let missing: Vec<&String> = keys.iter().filter(|k| !words.contains(k.as_str())).collect();
    assert!(
        missing.is_empty(),
        "redlock-inspect(1) JSON does not name {missing:?}"
    );
}

fn collect_keys(value: &serde_json::Value, keys: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                keys.insert(k.clone());
                collect_keys(v, keys);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_keys(v, keys)),
        _ => {}
    }
}
