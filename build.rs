//! Names the git commit the binary is built from, for `redlock --version`: sets
//! `REDLOCK_GIT_COMMIT` (12 hex digits, or empty when unknown) and `REDLOCK_LONG_VERSION`
//! (`0.1.0 (commit 1a2b3c4d5e6f)`, or just `0.1.0`), which src/cli/args.rs reads with `env!`.
//!
//! Outside a git checkout (a crates.io download, a source tarball, no `git` installed) the commit
//! is unknown and the version is the plain crate version. No `-dirty` mark: a build script is
//! rerun only when a file it names changes, and it cannot name every file of the work tree, so
//! such a mark would go stale.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let commit = env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .and_then(|dir| commit(&dir))
        .unwrap_or_default();
    let long = if commit.is_empty() {
        version
    } else {
        format!("{version} (commit {commit})")
    };
    println!("cargo:rustc-env=REDLOCK_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=REDLOCK_LONG_VERSION={long}");
}

/// The short commit of `dir`'s checkout, after telling cargo which git files to watch.
fn commit(dir: &Path) -> Option<String> {
    // Only a checkout of this crate counts: a copy unpacked inside some other repository (a
    // vendor/ directory, a monorepo) must not claim that repository's commit.
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if fs::canonicalize(top).ok()? != fs::canonicalize(dir).ok()? {
        return None;
    }
    // HEAD changes on checkout; the branch's ref on commit (or packed-refs, once `git gc`
    // packed it). `--git-path` finds them in a linked worktree too. A path that does not
    // exist would make cargo rerun this script on every build, so only existing ones.
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watched.extend(git(dir, &["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", &name]) {
            let path = dir.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    git(dir, &["rev-parse", "--short=12", "HEAD"])
}

/// `git ARGS` in `dir`: its trimmed stdout, or `None` if git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}
