//! Man pages rendered from the CLI definition: clap_mangen draws NAME, DESCRIPTION and the
//! options from `args.rs`; we draw SYNOPSIS with value placeholders (`synopsis.rs`), add each
//! page's own text (`run.rs`, `acquire.rs`, `inspect.rs`, `holds.rs`) and what clap does not
//! know, as flock(1) and rg(1) have it: EXIT STATUS (from `exit.rs`'s one table),
//! ENVIRONMENT, EXAMPLES and SEE ALSO. The checked-in `man/` is this output, and `tests/generated.rs`
//! fails when the two differ.

mod acquire;
mod environment;
mod holds;
mod inspect;
mod prose;
mod run;
mod synopsis;

use clap::CommandFactory;
use clap_mangen::roff::{bold, italic, roman, Roff};
use clap_mangen::Man;

use crate::cli::args::Cli;
use crate::cli::exit;
use prose::{Block, Section};

/// Examples for pages whose command has none in its `--help`.
const EXTEND_EXAMPLES: &[&str] = &["redlock extend -r migrate --token \"$TOKEN\" -t 10m"];
const RELEASE_EXAMPLES: &[&str] = &[
    "redlock release -r migrate --token \"$TOKEN\"",
    "redlock release -r deploy-prod --force   # break a stuck lock; prints who held it",
];

/// The preamble every roff document starts with (the roff crate's): a page has it once.
const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

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

/// The page's own text: what DESCRIPTION gains, and the sections after the options.
fn own_text(sub: Option<&str>) -> (&'static [Block], &'static [Section]) {
    match sub {
        Some("run") => (run::DESCRIPTION, run::SECTIONS),
        Some("acquire") => (acquire::DESCRIPTION, acquire::SECTIONS),
        Some("inspect") => (inspect::DESCRIPTION, inspect::SECTIONS),
        Some("extend") => (holds::EXTEND, &[]),
        Some("release") => (holds::RELEASE, &[]),
        _ => (&[], &[]),
    }
}

/// One page: the title, NAME, DESCRIPTION and options as clap_mangen renders them (without
/// the after-help text, which becomes EXAMPLES here, and the VERSION section: the version is
/// in the title line), our SYNOPSIS, and our sections.
fn page(cmd: &clap::Command, sub: Option<&str>, all_subs: &[String]) -> Vec<u8> {
    // Not `cmd.get_version()`, which names the commit: the checked-in pages would change with it.
    let version = env!("CARGO_PKG_VERSION");
    let stripped = cmd
        .clone()
        .after_help(None::<&str>)
        .after_long_help(None::<&str>)
        .version(None::<&str>)
        .long_version(None::<&str>);
    let man = Man::new(stripped).source(format!("redlock {version}"));
    let (description, sections) = own_text(sub);

    let mut out = String::from(PREAMBLE);
    out.push_str(&mangen(|w| man.render_title(w)));
    out.push_str(&mangen(|w| man.render_name_section(w)));
    let mut roff = Roff::new();
    synopsis::render(&mut roff, cmd, sub);
    out.push_str(&body(&roff));
    out.push_str(&mangen(|w| man.render_description_section(w)));
    let mut roff = Roff::new();
    prose::blocks(&mut roff, description, false);
    out.push_str(&body(&roff));
    out.push_str(&mangen(|w| man.render_options_section(w)));
    if cmd.has_subcommands() {
        out.push_str(&mangen(|w| man.render_subcommands_section(w)));
    }

    let mut roff = Roff::new();
    prose::sections(&mut roff, sections);
    exit_status(&mut roff, sub);
    let env = environment::entries(cmd, sub);
    if !env.is_empty() {
        roff.control("SH", ["ENVIRONMENT"]);
        for (name, text) in env {
            roff.control("TP", []).text([bold(name)]).text([roman(text)]);
        }
    }
    let examples = examples(cmd, sub);
    if !examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        roff.control("nf", []).control("RS", ["4"]);
        for line in examples {
            roff.text([roman(line)]);
        }
        roff.control("RE", []).control("fi", []);
    }
    see_also(&mut roff, sub, all_subs);
    out.push_str(&body(&roff));
    out.into_bytes()
}

/// What one of clap_mangen's `render_*` methods writes, without the preamble.
fn mangen(render: impl Fn(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = render(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    text.strip_prefix(PREAMBLE).map(str::to_string).unwrap_or(text)
}

/// Our own roff, rendered with apostrophes handled as clap_mangen's are, without the preamble.
fn body(roff: &Roff) -> String {
    mangen(|w| roff.to_writer(w))
}

/// EXIT STATUS: only the codes this command can return, from the one table in `exit.rs`.
fn exit_status(roff: &mut Roff, sub: Option<&str>) {
    roff.control("SH", ["EXIT STATUS"]);
    for row in exit::rows_for(sub) {
        roff.control("TP", [])
            .text([bold(row.label())])
            .text([roman(row.meaning)]);
    }
    if exit::passes_status_through(sub) {
        roff.control("TP", [])
            .text([italic("the command's own")])
            .text([roman(
                "run exits with the command's status, or 128 + N when it died of signal N.",
            )]);
    }
}

fn see_also(roff: &mut Roff, sub: Option<&str>, all_subs: &[String]) {
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
    roff.control("PP", []).text([roman(
        "The README and the documents under docs/ (installed in /usr/share/doc/redlock/ by the \
         Debian package) tell the rest, with examples.",
    )]);
    if sub.is_none() {
        roff.control("PP", []).text([roman(
            "The Redlock algorithm: https://redis.io/docs/latest/develop/use/patterns/distributed-locks/",
        )]);
    }
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
