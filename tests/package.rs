//! `scripts/package` builds what a fleet installs: a .deb and a tarball. This runs it once and
//! looks inside both the way dpkg, the shells and a person would (`dpkg-deb -x` and `-f`,
//! `tar -t`), and runs lintian on the .deb when the machine has it.
//!
//! It packages the debug binary the suite has already built (`REDLOCK_PACKAGE_BIN`), so
//! `cargo test` never pays for a release build; the script's own `cargo build --release` is
//! exercised by running it by hand (CONTRIBUTING.md, "Packaging"). Without `dpkg-deb` (not a
//! Debian-like machine) the tests that need it print SKIPPED and pass, except under `CI=true`,
//! where that is a failure (`scripts/test` installs dpkg when missing).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use support::procs;

/// `cargo metadata`, stripping the debug binary and xz-compressing it.
const PACKAGE_TIMEOUT: Duration = Duration::from_secs(300);
/// Lintian unpacks and checks every file; a minute on a slow machine.
const LINTIAN_TIMEOUT: Duration = Duration::from_secs(300);
const QUICK: Duration = Duration::from_secs(30);
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false)
}

/// What one run of scripts/package wrote, and the .deb unpacked.
struct Packaged {
    deb: PathBuf,
    tarball: PathBuf,
    /// `dpkg-deb -x` of the .deb: the files as they land under `/`.
    unpacked: PathBuf,
    dir: PathBuf,
}

impl Packaged {
    /// The tarball's one top directory: its name without `.tar.gz`.
    fn top(&self) -> &str {
        self.tarball
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".tar.gz"))
            .expect("a .tar.gz name")
    }
}

/// Runs scripts/package once for all the tests of this file (they run on threads of one
/// process), into a directory under cargo's target/tmp that is left for a look after a failure;
/// `None`, after saying so, where there is no dpkg-deb.
fn packaged() -> Option<&'static Packaged> {
    static PACKAGED: OnceLock<Option<Packaged>> = OnceLock::new();
    PACKAGED.get_or_init(build).as_ref()
}

/// Whether this run is CI's, where a missing tool is a failure rather than a skip.
fn on_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

fn build() -> Option<Packaged> {
    if !on_path("dpkg-deb") {
        assert!(
            !on_ci(),
            "dpkg-deb is not on this machine; scripts/test installs it (CI=true: no skipping)"
        );
        eprintln!(
            "SKIPPED: dpkg-deb is not on this machine (not Debian-like); the .deb and tarball are not built"
        );
        return None;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package");
    let _ = fs::remove_dir_all(&dir);
    let dist = dir.join("dist");
    let out = procs::run(
        procs::scrubbed(root().join("scripts/package"))
            .current_dir(root())
            .env("REDLOCK_PACKAGE_BIN", env!("CARGO_BIN_EXE_redlock"))
            .env("REDLOCK_PACKAGE_DIST", &dist),
        PACKAGE_TIMEOUT,
    );
    assert_eq!(
        out.code,
        Some(0),
        "scripts/package failed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    eprintln!("scripts/package took {:?}", out.elapsed);

    let arch = stdout(Command::new("dpkg").arg("--print-architecture"));
    let deb = dist.join(format!("redlock_{VERSION}_{arch}.deb"));
    let triple = stdout(Command::new("rustc").arg("-vV"))
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host");
    let tarball = dist.join(format!("redlock-{VERSION}-{triple}.tar.gz"));
    for file in [&deb, &tarball] {
        assert!(
            file.is_file(),
            "scripts/package did not write {}:\n{}",
            file.display(),
            out.stdout
        );
    }
    let unpacked = dir.join("unpacked");
    stdout(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked));
    Some(Packaged {
        deb,
        tarball,
        unpacked,
        dir,
    })
}

/// Runs a quick tool to completion and returns its trimmed stdout; panics unless it exits 0.
fn stdout(cmd: &mut Command) -> String {
    let out = procs::run(cmd, QUICK);
    assert_eq!(out.code, Some(0), "{cmd:?} failed: {}", out.stderr);
    out.stdout.trim().to_string()
}

fn control_field(deb: &Path, name: &str) -> String {
    stdout(Command::new("dpkg-deb").arg("-f").arg(deb).arg(name))
}

#[test]
fn deb_installs_a_redlock_that_runs_and_prints_its_version() {
    let Some(p) = packaged() else { return };
    let bin = p.unpacked.join("usr/bin/redlock");
    let version = stdout(Command::new(&bin).arg("--version"));
    assert!(
        version.starts_with(&format!("redlock {VERSION}")),
        "{} --version printed {version:?}",
        bin.display()
    );
}

#[test]
fn deb_control_names_the_package_and_depends_only_on_libc6() {
    let Some(p) = packaged() else { return };
    let arch = stdout(Command::new("dpkg").arg("--print-architecture"));
    for (field, want) in [
        ("Package", "redlock"),
        ("Version", VERSION),
        ("Architecture", arch.as_str()),
        ("Section", "utils"),
        ("Priority", "optional"),
    ] {
        assert_eq!(control_field(&p.deb, field), want, "the .deb's {field}");
    }
    // Computed from the binary (scripts/package). Only libc6: libgcc-s1, the unwinder Rust's
    // std links, is left out as cargo-deb does, since libc6 depends on it. Anything more would
    // mean a dependency started linking a system library that hosts must then have.
    let depends = control_field(&p.deb, "Depends");
    assert!(
        depends.starts_with("libc6 (>= 2.") && !depends.contains(','),
        "Depends should name libc6 alone: {depends}"
    );
    let description = control_field(&p.deb, "Description");
    let mut lines = description.lines();
    let synopsis = lines.next().unwrap_or_default();
    assert!(
        !synopsis.is_empty() && synopsis.len() < 80,
        "the synopsis must be one line under 80 characters: {synopsis:?}"
    );
    assert!(
        lines.count() >= 3,
        "the Description lacks its long part:\n{description}"
    );
    // None until the project has a public home (Cargo.toml): never a made-up one.
    let homepage = control_field(&p.deb, "Homepage");
    assert!(homepage.is_empty(), "Homepage: {homepage:?}");
    let control = stdout(Command::new("dpkg-deb").arg("-f").arg(&p.deb));
    assert!(!control.contains("example.invalid"), "{control}");
    // Without REDLOCK_MAINTAINER: Cargo.toml's placeholder.
    let maintainer = control_field(&p.deb, "Maintainer");
    assert!(
        maintainer.starts_with("redlock maintainers <"),
        "Maintainer: {maintainer}"
    );
}

#[test]
fn maintainer_comes_from_redlock_maintainer_when_set() {
    if packaged().is_none() {
        return;
    }
    // Any executable will do for the control file: a small one keeps this run quick.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package-maintainer");
    let _ = fs::remove_dir_all(&dir);
    let out = procs::run(
        procs::scrubbed(root().join("scripts/package"))
            .current_dir(root())
            .env("REDLOCK_PACKAGE_BIN", "/bin/true")
            .env("REDLOCK_PACKAGE_DIST", &dir)
            .env("REDLOCK_MAINTAINER", "Jane Doe <jane@example.org>"),
        PACKAGE_TIMEOUT,
    );
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let arch = stdout(Command::new("dpkg").arg("--print-architecture"));
    let deb = dir.join(format!("redlock_{VERSION}_{arch}.deb"));
    assert_eq!(control_field(&deb, "Maintainer"), "Jane Doe <jane@example.org>");

    let bad = procs::run(
        procs::scrubbed(root().join("scripts/package"))
            .current_dir(root())
            .env("REDLOCK_PACKAGE_BIN", "/bin/true")
            .env("REDLOCK_PACKAGE_DIST", dir.join("bad"))
            .env("REDLOCK_MAINTAINER", "jane"),
        PACKAGE_TIMEOUT,
    );
    assert_eq!(bad.code, Some(1), "{}", bad.stderr);
    assert!(bad.stderr.contains("Name <address>"), "{}", bad.stderr);
}

#[test]
fn help_prints_usage_and_an_unknown_argument_is_a_usage_error() {
    let script = root().join("scripts/package");
    for flag in ["--help", "-h"] {
        let out = procs::run(procs::scrubbed(&script).arg(flag), QUICK);
        assert_eq!(out.code, Some(0), "scripts/package {flag}: {}", out.stderr);
        assert!(out.stdout.starts_with("Usage: scripts/package"), "{}", out.stdout);
        assert!(out.stdout.contains("REDLOCK_MAINTAINER"), "{}", out.stdout);
    }
    let dist = tempfile::tempdir().expect("a temp dir");
    let out = procs::run(
        procs::scrubbed(&script)
            .arg("bogus")
            .env("REDLOCK_PACKAGE_DIST", dist.path().join("dist")),
        QUICK,
    );
    assert_eq!(out.code, Some(2), "scripts/package bogus: {}", out.stdout);
    assert!(
        out.stderr.contains("'bogus'") && out.stderr.contains("Usage:"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        !dist.path().join("dist").exists(),
        "an unknown argument must build nothing"
    );
}

/// The files shipped as documentation, relative to the doc root: the README, CONTRIBUTING.md
/// and every docs/*.md of the checkout.
fn shipped_docs() -> Vec<String> {
    let mut docs = vec!["README.md".to_string(), "CONTRIBUTING.md".to_string()];
    for entry in fs::read_dir(root().join("docs")).expect("docs/").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            docs.push(format!("docs/{name}"));
        }
    }
    docs.sort();
    docs
}

/// `tarball` unpacked into a fresh `into`, which is returned.
fn untar(tarball: &Path, into: &Path) -> PathBuf {
    let _ = fs::remove_dir_all(into);
    fs::create_dir_all(into).expect("creating the untar directory");
    stdout(Command::new("tar").arg("-xzf").arg(tarball).arg("-C").arg(into));
    into.to_path_buf()
}

/// Every relative link in the shipped docs under `tree` leads to a shipped file (or heading).
fn assert_links_resolve(tree: &Path, docs: &[String], where_: &str) {
    let broken = broken_links(tree, docs);
    assert!(
        broken.is_empty(),
        "links in {where_} that lead nowhere:\n{}",
        broken.join("\n")
    );
}

/// Every relative link in the Markdown files under `dir` that does not resolve to a file under
/// `dir`, as "file: target". Links to web pages and anchors within a page are not files.
fn broken_links(dir: &Path, docs: &[String]) -> Vec<String> {
    let mut broken = Vec::new();
    for doc in docs {
        let path = dir.join(doc);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for target in text.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
            let file = target.split('#').next().unwrap_or_default().trim();
            if file.is_empty() || file.contains("://") || file.starts_with("mailto:") {
                continue;
            }
            let resolved = path.parent().expect("a file in a directory").join(file);
            let inside = resolved
                .canonicalize()
                .is_ok_and(|r| r.starts_with(dir.canonicalize().expect("the doc root")));
            if !(resolved.is_file() && inside) {
                broken.push(format!("{doc}: ({target})"));
            }
        }
    }
    broken
}

#[test]
fn deb_installs_the_readme_and_docs_uncompressed_with_links_that_resolve() {
    let Some(p) = packaged() else { return };
    let doc = p.unpacked.join("usr/share/doc/redlock");
    let docs = shipped_docs();
    assert!(docs.len() > 5, "{docs:?}");
    for file in &docs {
        let installed = fs::read(doc.join(file))
            .unwrap_or_else(|e| panic!("the .deb lacks /usr/share/doc/redlock/{file}: {e}"));
        assert_eq!(
            installed,
            fs::read(root().join(file)).expect("the checked-in file"),
            "/usr/share/doc/redlock/{file} differs from {file}"
        );
    }
    assert_links_resolve(&doc, &docs, "/usr/share/doc/redlock");
}

#[test]
fn tarball_carries_the_readme_and_docs_with_links_that_resolve() {
    let Some(p) = packaged() else { return };
    let top = p.top();
    let tree = untar(&p.tarball, &p.dir.join("untarred-docs")).join(top);
    let docs = shipped_docs();
    for file in &docs {
        assert!(tree.join(file).is_file(), "the tarball lacks {top}/{file}");
    }
    assert_links_resolve(&tree, &docs, "the tarball");
}

#[test]
fn deb_has_gzipped_man_pages_with_exit_status() {
    let Some(p) = packaged() else { return };
    let man1 = p.unpacked.join("usr/share/man/man1");
    let page = stdout(Command::new("gzip").arg("-dc").arg(man1.join("redlock.1.gz")));
    assert!(page.contains("EXIT STATUS"), "redlock.1.gz:\n{page}");
    for entry in fs::read_dir(root().join("man")).expect("man/") {
        let name = entry.expect("man/ entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            man1.join(format!("{name}.gz")).is_file(),
            "man/{name} is not in the .deb as usr/share/man/man1/{name}.gz"
        );
    }
}

#[test]
fn deb_puts_completions_where_bash_zsh_and_fish_look() {
    let Some(p) = packaged() else { return };
    for (installed, checked_in) in [
        (
            "usr/share/bash-completion/completions/redlock",
            "completions/redlock.bash",
        ),
        (
            "usr/share/zsh/vendor-completions/_redlock",
            "completions/_redlock",
        ),
        (
            "usr/share/fish/vendor_completions.d/redlock.fish",
            "completions/redlock.fish",
        ),
    ] {
        let got = fs::read(p.unpacked.join(installed))
            .unwrap_or_else(|e| panic!("the .deb lacks /{installed}: {e}"));
        assert!(!got.is_empty(), "/{installed} is empty");
        assert_eq!(
            got,
            fs::read(root().join(checked_in)).expect("checked-in completions"),
            "/{installed} differs from {checked_in}"
        );
    }
}

#[test]
fn deb_has_a_machine_readable_copyright_and_a_changelog() {
    let Some(p) = packaged() else { return };
    let doc = p.unpacked.join("usr/share/doc/redlock");
    let copyright = fs::read_to_string(doc.join("copyright")).expect("usr/share/doc/redlock/copyright");
    assert!(
        copyright.starts_with("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"),
        "{copyright}"
    );
    assert!(copyright.contains("License: MIT or Apache-2.0"), "{copyright}");
    let changelog = stdout(Command::new("gzip").arg("-dc").arg(doc.join("changelog.gz")));
    assert!(
        changelog.starts_with(&format!("redlock ({VERSION})")),
        "{changelog}"
    );
}

#[test]
fn tarball_holds_one_directory_with_binary_man_pages_completions_readme_and_licenses() {
    let Some(p) = packaged() else { return };
    let listing = stdout(Command::new("tar").arg("-tzf").arg(&p.tarball));
    let top = p.top();
    for entry in listing.lines() {
        assert!(entry.starts_with(&format!("{top}/")), "{entry} is outside {top}/");
    }
    for wanted in [
        "bin/redlock",
        "man/redlock.1",
        "man/redlock-run.1",
        "completions/",
        "completions/redlock.bash",
        "README.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
    ] {
        assert!(
            listing.lines().any(|l| l == format!("{top}/{wanted}")),
            "the tarball lacks {top}/{wanted}:\n{listing}"
        );
    }
    let into = untar(&p.tarball, &p.dir.join("untarred"));
    let version = stdout(Command::new(into.join(top).join("bin/redlock")).arg("--version"));
    assert!(version.starts_with(&format!("redlock {VERSION}")), "{version}");
}

#[test]
fn lintian_reports_no_errors_on_the_deb() {
    let Some(p) = packaged() else { return };
    if !on_path("lintian") {
        eprintln!("SKIPPED: lintian is not installed (apt-get install lintian to run this check)");
        return;
    }
    // Exit 2: it found errors (its default --fail-on); 1: lintian itself failed.
    let out = procs::run(Command::new("lintian").arg("--info").arg(&p.deb), LINTIAN_TIMEOUT);
    eprintln!("lintian:\n{}{}", out.stdout, out.stderr);
    let errors: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(
        errors.is_empty() && out.code == Some(0),
        "lintian found errors in {} (exit {:?}); CONTRIBUTING.md lists what it may still say:\n{}\n{}",
        p.deb.display(),
        out.code,
        errors.join("\n"),
        out.stderr
    );
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let git = on_path("git").then(|| {
        procs::run(
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .current_dir(root()),
            QUICK,
        )
    });
    let Some(head) = git
        .filter(|g| g.code == Some(0))
        .map(|g| g.stdout.trim().to_string())
    else {
        eprintln!("SKIPPED: not a git checkout, or no git; build.rs then leaves the commit out");
        return;
    };
    let version = stdout(procs::redlock().arg("--version"));
    assert_eq!(version, format!("redlock {VERSION} (commit {head})"));
}
