//! Every runnable example in README.md is run here, and every transcript it shows is compared
//! with what the binary really prints, so the README cannot drift from the binary.
//!
//! The convention, by the info string of a fenced code block in README.md:
//!
//! - ` ```sh `: a runnable example. Each block is written to a file and run with `sh -e` (dash
//!   on Debian: POSIX shell, no bashisms), bounded at 30 s, in a fresh temporary directory, with
//!   `REDLOCK_SERVERS` pointing at a 3-instance test cluster (emptied before each block), the
//!   `redlock` under test first on PATH, `HOME` inside the temporary directory, and the
//!   placeholder programs of [`STUBS`]. Its stderr goes to the same pipe as its stdout, as on a
//!   terminal. It must exit 0, and its output must show no usage error and no "not found"
//!   (which a background job's failure would otherwise hide). A block that shows a non-zero
//!   exit is written so that the block still succeeds: `redlock run -n … || echo "busy: exit
//!   $?"`; one that starts a job with `&` collects it with `wait $!` where the job must succeed.
//! - ` ```text output `: a checked transcript, the output (stdout and stderr, interleaved as
//!   printed) of the ` ```sh ` block just before it. It is compared line by line with the real
//!   output after [`normalise`] has replaced what differs from run to run (tokens, pids, times,
//!   durations) on both sides; the real output first gets the README's host name and ports
//!   ([`README_HOST`], [`README_PORTS`]) in place of this machine's and the cluster's. A
//!   mismatch fails with a diff. GitHub shows it as a plain `text` block.
//! - ` ```sh norun `: shell that cannot run here: installing, starting servers on fixed ports,
//!   the fresh-machine commands (`scripts/demo`, `scripts/test`), files under /etc.
//! - ` ```text `, ` ```yaml `, ` ```json `, ` ```sql `: synopses, crontab lines, CI files, SQL,
//!   and transcripts this test cannot reproduce (a password, TLS, a unix socket, a frozen
//!   server), copied from real runs and said to be so in their lead-in; never run or compared.
//!   tests/tls_auth.rs and tests/run_faults.rs run those cases. A plain ` ```text ` block right
//!   after a ` ```sh ` block (nothing but blank lines between) fails the test: it looks like
//!   that block's output, so it must be ` ```text output ` and checked.
//!
//! Any other info string (`bash`, `console`, none…) fails the test, so a shell example cannot
//! slip in unrun. A command a block calls that is neither a real tool (sh, coreutils,
//! redis-cli, jq, flock) nor one of the stubs fails that block with 127.
//!
//! More tests: the links of README.md, CONTRIBUTING.md and docs/*.md (every relative file link
//! exists, every `#anchor` names a heading of its file), the ```json examples of
//! docs/inspect.md (where the README's JSON schema link goes) have exactly the fields
//! `inspect --json` prints, and the README's one exit-code table lists the codes of the man
//! page's EXIT STATUS (generated from the code's table), so the two cannot drift.

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
/// Fewer checked transcripts than this means transcripts were switched off, not fixed.
const MIN_CHECKED: usize = 8;
/// Info strings a fenced block may have.
const RUN: &str = "sh";
const OUTPUT: &str = "text output";
const NORUN: &[&str] = &["sh norun", "text", "yaml", "json", "sql"];
/// The host name and the ports of the three instances the README's transcripts show (the
/// tour starts its servers on these ports); the real output is rewritten to them.
const README_HOST: &str = "vm";
const README_PORTS: [u16; 3] = [6381, 6382, 6383];
/// The last line of every usage error clap prints (exit 2).
const USAGE_ERROR: &str = "For more information, try '--help'";
/// The command the README runs to show exit 127.
const MISSING_ON_PURPOSE: &str = "./no-such-script.sh";
/// Real tools the examples use besides POSIX sh and coreutils; checked up front so that a
/// missing one is reported as such, not as a broken example.
const TOOLS: &[&str] = &["redis-cli", "jq", "flock"];

/// The placeholder programs the examples call, and what each does. `bin/` ones go on PATH,
/// `./` ones into the block's working directory. Each succeeds; `./deploy.sh` takes 2 s, so
/// that a deployment is seen running; `psql` also checks that the fence reached it (an
/// example that expanded `$REDLOCK_FENCE` in the wrong shell passes an empty one).
const STUBS: &[(&str, &str)] = &[
    ("./report", "#!/bin/sh\nexit 0\n"),
    ("./deploy.sh", "#!/bin/sh\nsleep 2\n"),
    ("./migrate", "#!/bin/sh\nexit 0\n"),
    ("./backup.sh", "#!/bin/sh\nexit 0\n"),
    ("./run-tests.sh", "#!/bin/sh\nexit 0\n"),
    ("./reset-test-env.sh", "#!/bin/sh\nexit 0\n"),
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

/// One fenced code block: where it starts and ends (1-based lines of the opening and closing
/// fences), its info string, and its lines with the fence's indentation removed.
#[derive(Debug)]
struct Block {
    line: usize,
    end: usize,
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
                        end: i + 1,
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

/// A runnable block and the transcript that shows its output, if any.
struct Example<'a> {
    block: &'a Block,
    transcript: Option<&'a Block>,
}

/// Pairs every ```sh block with the ```text output block after it; `Err` lists the blocks
/// that break the convention (an output with no ```sh block before it, or a plain ```text
/// block that looks like a block's output).
fn examples<'a>(text: &str, blocks: &'a [Block]) -> Result<Vec<Example<'a>>, Vec<String>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut examples: Vec<Example> = Vec::new();
    let mut wrong = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| &blocks[p]);
        let after_sh = previous.filter(|p| p.info == RUN);
        if block.info == RUN {
            examples.push(Example {
                block,
                transcript: None,
            });
        } else if block.info == OUTPUT {
            match (after_sh, examples.last_mut()) {
                (Some(_), Some(example)) => example.transcript = Some(block),
                _ => wrong.push(format!(
                    "line {}: a ```{OUTPUT} block must follow the ```{RUN} block whose output it shows",
                    block.line
                )),
            }
        } else if block.info == "text" {
            if let Some(sh) = after_sh {
                let between = &lines[sh.end..block.line - 1];
                if between.iter().all(|l| l.trim().is_empty()) {
                    wrong.push(format!(
                        "line {}: a ```text block right after the ```{RUN} block of line {} looks like its output: mark it ```{OUTPUT} so that it is checked, or say in a sentence between them what it is",
                        block.line, sh.line
                    ));
                }
            }
        }
    }
    if wrong.is_empty() {
        Ok(examples)
    } else {
        Err(wrong)
    }
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

/// What a block printed, once this machine's names are replaced by the README's.
struct Ran {
    took: Duration,
    output: String,
}

/// Runs one block in a fresh directory; `Err` describes how it failed.
fn run_block(block: &Block, cluster: &Cluster) -> Result<Ran, String> {
    let dir = tempfile::Builder::new()
        .prefix("readme")
        .tempdir()
        .expect("creating a temp dir for a README block");
    let (cwd, home) = block_world(dir.path());
    let script = dir.path().join(format!("readme-line-{}.sh", block.line));
    fs::write(&script, &block.body).expect("writing the block");

    // stderr into stdout's pipe, so that the output interleaves as on a terminal.
    let out = procs::run(
        procs::scrubbed("sh")
            .arg("-c")
            .arg("exec sh -e \"$0\" 2>&1")
            .arg(&script)
            .current_dir(&cwd)
            .env("PATH", block_path(dir.path()))
            .env("HOME", &home)
            .env("REDLOCK_SERVERS", cluster.servers_arg()),
        BLOCK_TIMEOUT,
    );
    let rotten = rotten_lines(&out);
    if out.code == Some(0) && rotten.is_empty() {
        Ok(Ran {
            took: out.elapsed,
            output: as_in_readme(&out.stdout, cluster, dir.path()),
        })
    } else {
        Err(format!(
            "README.md line {}: the ```sh block exited {:?} (signal {:?}) after {:?}{}\n--- block ---\n{}--- output ---\n{}{}",
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

/// A block's working directory and HOME inside `dir`, with the [`STUBS`] in place and the
/// checkout's `man/` linked into the working directory.
fn block_world(dir: &Path) -> (PathBuf, PathBuf) {
    let cwd = dir.join("work");
    let home = dir.join("home");
    fs::create_dir_all(&home).expect("creating HOME");
    fs::create_dir_all(&cwd).expect("creating the working directory");
    for (name, text) in STUBS {
        let path = match name.strip_prefix("./") {
            Some(file) => cwd.join(file),
            None => dir.join(name),
        };
        write_executable(&path, text);
    }
    // The examples that install the man pages copy them from a checkout: `man/*.1`.
    let man = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    std::os::unix::fs::symlink(&man, cwd.join("man")).expect("linking man/ into the working directory");
    (cwd, home)
}

/// A block's PATH: the `redlock` under test first, then the `bin/` stubs under `dir`, then
/// the system's.
fn block_path(dir: &Path) -> std::ffi::OsString {
    let bin = Path::new(env!("CARGO_BIN_EXE_redlock"))
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    let mut paths = vec![bin, dir.join("bin")];
    if let Some(system) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&system));
    }
    std::env::join_paths(paths).expect("joining PATH")
}

/// A background job's failure does not fail the block (`wait` returns 0), so also look for
/// the traces of the ways an example rots: a flag that no longer exists (clap's usage error)
/// and a command that does not exist (the shell's or redlock's "not found"), except the one
/// the README runs on purpose to show exit 127.
fn rotten_lines(out: &procs::Out) -> Vec<&str> {
    out.stdout
        .lines()
        .chain(out.stderr.lines())
        .filter(|l| {
            l.contains(USAGE_ERROR)
                || (l.ends_with(": not found") && !l.starts_with("redlock: "))
                || (l.starts_with("redlock: command not") && !l.contains(MISSING_ON_PURPOSE))
        })
        .collect()
}

/// The real output with this machine's names in the README's: the host name becomes
/// [`README_HOST`], the cluster's ports [`README_PORTS`], the block's temp dir `/tmp/readme`.
fn as_in_readme(output: &str, cluster: &Cluster, dir: &Path) -> String {
    let mut text = output.replace(&*dir.to_string_lossy(), "/tmp/readme");
    for (server, port) in cluster.servers.iter().zip(README_PORTS) {
        text = replace_word(
            &text,
            &format!("127.0.0.1:{}", server.port()),
            &format!("127.0.0.1:{port}"),
        );
    }
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    if !host.is_empty() {
        text = replace_word(&text, &host, README_HOST);
    }
    text
}

/// A character that continues a word, a host name or a number.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '.'
}

/// `text` with every occurrence of `from` that is a whole word replaced by `to`.
fn replace_word(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let before = rest[..at].chars().next_back().or(out.chars().next_back());
        let after = rest[at + from.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(is_word) || after.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-') {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

/// Output with what differs from run to run replaced by a placeholder, so that a transcript
/// copied from one run matches any other: 32-hex-digit tokens (`<token>`), RFC 3339 times
/// (`<time>`), clock times like `03:00:41` (`<clock>`), durations like `29s`, `1m 2s`,
/// `0.6ms` (`<dur>`), pids (`pid <pid>`, and the PID column after the host); runs of spaces
/// (table columns, whose widths follow their values) become two spaces; trailing blanks go.
fn normalise(text: &str) -> String {
    let lines: Vec<String> = text.lines().map(normalise_line).collect();
    let mut lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

fn normalise_line(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let at_start = i == 0 || !is_word(chars[i - 1]);
        if at_start {
            let rest = &chars[i..];
            let found = [
                (hex_token(rest), "<token>"),
                (rfc3339(rest), "<time>"),
                (clock(rest), "<clock>"),
                (durations(rest), "<dur>"),
                (host_and_pid(rest), "vm  <pid>"),
            ]
            .into_iter()
            .find_map(|(len, placeholder)| len.map(|n| (n, placeholder)));
            if let Some((len, placeholder)) = found {
                out.push_str(placeholder);
                i += len;
                continue;
            }
            if let Some(len) = prefixed_number(rest, "pid ") {
                out.push_str("pid <pid>");
                i += len;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    let mut collapsed = String::with_capacity(out.len());
    let mut spaces = 0;
    for c in out.trim_end().chars() {
        if c == ' ' {
            spaces += 1;
            continue;
        }
        collapsed.push_str(&" ".repeat(spaces.min(2)));
        spaces = 0;
        collapsed.push(c);
    }
    collapsed
}

/// Whether a match of `len` characters at the start of `s` ends at a word's end.
fn ends_word(s: &[char], len: usize) -> bool {
    s.get(len).is_none_or(|c| !c.is_alphanumeric())
}

fn digits(s: &[char]) -> usize {
    s.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// Matches `pattern`, where `9` stands for any digit and anything else for itself.
fn shape(s: &[char], pattern: &str) -> bool {
    pattern.chars().enumerate().all(|(i, p)| {
        s.get(i)
            .is_some_and(|&c| if p == '9' { c.is_ascii_digit() } else { c == p })
    })
}

fn hex_token(s: &[char]) -> Option<usize> {
    let n = s
        .iter()
        .take_while(|c| c.is_ascii_digit() || ('a'..='f').contains(*c))
        .count();
    (n == 32 && ends_word(s, n)).then_some(n)
}

/// `2026-11-21T23:43:38Z`, with optional fractions of a second.
fn rfc3339(s: &[char]) -> Option<usize> {
    // What people read: the local clock with its offset, `2026-12-06 15:18:11 +01:00`.
    if shape(s, "9999-99-99 99:99:99 +99:99") || shape(s, "9999-99-99 99:99:99 -99:99") {
        return Some(26);
    }
    if !shape(s, "9999-99-99T99:99:99") {
        return None;
    }
    let mut n = 19;
    if s.get(n) == Some(&'.') {
        n += 1 + digits(&s[n + 1..]);
    }
    (s.get(n) == Some(&'Z')).then_some(n + 1)
}

/// `03:00:41`, or with its offset from UTC, `03:00:41 +01:00`.
fn clock(s: &[char]) -> Option<usize> {
    if !shape(s, "99:99:99") || s.get(8).is_some_and(|c| c.is_ascii_digit() || *c == ':') {
        return None;
    }
    let offset = shape(&s[8..], " +99:99") || shape(&s[8..], " -99:99");
    Some(if offset { 15 } else { 8 })
}

/// One duration (`29s`, `1.5s`, `850ms`, `0us`) or several joined by spaces (`1m 2s`).
fn durations(s: &[char]) -> Option<usize> {
    let mut n = duration(s)?;
    while s.get(n) == Some(&' ') {
        match duration(&s[n + 1..]) {
            Some(more) => n += 1 + more,
            None => break,
        }
    }
    Some(n)
}

fn duration(s: &[char]) -> Option<usize> {
    let mut n = digits(s);
    if n == 0 {
        return None;
    }
    if s.get(n) == Some(&'.') && s.get(n + 1).is_some_and(char::is_ascii_digit) {
        n += 1 + digits(&s[n + 1..]);
    }
    ["ms", "us", "µs", "ns", "s", "m", "h", "d"]
        .iter()
        .map(|unit| unit.chars().collect::<Vec<char>>())
        .find(|unit| s[n..].starts_with(unit) && ends_word(s, n + unit.len()))
        .map(|unit| n + unit.len())
}

/// `PREFIX` followed by a number: `pid 4121`.
fn prefixed_number(s: &[char], prefix: &str) -> Option<usize> {
    let p: Vec<char> = prefix.chars().collect();
    if !s.starts_with(&p) {
        return None;
    }
    let n = digits(&s[p.len()..]);
    (n > 0 && ends_word(s, p.len() + n)).then_some(p.len() + n)
}

/// The HOST and PID columns of an inspect table: `vm    18960`.
fn host_and_pid(s: &[char]) -> Option<usize> {
    let host: Vec<char> = README_HOST.chars().collect();
    if !s.starts_with(&host) {
        return None;
    }
    let spaces = s[host.len()..].iter().take_while(|c| **c == ' ').count();
    if spaces < 2 {
        return None;
    }
    let n = digits(&s[host.len() + spaces..]);
    let len = host.len() + spaces + n;
    (n > 0 && ends_word(s, len)).then_some(len)
}

/// A line diff of `expected` against `actual` (longest common subsequence): `  ` same,
/// `- ` only in the README, `+ ` only in the real output.
fn diff(expected: &str, actual: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        }
    }
    out
}

/// Compares a transcript with the real output; `Err` shows the difference.
fn check_transcript(transcript: &Block, ran: &Ran) -> Result<(), String> {
    let (expected, actual) = (normalise(&transcript.body), normalise(&ran.output));
    if expected == actual {
        return Ok(());
    }
    Err(format!(
        "README.md line {}: the ```{OUTPUT} block differs from what its ```sh block printed (after normalising; - README, + real):\n{}--- the real output, to paste ---\n{}",
        transcript.line,
        diff(&expected, &actual),
        ran.output
    ))
}

fn flush(cluster: &Cluster) {
    for server in &cluster.servers {
        let _: () = redis::cmd("FLUSHALL")
            .query(&mut server.conn())
            .unwrap_or_else(|e| panic!("FLUSHALL on {}: {e}\n{}", server.url(), cluster.logs()));
    }
}

#[test]
fn every_sh_block_in_the_readme_runs_and_prints_its_transcript() {
    let (path, text) = readme();
    let blocks = fenced_blocks(&text);

    let unknown: Vec<String> = blocks
        .iter()
        .filter(|b| b.info != RUN && b.info != OUTPUT && !NORUN.contains(&b.info.as_str()))
        .map(|b| format!("line {}: ```{}", b.line, b.info))
        .collect();
    assert!(
        unknown.is_empty(),
        "{}: code blocks must be ```{RUN} (run by this test), ```{OUTPUT} (its output, checked) or one of {NORUN:?}; found:\n{}",
        path.display(),
        unknown.join("\n")
    );
    let examples =
        examples(&text, &blocks).unwrap_or_else(|wrong| panic!("{}:\n{}", path.display(), wrong.join("\n")));
    let missing: Vec<&str> = TOOLS.iter().copied().filter(|t| !on_path(t)).collect();
    assert!(
        missing.is_empty(),
        "the README's examples need {missing:?}: install them (scripts/test does: apt-get install redis-server jq)"
    );

    assert!(
        examples.len() >= MIN_RUNNABLE,
        "only {} runnable ```sh blocks in README.md (expected at least {MIN_RUNNABLE}): were examples marked norun instead of fixed?",
        examples.len()
    );
    let checked = examples.iter().filter(|e| e.transcript.is_some()).count();
    assert!(
        checked >= MIN_CHECKED,
        "only {checked} ```{OUTPUT} transcripts in README.md (expected at least {MIN_CHECKED}): were transcripts turned into plain text instead of fixed?"
    );

    let cluster = Cluster::start(README_PORTS.len());
    let start = Instant::now();
    let mut failures = Vec::new();
    for example in &examples {
        flush(&cluster);
        let line = example.block.line;
        match run_block(example.block, &cluster) {
            Ok(ran) => match example.transcript.map(|t| check_transcript(t, &ran)) {
                Some(Err(failure)) => failures.push(failure),
                Some(Ok(())) => eprintln!("README.md line {line}: ok in {:?}, output as shown", ran.took),
                None => eprintln!("README.md line {line}: ok in {:?}", ran.took),
            },
            Err(failure) => failures.push(failure),
        }
    }
    eprintln!(
        "ran {} ```sh blocks and compared {checked} transcripts in {:?}",
        examples.len(),
        start.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {} README examples failed:\n\n{}\n\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n\n"),
        cluster.logs()
    );
}

#[test]
fn the_normaliser_hides_what_changes_from_run_to_run_and_nothing_else() {
    let a = "vm    18960  2026-11-21T23:43:38Z  held by 3ea7da6476f5e5462697660f51a5c4f9 (vm pid 18960) for 1m 2s, 850ms, 29s; until 03:00:41";
    let b = "vm  7  2027-01-02T03:04:05.678Z  held by 0123456789abcdef0123456789abcdef (vm pid 7) for 3s, 1.5ms, 2h; until 11:22:33";
    assert_eq!(normalise(a), normalise(b));
    assert_eq!(
        normalise(a),
        "vm  <pid>  <time>  held by <token> (vm pid <pid>) for <dur>, <dur>, <dur>; until <clock>"
    );
    // What a transcript is about stays: exit codes, fences, counts, ports, names.
    for kept in [
        "exit 75",
        "fence 2",
        "on 3/3 instances (quorum 2)",
        "redis://127.0.0.1:6381",
        "web-1 sends it",
        "sleep 3",
        "ttl/3",
    ] {
        assert_eq!(normalise(kept), kept);
    }
    assert_ne!(normalise("exit 75"), normalise("exit 69"));
    assert_eq!(replace_word("vm vm-2 avm vm.", "vm", "h"), "h vm-2 avm h.");
    assert_eq!(
        replace_word("127.0.0.1:6381 127.0.0.1:63810", "127.0.0.1:6381", "x"),
        "x 127.0.0.1:63810"
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
        procs::redlock().args(["-s", &servers, "acquire", "--no-keep", "-r", "deploy-prod"]),
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

/// The codes a cell of an exit-code table names: `126 / 127` and `126, 127` are two codes;
/// `128 + N` is one; a row about the command's own status is `the command's own`.
fn codes_in(cell: &str) -> Vec<String> {
    cell.replace('`', "")
        .split(['/', ','])
        .map(str::trim)
        .filter(|code| !code.is_empty())
        .map(|code| {
            if code.contains("command") {
                "the command's own".to_string()
            } else {
                code.to_string()
            }
        })
        .collect()
}

#[test]
fn readme_has_one_exit_code_table_and_it_lists_the_man_pages_codes() {
    let (_, text) = readme();
    const HEADER: &str = "| code | meaning |";
    let tables = text.lines().filter(|l| l.trim() == HEADER).count();
    assert_eq!(
        tables, 1,
        "README.md should hold exactly one exit-code table (a `{HEADER}` header), under `## Exit codes`; found {tables}"
    );
    let section = text
        .split("\n## Exit codes\n")
        .nth(1)
        .expect("README.md has a `## Exit codes` section");
    let readme: BTreeSet<String> = section
        .lines()
        .skip_while(|l| l.trim() != HEADER)
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .flat_map(|row| codes_in(row.trim_start_matches('|').split('|').next().unwrap_or("")))
        .collect();

    let man_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/redlock.1");
    let man_text =
        fs::read_to_string(&man_path).unwrap_or_else(|e| panic!("reading {}: {e}", man_path.display()));
    let exit_status: Vec<&str> = man_text
        .lines()
        .skip_while(|l| *l != ".SH \"EXIT STATUS\"")
        .skip(1)
        .take_while(|l| !l.starts_with(".SH"))
        .collect();
    assert!(
        !exit_status.is_empty(),
        "{} has no EXIT STATUS section",
        man_path.display()
    );
    let man: BTreeSet<String> = exit_status
        .windows(2)
        .filter(|pair| pair[0] == ".TP")
        .flat_map(|pair| {
            codes_in(
                &pair[1]
                    .replace("\\fB", "")
                    .replace("\\fI", "")
                    .replace("\\fR", "")
                    .replace("\\-", "-"),
            )
        })
        .collect();

    assert!(
        readme == man,
        "README.md's exit-code table and man/redlock.1's EXIT STATUS list different codes:\nonly in the README: {:?}\nonly in the man page: {:?}\n(the man page is generated from the code's table: fix the README, or the code and then scripts/generate)",
        readme.difference(&man).collect::<Vec<_>>(),
        man.difference(&readme).collect::<Vec<_>>()
    );
}
