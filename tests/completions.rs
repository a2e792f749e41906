//! The checked-in completion scripts, loaded into the real shells (bash, with and without
//! bash-completion; fish; zsh through a pseudo-terminal) in a directory that holds one file:
//! `run … -- <TAB>` offers commands, the command's own arguments complete as its own, options
//! taking a duration, a URL or a name offer no file names, and `--tls-ca` still offers files
//! (docs/generated.md, "What the completions complete").
//!
//! A shell that is not installed is reported as SKIPPED, except under `CI=true`, where it is a
//! failure: `scripts/test` installs bash-completion, fish and zsh with apt-get.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::procs;

const SHELL_TIMEOUT: Duration = Duration::from_secs(30);
/// The one file in the directory the shells complete in.
const FILE: &str = "somefile.txt";
/// Options whose value is never a file: durations, URLs, names, tokens, numbers.
const NO_FILES: &[&str] = &[
    "-w",
    "--wait",
    "-t",
    "--ttl",
    "--timeout",
    "--kill-after",
    "--min-hold",
    "--connect-timeout",
    "--op-timeout",
    "-s",
    "--server",
    "--prefix",
    "-r",
    "--resource",
    "--token",
    "-E",
    "-l",
];

fn completions(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("completions")
        .join(file)
}

/// Whether `tool` can be used here; under CI it must be.
fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()));
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is not installed; scripts/test installs it with apt-get (CI=true: no skipping)"
        );
        eprintln!("SKIPPED: {tool} is not installed (scripts/test installs it)");
    }
    found
}

/// A directory with [`FILE`] in it, for the shells to complete file names from.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    fs::write(dir.path().join(FILE), "").expect("writing the file");
    dir
}

/// What bash offers for the last of `words` (the word being completed, maybe empty), calling
/// `_redlock` as `complete -F` does; with bash-completion's library loaded first when `library`.
fn bash(dir: &Path, library: Option<&Path>, words: &[&str]) -> Vec<String> {
    let script = r#"
        [ -n "$LIBRARY" ] && source "$LIBRARY"
        source "$SCRIPT"
        COMP_WORDS=("$@")
        COMP_CWORD=$(( $# - 1 ))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        _redlock redlock "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let out = procs::run(
        procs::scrubbed("bash")
            .args(["--norc", "--noprofile", "-c", script, "bash"])
            .args(words)
            .env("SCRIPT", completions("redlock.bash"))
            .env("LIBRARY", library.map(Path::as_os_str).unwrap_or_default())
            .current_dir(dir),
        SHELL_TIMEOUT,
    );
    // compopt complains outside a real completion ("not currently executing completion
    // function"); the replies are what counts.
    assert_eq!(out.code, Some(0), "bash {words:?}: {}", out.stderr);
    replies(&out.stdout)
}

/// What fish offers for `line` (`complete -C`), the candidates without their descriptions.
fn fish(dir: &Path, line: &str) -> Vec<String> {
    let out = procs::run(
        procs::scrubbed("fish")
            .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
            .arg(completions("redlock.fish"))
            .arg(line)
            .current_dir(dir),
        SHELL_TIMEOUT,
    );
    assert_eq!(out.code, Some(0), "fish {line:?}: {}", out.stderr);
    replies(&out.stdout)
}

/// zsh completes only in an interactive line editor, so this starts one on a pseudo-terminal
/// (zsh/zpty), loads `_redlock` with compinit, presses TAB after `line`, and has `compadd`
/// print what it is given to offer: the technique of zsh-capture-completion.
const ZSH_INIT: &str = r#"
PROMPT=
fpath=($REDLOCK_COMPLETIONS $fpath)
autoload -U compinit && compinit -u -d $ZDOTDIR/.zcompdump
bindkey '^I' complete-word
zstyle ':completion:*' insert-tab false
compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  local -a __hits
  builtin compadd -A __hits "$@"
  local h; for h in $__hits; do print -r -- "HIT:$h"; done
}
comppostfuncs=(__done)
__done() { print -r -- "DONE:"; exit }
"#;

const ZSH_DRIVER: &str = r#"
zmodload zsh/zpty
zpty z "zsh -f -i"
zpty -w z "source ${(q)1}"
zpty -w z "$2"$'\t'
local line
while zpty -r z line; do
  [[ $line == *HIT:* ]] && print -r -- "${${line#*HIT:}%$'\r'}"
  [[ $line == *DONE:* ]] && break
done
zpty -d z
"#;

fn zsh(dir: &Path, line: &str) -> Vec<String> {
    let home = tempfile::tempdir().expect("a ZDOTDIR");
    let init = home.path().join("init.zsh");
    fs::write(&init, ZSH_INIT).expect("writing init.zsh");
    let out = procs::run(
        procs::scrubbed("zsh")
            .args(["-f", "-c", ZSH_DRIVER, "zsh"])
            .arg(&init)
            .arg(line)
            .env("ZDOTDIR", home.path())
            .env("REDLOCK_COMPLETIONS", completions(""))
            .current_dir(dir),
        SHELL_TIMEOUT,
    );
    assert_eq!(out.code, Some(0), "zsh {line:?}: {}", out.stderr);
    replies(&out.stdout)
}

/// The non-empty lines, each up to a tab (fish's description).
fn replies(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn offers(replies: &[String], word: &str) -> bool {
    replies.iter().any(|r| r == word)
}

/// The completion checks, for a shell given as "the replies for this command line".
fn check_shell(name: &str, complete: impl Fn(&[&str]) -> Vec<String>) {
    for option in NO_FILES {
        let got = complete(&["redlock", "run", option, ""]);
        assert!(
            !offers(&got, FILE),
            "{name}: `redlock run {option} <TAB>` offers file names: {got:?}"
        );
    }
    let got = complete(&["redlock", "run", "--tls-ca", ""]);
    assert!(
        offers(&got, FILE),
        "{name}: `--tls-ca <TAB>` should offer files: {got:?}"
    );

    let got = complete(&["redlock", "run", "-r", "x", "--", "ech"]);
    assert!(
        offers(&got, "echo"),
        "{name}: `run -r x -- ech<TAB>` should offer echo: {got:?}"
    );
    assert!(!offers(&got, FILE), "{name}: {got:?}");
    let got = complete(&["redlock", "run", "-r", "x", "--", ""]);
    assert!(
        offers(&got, "echo") && !offers(&got, FILE),
        "{name}: `run -r x -- <TAB>` should offer commands, not files: {} replies",
        got.len()
    );
    let got = complete(&["redlock", "-s", "redis://h", "run", "-w", "5s", "-r", "x", "ech"]);
    assert!(
        offers(&got, "echo"),
        "{name}: the command's first word completes without `--` too: {got:?}"
    );
    // The command's own arguments: what `ls` completes (file names), not redlock's options.
    let got = complete(&["redlock", "run", "-r", "x", "--", "ls", ""]);
    assert!(
        offers(&got, FILE),
        "{name}: `-- ls <TAB>` should offer files: {got:?}"
    );
    // redlock's own options still complete before the command.
    let got = complete(&["redlock", "run", "-r", "x", "--ti"]);
    assert!(offers(&got, "--timeout"), "{name}: `run -r x --ti<TAB>`: {got:?}");
}

#[test]
fn bash_completes_the_command_after_the_double_dash_and_no_files_for_durations() {
    if !have("bash") {
        return;
    }
    let dir = workdir();
    check_shell("bash", |words| bash(dir.path(), None, words));
}

#[test]
fn bash_with_bash_completion_completes_the_command_as_its_own() {
    let library = Path::new("/usr/share/bash-completion/bash_completion");
    if !have("bash") {
        return;
    }
    if !library.is_file() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "bash-completion is not installed; scripts/test installs it (CI=true: no skipping)"
        );
        eprintln!("SKIPPED: bash-completion is not installed");
        return;
    }
    let dir = workdir();
    check_shell("bash with bash-completion", |words| {
        bash(dir.path(), Some(library), words)
    });
}

#[test]
fn fish_completes_the_command_after_the_double_dash_and_no_files_for_durations() {
    if !have("fish") {
        return;
    }
    let dir = workdir();
    check_shell("fish", |words| {
        // fish completes a command line: the last word is the one being completed.
        fish(dir.path(), &words.join(" "))
    });
}

#[test]
fn zsh_completes_the_command_after_the_double_dash_and_no_files_for_durations() {
    if !have("zsh") {
        return;
    }
    let dir = workdir();
    check_shell("zsh", |words| zsh(dir.path(), &words.join(" ")));
}

#[test]
fn the_scripts_parse_in_their_shells() {
    for (shell, file, flag) in [
        ("bash", "redlock.bash", "-n"),
        ("zsh", "_redlock", "-n"),
        ("fish", "redlock.fish", "--no-execute"),
    ] {
        if !have(shell) {
            continue;
        }
        let out = procs::run(
            Command::new(shell).arg(flag).arg(completions(file)),
            SHELL_TIMEOUT,
        );
        assert_eq!(
            out.code,
            Some(0),
            "{shell} {flag} completions/{file}: {}",
            out.stderr
        );
    }
}
