//! Reaching real servers the way production has them: TLS (rediss://, a private CA, mutual
//! TLS), passwords and ACL users, and unix sockets. Refusals exit 69 with a message naming
//! the problem; a password never appears in any output.
//!
//! Certificates come from a throwaway CA made with `openssl` in each test's temp dir.

mod support;

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::engine::holder_token;
use support::procs::{redlock, run, wait_until, Out};
use support::redis::RedisServer;

const LIMIT: Duration = Duration::from_secs(20);

/// A CA, a server certificate for 127.0.0.1 (not "localhost") signed by it, a client certificate
/// signed by it, and a second CA that signed nothing we use.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("redlock-pki")
            .tempdir()
            .expect("temp dir");
        let pki = Pki { dir };
        pki.ca("ca");
        pki.ca("other-ca");
        pki.leaf(
            "server",
            "localhost",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
        );
        pki.leaf("client", "redlock-client", "extendedKeyUsage=clientAuth");
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }

    /// `openssl req` with a new P-256 key written to `NAME.key`; `args` say what it makes with
    /// it (a self-signed certificate with `-x509`, else a signing request).
    fn req_with_new_key(&self, name: &str, args: &[&str]) {
        let key = format!("{name}.key");
        let mut all = vec![
            "req",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-keyout",
            &key,
        ];
        all.extend(args);
        openssl(self.dir.path(), &all);
    }

    fn ca(&self, name: &str) {
        self.req_with_new_key(
            name,
            &[
                "-x509",
                "-out",
                &format!("{name}.crt"),
                "-days",
                "2",
                "-subj",
                &format!("/CN=redlock test {name}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }

    fn leaf(&self, name: &str, cn: &str, extensions: &str) {
        let ext = self.path(&format!("{name}.ext"));
        std::fs::write(
            &ext,
            format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n{extensions}\n"),
        )
        .expect("writing the extensions file");
        self.req_with_new_key(
            name,
            &["-out", &format!("{name}.csr"), "-subj", &format!("/CN={cn}")],
        );
        openssl(
            self.dir.path(),
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }

    /// `--tls-ca CA acquire --no-keep -r RESOURCE` and `more`: a bare lease asked for over TLS,
    /// trusting the certificate file `ca` of this PKI.
    fn acquire_trusting(&self, ca: &str, resource: &str, more: &[&str]) -> Vec<String> {
        let mut args = vec!["--tls-ca".to_string(), self.arg(ca)];
        args.extend(["acquire", "--no-keep", "-r", resource].map(String::from));
        args.extend(more.iter().map(|a| a.to_string()));
        args
    }

    /// A redis-server with a TLS port next to its plain one (which only the harness's
    /// readiness check and `conn()` use); returns it and `rediss://127.0.0.1:TLS_PORT`.
    fn server(&self, auth_clients: bool) -> (RedisServer, String) {
        let tls_port = free_port().to_string();
        let server = RedisServer::start_with(&[
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            &self.arg("server.crt"),
            "--tls-key-file",
            &self.arg("server.key"),
            "--tls-ca-cert-file",
            &self.arg("ca.crt"),
            "--tls-auth-clients",
            if auth_clients { "yes" } else { "no" },
        ]);
        (server, format!("rediss://127.0.0.1:{tls_port}"))
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}): install it (apt-get install openssl) or use scripts/test")
        });
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// `redlock` with these servers in REDLOCK_SERVERS (never on the command line, as the docs
/// advise for URLs with passwords).
fn rl(servers: &str, args: &[impl AsRef<OsStr>]) -> Out {
    run(redlock().env("REDLOCK_SERVERS", servers).args(args), LIMIT)
}

fn assert_one_line_error(out: &Out, code: i32) {
    assert_eq!(out.code, Some(code), "{out:?}");
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.starts_with("redlock: debug:"))
        .collect();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(lines[0].starts_with("redlock: "), "{out:?}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
}

fn assert_never_shows(out: &Out, secret: &str) {
    assert!(!out.stdout.contains(secret), "stdout shows the password: {out:?}");
    assert!(!out.stderr.contains(secret), "stderr shows the password: {out:?}");
}

// ---- TLS ----

#[test]
fn tls_with_the_servers_ca_acquires_inspects_and_releases() {
    let pki = Pki::new();
    let (server, url) = pki.server(false);
    let out = rl(&url, &pki.acquire_trusting("ca.crt", "tls-job", &[]));
    assert_eq!(out.code, Some(0), "{out:?}\n{}", server.log());
    let token = out.stdout.trim().to_string();
    assert_eq!(
        holder_token(&mut server.conn(), "tls-job").as_deref(),
        Some(token.as_str())
    );

    let out = rl(
        &url,
        &[
            "inspect",
            "-r",
            "tls-job",
            "--tls-ca",
            &pki.arg("ca.crt"),
            "--json",
        ],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains(&token), "{out:?}");

    // The CA from the environment works the same as the flag.
    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", &url)
            .env("REDLOCK_TLS_CA", pki.path("ca.crt"))
            .args(["release", "-r", "tls-job", "--token", &token]),
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(holder_token(&mut server.conn(), "tls-job"), None);
}

#[test]
fn tls_with_an_untrusted_certificate_exits_69_naming_the_certificate_problem() {
    let pki = Pki::new();
    let (server, url) = pki.server(false);
    for verbose in [false, true] {
        let mut args = pki.acquire_trusting("other-ca.crt", "tls-job", &["--no-wait"]);
        if verbose {
            args.push("-v".into());
        }
        let out = rl(&url, &args);
        assert_one_line_error(&out, 69);
        assert!(out.stderr.contains("TLS handshake failed"), "{out:?}");
        assert!(out.stderr.contains("UnknownIssuer"), "{out:?}");
        assert!(
            out.stderr.contains("--tls-ca"),
            "the message should say what to do: {out:?}"
        );
    }
    assert_eq!(holder_token(&mut server.conn(), "tls-job"), None);
}

#[test]
fn tls_to_a_name_the_certificate_does_not_list_exits_69() {
    let pki = Pki::new();
    let (_server, url) = pki.server(false);
    // localhost reaches the same server (the client tries each address it resolves to), but
    // the certificate names the IP address 127.0.0.1 only.
    let url = url.replace("127.0.0.1", "localhost");
    let out = rl(&url, &pki.acquire_trusting("ca.crt", "x", &["-n"]));
    assert_one_line_error(&out, 69);
    assert!(
        out.stderr.contains("TLS handshake failed") && out.stderr.contains("not valid for name"),
        "{out:?}"
    );
}

#[test]
fn rediss_to_a_plain_port_exits_69_asking_whether_it_is_a_tls_port() {
    let server = RedisServer::start();
    let url = server.url().replace("redis://", "rediss://");
    let out = rl(&url, &["acquire", "--no-keep", "-r", "x", "-n"]);
    assert_one_line_error(&out, 69);
    assert!(out.stderr.contains("is this a TLS port?"), "{out:?}");
}

#[test]
fn mutual_tls_succeeds_with_the_client_certificate_and_exits_69_without_it() {
    let pki = Pki::new();
    let (server, url) = pki.server(true);

    let out = rl(&url, &pki.acquire_trusting("ca.crt", "mtls", &["-n"]));
    assert_one_line_error(&out, 69);
    assert!(out.stderr.contains("TLS"), "{out:?}");
    assert!(
        out.stderr.contains("--tls-cert"),
        "the message should point at --tls-cert: {out:?}"
    );
    assert_eq!(holder_token(&mut server.conn(), "mtls"), None);

    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", &url)
            .env("REDLOCK_TLS_CA", pki.path("ca.crt"))
            .env("REDLOCK_TLS_CERT", pki.path("client.crt"))
            .env("REDLOCK_TLS_KEY", pki.path("client.key"))
            .args(["acquire", "--no-keep", "-r", "mtls", "-n"]),
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{out:?}\n{}", server.log());
    assert_eq!(
        holder_token(&mut server.conn(), "mtls").as_deref(),
        Some(out.stdout.trim())
    );
}

#[test]
fn bad_tls_files_are_usage_errors() {
    let pki = Pki::new();
    let url = "rediss://127.0.0.1:1";
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--tls-ca".into(), pki.arg("missing.crt")], "cannot read"),
        (
            vec!["--tls-ca".into(), pki.arg("server.ext")],
            "holds no certificate",
        ),
        (vec!["--tls-cert".into(), pki.arg("client.crt")], "--tls-key"),
        (
            vec![
                "--tls-cert".into(),
                pki.arg("client.crt"),
                "--tls-key".into(),
                pki.arg("server.key"),
            ],
            "does not fit",
        ),
        (
            vec![
                "--tls-cert".into(),
                pki.arg("client.crt"),
                "--tls-key".into(),
                pki.arg("client.crt"),
            ],
            "holds no private key",
        ),
    ];
    for (flags, message) in cases {
        let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
        args.extend(["acquire", "--no-keep", "-r", "x", "-n"]);
        let out = rl(url, &args);
        assert_eq!(out.code, Some(2), "{flags:?}: {out:?}");
        assert!(
            out.stderr.contains(message),
            "{flags:?}: expected '{message}': {out:?}"
        );
        for file in ["server.key", "client.key", "client.crt"] {
            let text = std::fs::read_to_string(pki.path(file)).expect("reading a test file");
            for line in text.lines().filter(|l| !l.starts_with("-----")) {
                assert!(
                    !out.stderr.contains(line),
                    "{file}'s contents were echoed: {out:?}"
                );
            }
        }
    }
    // TLS options with no rediss:// server would quietly send everything in the clear.
    let out = rl(
        "redis://127.0.0.1:1",
        &pki.acquire_trusting("ca.crt", "x", &["-n"]),
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("rediss://"), "{out:?}");
}

// ---- passwords and ACL users ----

#[test]
fn requirepass_password_in_redlock_servers_acquires_and_releases() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret-Pass"]);
    let url = format!("redis://:s3cret-Pass@127.0.0.1:{}", server.port());
    let out = rl(&url, &["acquire", "--no-keep", "-r", "authed", "-v"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_never_shows(&out, "s3cret-Pass");
    let token = out.stdout.trim().to_string();
    assert_eq!(
        holder_token(&mut server.conn(), "authed").as_deref(),
        Some(token.as_str())
    );
    let out = rl(&url, &["inspect", "-r", "authed"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains(":***@"),
        "inspect shows the server with its password hidden: {out:?}"
    );
    assert_never_shows(&out, "s3cret-Pass");
    let out = rl(&url, &["release", "-r", "authed", "--token", &token]);
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[test]
fn wrong_password_exits_69_mentioning_authentication_and_never_shows_the_password() {
    let server = RedisServer::start_with(&["--requirepass", "right-pass"]);
    let url = format!("redis://:Wr0ng-Secret@127.0.0.1:{}", server.port());
    for extra in [&[][..], &["-v"][..]] {
        for cmd in [
            &["acquire", "--no-keep", "-r", "authed", "-n"][..],
            &["inspect", "-r", "authed"][..],
        ] {
            let mut args = cmd.to_vec();
            args.extend_from_slice(extra);
            let out = rl(&url, &args);
            assert_one_line_error(&out, 69);
            assert!(out.stderr.contains("authentication"), "{out:?}");
            assert_never_shows(&out, "Wr0ng-Secret");
            // The same secret given with -s on the command line is hidden just as well.
            let out = run(redlock().args(["-s", &url]).args(&args), LIMIT);
            assert_eq!(out.code, Some(69), "{out:?}");
            assert_never_shows(&out, "Wr0ng-Secret");
        }
    }
    // No password at all: told that one is needed, and where to put it.
    let out = rl(&server.url(), &["acquire", "--no-keep", "-r", "authed", "-n"]);
    assert_one_line_error(&out, 69);
    assert!(out.stderr.contains("authentication required"), "{out:?}");
    assert!(out.stderr.contains("REDLOCK_SERVERS"), "{out:?}");
}

#[test]
fn acl_user_limited_to_the_prefix_can_acquire_inspect_and_release() {
    // Only redlock's keys and channels: proves the tool stays inside its prefix.
    let server = RedisServer::start_with(&[
        "--user",
        "alice",
        "on",
        ">alice-pw",
        "~redlock:*",
        "&redlock:*",
        "+@all",
    ]);
    let url = format!("redis://alice:alice-pw@127.0.0.1:{}", server.port());
    let out = rl(&url, &["acquire", "--no-keep", "-r", "acl-job"]);
    assert_eq!(out.code, Some(0), "{out:?}\n{}", server.log());
    let token = out.stdout.trim().to_string();
    let out = rl(&url, &["inspect"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("acl-job"), "{out:?}");
    assert_never_shows(&out, "alice-pw");
    let out = rl(&url, &["release", "-r", "acl-job", "--token", &token]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(holder_token(&mut server.conn(), "acl-job"), None);

    let out = rl(
        &format!("redis://alice:nope-pw@127.0.0.1:{}", server.port()),
        &["acquire", "--no-keep", "-r", "x", "-n", "-v"],
    );
    assert_one_line_error(&out, 69);
    assert!(out.stderr.contains("authentication failed"), "{out:?}");
    assert_never_shows(&out, "nope-pw");
}

// ---- unix sockets ----

#[test]
fn unix_socket_urls_acquire_inspect_and_release() {
    let server = RedisServer::start_unix();
    let path = server.unix_path().expect("started with a unix socket");
    let path = path.to_string_lossy();
    let out = rl(
        &format!("redis+unix://{path}"),
        &["acquire", "--no-keep", "-r", "sock-job"],
    );
    assert_eq!(out.code, Some(0), "{out:?}\n{}", server.log());
    let token = out.stdout.trim().to_string();
    assert_eq!(
        holder_token(&mut server.conn(), "sock-job").as_deref(),
        Some(token.as_str())
    );

    let out = rl(&format!("unix://{path}"), &["inspect", "-r", "sock-job"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains(&token), "{out:?}");

    let out = rl(
        &format!("unix://{path}"),
        &["release", "-r", "sock-job", "--token", &token],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(holder_token(&mut server.conn(), "sock-job"), None);
}

#[test]
fn unix_socket_run_holds_the_lock_while_the_command_runs() {
    let server = RedisServer::start_unix();
    let path = server.unix_path().expect("started with a unix socket");
    let url = format!("redis+unix://{}", path.to_string_lossy());
    // The command asks, over the same socket, who holds the lock: its own token.
    let out = run(
        redlock()
            .env("REDLOCK_SERVERS", &url)
            .env("RL", env!("CARGO_BIN_EXE_redlock"))
            .args(["run", "-r", "sock-run", "--", "sh", "-c"])
            .arg("echo \"$REDLOCK_TOKEN $REDLOCK_FENCE\"; \"$RL\" inspect -r sock-run --json"),
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let (first, inspected) = out.stdout.split_once('\n').expect("two outputs");
    let (token, fence) = first.split_once(' ').expect("token and fence");
    assert!(fence.parse::<u64>().is_ok(), "the fence is a number: {out:?}");
    assert!(
        inspected.contains(token),
        "inspect inside run shows the holder's token: {out:?}"
    );
    assert_eq!(
        holder_token(&mut server.conn(), "sock-run"),
        None,
        "released after the command"
    );

    let out = rl(&url, &["run", "-r", "sock-run", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.code, Some(7), "{out:?}");

    let out = rl(
        "redis+unix:///nonexistent/redis.sock",
        &["acquire", "--no-keep", "-r", "x", "-n"],
    );
    assert_one_line_error(&out, 69);
}

/// The least-privilege rule docs/tls-auth.md recommends, word for word (checked below).
const LEAST_PRIVILEGE: &str = "on >locker-pw ~redlock:* &redlock:* +ping +eval +scan \
     +subscribe +unsubscribe +del +exists +get +hdel +hget +hgetall +hincrby +hmget +hset +pexpire +pttl +publish \
     +pubsub|numsub +set +time +type +zadd +zcard +zrange +zrank +zrem +evalsha +hello";

#[test]
fn the_documented_least_privilege_acl_is_enough_for_every_command() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tls-auth.md"))
        .expect("reading docs/tls-auth.md");
    // The doc quotes the arguments for the shell; the rule is the same words.
    assert!(
        docs.replace('\'', "").contains(LEAST_PRIVILEGE),
        "docs/tls-auth.md no longer shows the ACL this test proves"
    );
    every_command_works_under(LEAST_PRIVILEGE);
}

/// A rule written for an earlier version, without +evalsha and +hello: every script then goes
/// in full and the wake-ups come on a second connection (RESP2), and everything still works.
#[test]
fn a_least_privilege_acl_of_an_earlier_version_still_works() {
    let earlier = LEAST_PRIVILEGE
        .strip_suffix(" +evalsha +hello")
        .expect("the rule ends with what this version added");
    every_command_works_under(earlier);
}

fn every_command_works_under(rule: &str) {
    let mut args = vec!["--user", "locker"];
    args.extend(rule.split(' '));
    let server = RedisServer::start_with(&args);
    let url = format!("redis://locker:locker-pw@127.0.0.1:{}", server.port());

    let out = rl(&url, &["acquire", "--no-keep", "-r", "job"]);
    assert_eq!(out.code, Some(0), "{out:?}\n{}", server.log());
    let token = out.stdout.trim().to_string();
    // A waiter subscribes to the release channel; let it start waiting, then release.
    let waiter = {
        let url = url.clone();
        std::thread::spawn(move || rl(&url, &["acquire", "--no-keep", "-r", "job", "-w", "10s"]))
    };
    // Its place in the queue is kept by scripts the rule must allow.
    wait_until("the waiter to be queued", Duration::from_secs(10), || {
        redis::cmd("ZCARD")
            .arg("redlock:queue:job")
            .query::<u64>(&mut server.conn())
            .is_ok_and(|n| n == 1)
    });
    let out = rl(&url, &["release", "-r", "job", "--token", &token]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = waiter.join().expect("waiter thread");
    assert_eq!(
        out.code,
        Some(0),
        "the waiter gets the lock once it is released: {out:?}"
    );

    let out = rl(&url, &["inspect"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("job"), "{out:?}");
    let out = rl(&url, &["release", "-r", "job", "--force"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = rl(&url, &["run", "-r", "job", "--", "true"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(holder_token(&mut server.conn(), "job"), None);
    // Slots and shared holds use the registry (HGETALL) and the fence claims.
    for mode in [&["--limit", "2"][..], &["--shared"][..]] {
        let mut args = vec!["run", "-r", "capacity"];
        args.extend(mode);
        args.extend(["--", "true"]);
        let out = rl(&url, &args);
        assert_eq!(out.code, Some(0), "{mode:?}: {out:?}");
    }
}
