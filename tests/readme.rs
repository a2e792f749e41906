//! Every runnable example in README.md is run here, so the README cannot drift from the binary.
//!
//! The convention, by the info string of a fenced code block in README.md:
//!
//! - ` ```sh `: a runnable example. Each block is written to a file and run with `sh -e` (dash
//!   on Debian: POSIX shell, no bashisms), bounded at 30 s, in a fresh temporary directory, with
//!   `REDLOCK_SERVERS` pointing at a 3-instance test cluster (emptied before each block), the
//!   `redlock` under test first on PATH, `HOME` inside the temporary directory, and the
//!   placeholder programs of [`STUBS`]. It must exit 0, and its stderr must show no usage
//!   error and no "not found" (which a background job's failure would otherwise hide). A block
//!   that shows a non-zero exit is written so that the block still succeeds:
//!   `redlock run -n … || echo "busy: exit $?"`; one that starts a job with `&` collects it with
//!   `wait $!` where the job must succeed.
//! - ` ```sh norun `: shell that cannot run here: installing, starting servers on fixed ports,
//!   the fresh-machine commands (`scripts/demo`, `scripts/test`), files under /etc.
//! - ` ```text `, ` ```yaml `, ` ```json `, ` ```sql `: output, crontab lines, CI files, SQL;
//!   never run. Transcripts that need a server this test does not start (a password, TLS, a
//!   unix socket) are `text` copied from real runs; tests/tls_auth.rs runs those cases.
//!
//! Any other info string (`bash`, `console`, none…) fails the test, so a shell example cannot
//! slip in unrun. A command a block calls that is neither a real tool (sh, coreutils,
//! redis-cli, jq, flock) nor one of the stubs fails that block with 127.
//!
//! Two more tests: the links of README.md, CONTRIBUTING.md and docs/*.md (every relative file
//! link exists, every `#anchor` names a heading of its file), and the ```json examples of
//! docs/inspect.md, where the JSON schema lives, have exactly the fields `inspect --json` prints.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::procs;
use support::redis::Cluster;

/// How long one block may run.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(30);
/// Fewer runnable blocks than this means examples were switched off, not fixed.
const MIN_RUNNABLE: usize = 15;
/// Info strings a fenced block may have.
const RUN: &str = "sh";
const NORUN: &[&str] = &["sh norun", "text", "yaml", "json", "sql"];
/// The last line of every usage error clap prints (exit 2).
const USAGE_ERROR: &str = "For more information, try '--help'";
/// The command the README runs to show exit 127.
const MISSING_ON_PURPOSE: &str = "./no-such-script.sh";
/// Real tools the examples use besides POSIX sh and coreutils; checked up front so that a
/// missing one is reported as such, not as a broken example.
const TOOLS: &[&str] = &["redis-cli", "jq", "flock"];

/// The placeholder programs the examples call, and what each does. `bin/` ones go on PATH,
/// `./` ones into the block's working directory. Each succeeds; `psql` also checks that the
/// fence reached it (an example that expanded `$REDLOCK_FENCE` in the wrong shell passes an
/// empty one).
const STUBS: &[(&str, &str)] = &[
    ("./report", "#!/bin/sh\nexit 0\n"),
    ("./deploy.sh", "#!/bin/sh\nexit 0\n"),
    ("./migrate", "#!/bin/sh\nexit 0\n"),
    (
        "bin/psql",
        "#!/bin/sh\ncase \"$*\" in\n  *fence=[0-9]*) exit 0 ;;\n  *) echo \"psql stub: no fence=N in: $*\" >&2; exit 1 ;;\nesac\n",
    ),
];

fn readme() -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    (path, text)
}

/// One fenced code block: where it starts (1-based line of the opening fence), its info
/// string, and its lines with the fence's indentation removed.
#[derive(Debug)]
struct Block {
    line: usize,
    info: String,
    body: String,
}

/// The fenced blocks of a Markdown text (``` fences, possibly indented inside list items).
fn fenced_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, usize, String, Vec<String>)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match open.as_mut() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some((i + 1, indent, info.trim().to_string(), Vec::new()));
                }
            }
            Some((_, fence_indent, _, body)) => {
                if trimmed == "```" {
                    let (line, _, info, body) = open.take().expect("an open block");
                    blocks.push(Block {
                        line,
                        info,
                        body: body.join("\n") + "\n",
                    });
                } else {
                    let strip = indent.min(*fence_indent);
                    body.push(line[strip..].to_string());
                }
            }
        }
    }
    if let Some((line, ..)) = open {
        panic!("README.md: the code block opened on line {line} is never closed");
    }
    blocks
}

fn write_executable(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false)
}

/// Runs one block in a fresh directory; `Err` describes how it failed.
fn run_block(block: &Block, cluster: &Cluster) -> Result<Duration, String> {
    let dir = tempfile::Builder::new()
        .prefix("readme")
        .tempdir()
        .expect("creating a temp dir for a README block");
    let cwd = dir.path().join("work");
    let home = dir.path().join("home");
    fs::create_dir_all(&home).expect("creating HOME");
    fs::create_dir_all(&cwd).expect("creating the working directory");
    for (name, text) in STUBS {
        let path = match name.strip_prefix("./") {
            Some(file) => cwd.join(file),
            None => dir.path().join(name),
        };
        write_executable(&path, text);
    }
    // The examples that install the man pages copy them from a checkout: `man/*.1`.
    let man = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    std::os::unix::fs::symlink(&man, cwd.join("man")).expect("linking man/ into the working directory");

    let script = dir.path().join(format!("readme-line-{}.sh", block.line));
    fs::write(&script, &block.body).expect("writing the block");

    let bin = Path::new(env!("CARGO_BIN_EXE_redlock"))
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    let mut paths = vec![bin, dir.path().join("bin")];
    if let Some(system) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&system));
    }
    let path = std::env::join_paths(paths).expect("joining PATH");

    let out = procs::run(
        procs::scrubbed("sh")
            .arg("-e")
            .arg(&script)
            .current_dir(&cwd)
            .env("PATH", path)
            .env("HOME", &home)
            .env("REDLOCK_SERVERS", cluster.servers_arg()),
        BLOCK_TIMEOUT,
    );
    // A background job's failure does not fail the block (`wait` returns 0), so also look for
    // the traces of the ways an example rots: a flag that no longer exists (clap's usage error)
    // and a command that does not exist (the shell's or redlock's "not found"), except the one
    // the README runs on purpose to show exit 127.
    let rotten: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| {
            l.contains(USAGE_ERROR)
                || (l.ends_with(": not found") && !l.starts_with("redlock: "))
                || (l.starts_with("redlock: command not") && !l.contains(MISSING_ON_PURPOSE))
        })
        .collect();
    if out.code == Some(0) && rotten.is_empty() {
        Ok(out.elapsed)
    } else {
        Err(format!(
            "README.md line {}: the ```sh block exited {:?} (signal {:?}) after {:?}{}\n--- block ---\n{}--- stdout ---\n{}--- stderr ---\n{}",
            block.line,
            out.code,
            out.signal,
            out.elapsed,
            if rotten.is_empty() {
                String::new()
            } else {
                format!("; a command in it failed (a usage error, or not found): {rotten:?}")
            },
            block.body,
            out.stdout,
            out.stderr
        ))
    }
}

fn flush(cluster: &Cluster) {
    for server in &cluster.servers {
        let _: () = redis::cmd("FLUSHALL")
            .query(&mut server.conn())
            .unwrap_or_else(|e| panic!("FLUSHALL on {}: {e}\n{}", server.url(), cluster.logs()));
    }
}

#[test]
fn every_sh_block_in_the_readme_runs_and_exits_0() {
    let (path, text) = readme();
    let blocks = fenced_blocks(&text);

    let unknown: Vec<String> = blocks
        .iter()
        .filter(|b| b.info != RUN && !NORUN.contains(&b.info.as_str()))
        .map(|b| format!("line {}: ```{}", b.line, b.info))
        .collect();
    assert!(
        unknown.is_empty(),
        "{}: code blocks must be ```{RUN} (run by this test) or one of {NORUN:?}; found:\n{}",
        path.display(),
        unknown.join("\n")
    );
    let missing: Vec<&str> = TOOLS.iter().copied().filter(|t| !on_path(t)).collect();
    assert!(
        missing.is_empty(),
        "the README's examples need {missing:?}: install them (scripts/test does: apt-get install redis-server jq)"
    );

    let runnable: Vec<&Block> = blocks.iter().filter(|b| b.info == RUN).collect();
    assert!(
        runnable.len() >= MIN_RUNNABLE,
        "only {} runnable ```sh blocks in README.md (expected at least {MIN_RUNNABLE}): were examples marked norun instead of fixed?",
        runnable.len()
    );

    let cluster = Cluster::start(3);
    let start = Instant::now();
    let mut failures = Vec::new();
    for block in &runnable {
        flush(&cluster);
        match run_block(block, &cluster) {
            Ok(took) => eprintln!("README.md line {}: ok in {took:?}", block.line),
            Err(failure) => failures.push(failure),
        }
    }
    eprintln!("ran {} ```sh blocks in {:?}", runnable.len(), start.elapsed());
    assert!(
        failures.is_empty(),
        "{} of {} README examples failed:\n\n{}\n\n{}",
        failures.len(),
        runnable.len(),
        failures.join("\n\n"),
        cluster.logs()
    );
}

/// GitHub's anchor for a heading: lower case; letters, digits, `-` and `_` kept; spaces become
/// `-`; everything else dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// A Markdown file's headings (as anchors) and its text outside code blocks.
fn headings_and_prose(text: &str) -> (Vec<String>, String) {
    let mut in_code = false;
    let mut anchors = Vec::new();
    let mut prose = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if let Some(heading) = line.strip_prefix('#') {
            anchors.push(slug(heading.trim_start_matches('#')));
        }
        prose.push_str(line);
        prose.push('\n');
    }
    (anchors, prose)
}

/// The broken links of one Markdown file: a relative link to a file that does not exist, or
/// an `#anchor` (in this file or in another Markdown file) that names no heading.
fn broken_links(file: &Path) -> Vec<String> {
    let read =
        |path: &Path| fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let (anchors, prose) = headings_and_prose(&read(file));
    let dir = file.parent().expect("a file's directory");
    let mut broken = Vec::new();
    for (at, _) in prose.match_indices("](") {
        let rest = &prose[at + 2..];
        let Some(end) = rest.find(')') else { continue };
        let target = &rest[..end];
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
        let headings = if path.is_empty() {
            anchors.clone()
        } else {
            let linked = dir.join(path);
            if !linked.exists() {
                broken.push(format!("{target}: no such file"));
                continue;
            }
            if anchor.is_empty() || !path.ends_with(".md") {
                continue;
            }
            headings_and_prose(&read(&linked)).0
        };
        if !anchor.is_empty() && !headings.iter().any(|a| a == anchor) {
            broken.push(format!("{target}: no such heading (headings: {headings:?})"));
        }
    }
    broken
}

#[test]
fn readme_links_point_at_headings_and_files_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md"), root.join("CONTRIBUTING.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .expect("reading docs/")
        .map(|entry| entry.expect("a docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let broken: Vec<String> = files
        .iter()
        .flat_map(|file| {
            let name = file.strip_prefix(root).unwrap_or(file).display().to_string();
            broken_links(file)
                .into_iter()
                .map(move |b| format!("{name}: {b}"))
        })
        .collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Every key path of a JSON value: object keys joined by `.`, array elements as `[]`.
fn key_paths(value: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                let path = format!("{prefix}.{key}");
                out.insert(path.clone());
                key_paths(v, &path, out);
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                key_paths(v, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// The key paths a JSON text has; panics naming `what` if it does not parse.
fn key_paths_of(text: &str, what: &str) -> BTreeSet<String> {
    let value: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON: {e}\n{text}"));
    let mut paths = BTreeSet::new();
    key_paths(&value, "", &mut paths);
    paths
}

/// The JSON schema lives in docs/inspect.md, with one example of each form; the README links
/// there. Both examples must have exactly the fields the binary prints.
#[test]
fn inspect_json_examples_have_the_fields_of_real_output() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/inspect.md");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let examples: Vec<Block> = fenced_blocks(&text)
        .into_iter()
        .filter(|b| b.info == "json")
        .collect();
    assert_eq!(
        examples.len(),
        2,
        "docs/inspect.md should hold two ```json blocks: the output of `inspect -r NAME --json`, then of `inspect --json`"
    );

    let cluster = Cluster::start(3);
    let servers = cluster.servers_arg();
    let acquired = procs::run(
        procs::redlock().args(["-s", &servers, "acquire", "-r", "deploy-prod"]),
        Duration::from_secs(10),
    );
    assert_eq!(acquired.code, Some(0), "acquire failed: {acquired:?}");
    for (example, args) in examples.iter().zip([
        &["inspect", "-r", "deploy-prod", "--json"][..],
        &["inspect", "--json"][..],
    ]) {
        let inspected = procs::run(
            procs::redlock().args(["-s", &servers]).args(args),
            Duration::from_secs(10),
        );
        assert_eq!(inspected.code, Some(0), "{args:?} failed: {inspected:?}");
        let documented = key_paths_of(
            &example.body,
            &format!("docs/inspect.md line {}: the JSON example", example.line),
        );
        let printed = key_paths_of(&inspected.stdout, &format!("the output of {args:?}"));
        let only_docs: Vec<&String> = documented.difference(&printed).collect();
        let only_binary: Vec<&String> = printed.difference(&documented).collect();
        assert!(
            only_docs.is_empty() && only_binary.is_empty(),
            "docs/inspect.md's JSON example (line {}) and `redlock {}` differ:\nonly in the docs: {only_docs:?}\nonly in the output: {only_binary:?}",
            example.line,
            args.join(" ")
        );
    }
}
