//! Secrets kept out of the command line a holder or waiter records next to the lock, which
//! anyone who can read the instances sees (`inspect`, notices, JSON): URL passwords, the values
//! of arguments and environment assignments whose name says secret, and the `-pVALUE` of the
//! clients known to take a password that way (docs/operator.md, "Secrets stay out of Redis").
//!
//! Pure functions of the words; a masked value reads `***`. Masking errs on the side of
//! hiding: a value that only looks secret (`--token-file path`) is hidden too.

use crate::engine::server::redact_text;

/// What a masked value reads.
pub const MASK: &str = "***";

/// Clients whose `-pVALUE` (attached) is a password: MySQL's and MariaDB's (`-p VALUE`, apart,
/// is their database, and only prompts for a password).
const ATTACHED_P: &[&str] = &[
    "mysql",
    "mysqldump",
    "mysqladmin",
    "mysqlimport",
    "mysqlshow",
    "mysqlcheck",
    "mysqlpump",
    "mariadb",
    "mariadb-dump",
    "mariadb-admin",
    "sshpass",
];

/// Clients with a short option that takes a password as the next word or attached:
/// `redis-cli -a PASSWORD`, `sshpass -p PASSWORD`.
const SHORT_PASSWORD: &[(&str, char)] = &[("redis-cli", 'a'), ("valkey-cli", 'a'), ("sshpass", 'p')];

/// Whether an option's or a variable's name says its value is secret: `password`, `passwd`,
/// `secret`, `token` anywhere in it (`PGPASSWORD`, `GITHUB_TOKEN`, `--client-secret`), `pass`
/// or `pwd` alone or as its last part (`--pass`, `DB_PASS`), a key with a qualifier
/// (`AWS_SECRET_ACCESS_KEY`, `API_KEY`, `--api-key`; not a bare `--key`, which is `sort`'s
/// field), and credentials.
pub fn secret_name(name: &str) -> bool {
    let n = name
        .trim_start_matches('-')
        .to_ascii_lowercase()
        .replace('-', "_");
    if n.is_empty() {
        return false;
    }
    let last = n.rsplit('_').next().unwrap_or(&n);
    [
        "password",
        "passwd",
        "secret",
        "token",
        "credential",
        "apikey",
        "passphrase",
    ]
    .iter()
    .any(|w| n.contains(w))
        || matches!(last, "pass" | "pwd" | "pw")
        || (n.ends_with("_key") && n.len() > "_key".len())
}

/// `NAME` of an environment assignment `NAME=value` (a shell variable name).
fn assignment_name(word: &str) -> Option<&str> {
    let (name, _) = word.split_once('=')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() || first == '_')
        .then_some(())
        .filter(|()| chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(|()| name)
}

/// The program a word names, without its directory: `/usr/bin/mysql` → `mysql`.
fn program(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// `argv` with every secret masked (see the module comment).
pub fn mask_argv(argv: &[String]) -> Vec<String> {
    let mut out: Vec<String> = argv.iter().map(|w| redact_text(w)).collect();
    // The clients named anywhere before a word: `sudo mysql -pX`, `env A=1 mysql -pX`.
    let mut attached_p = false;
    let mut short: Option<char> = None;
    let mut mask_next = false;
    for word in &mut out {
        if std::mem::take(&mut mask_next) && !word.starts_with('-') && !word.is_empty() {
            *word = MASK.into();
            continue;
        }
        let name = program(word);
        attached_p |= ATTACHED_P.contains(&name);
        if let Some((_, c)) = SHORT_PASSWORD.iter().find(|(p, _)| *p == name) {
            short = Some(*c);
        }
        if let Some(var) = assignment_name(word) {
            if secret_name(var) {
                *word = format!("{var}={MASK}");
            }
            continue;
        }
        if let Some(opt) = word.strip_prefix('-') {
            if let Some((flag, _)) = opt.split_once('=') {
                if secret_name(flag) {
                    *word = format!("-{flag}={MASK}");
                }
                continue;
            }
            if opt.starts_with('-') {
                mask_next = secret_name(opt);
                continue;
            }
            let mut letters = opt.chars();
            let first = letters.next();
            let attached = letters.as_str();
            if first == Some('p') && attached_p && !attached.is_empty() {
                *word = format!("-p{MASK}");
            } else if first.is_some() && first == short {
                if attached.is_empty() {
                    mask_next = true;
                } else {
                    *word = format!("-{}{MASK}", first.unwrap_or('p'));
                }
            }
        }
    }
    out
}

/// A command line as one string (a `sh -c` script, or a process's arguments joined by
/// spaces) with every secret masked: its words masked as [`mask_argv`] does, the rest of the
/// text (spacing, quotes) as it was.
pub fn mask_line(line: &str) -> String {
    let mut spans: Vec<(usize, usize)> = vec![];
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, line.len()));
    }
    let words: Vec<String> = spans.iter().map(|&(s, e)| line[s..e].to_string()).collect();
    let masked = mask_argv(&words);
    let mut out = String::with_capacity(line.len());
    let mut at = 0;
    for ((s, e), word) in spans.iter().zip(&masked) {
        out.push_str(&line[at..*s]);
        out.push_str(word);
        at = *e;
    }
    out.push_str(&line[at..]);
    out
}

/// Only the program's name, for `REDLOCK_RECORD_COMMAND=0`: the first word that is not an
/// environment assignment, without its directory's secrets (a URL password, say).
pub fn program_only(line: &str) -> String {
    line.split_whitespace()
        .find(|w| assignment_name(w).is_none())
        .map(redact_text)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(line: &str) -> String {
        mask_line(line)
    }

    #[test]
    fn values_of_secret_options_are_masked_attached_or_apart() {
        for (given, shown) in [
            ("tool --password=hunter2 x", "tool --password=*** x"),
            ("tool --password hunter2 x", "tool --password *** x"),
            ("tool --db-password hunter2", "tool --db-password ***"),
            ("tool --client-secret=abc", "tool --client-secret=***"),
            (
                "tool --api-key K1 --api_key=K2",
                "tool --api-key *** --api_key=***",
            ),
            ("tool --token t0k --pass p", "tool --token *** --pass ***"),
            ("tool -password=x", "tool -password=***"),
            // A flag that follows is not the value: nothing to hide.
            ("tool --password --stdin", "tool --password --stdin"),
            ("tool --password", "tool --password"),
        ] {
            assert_eq!(masked(given), shown, "{given}");
        }
    }

    #[test]
    fn secret_environment_assignments_are_masked() {
        for (given, shown) in [
            ("PGPASSWORD=hunter2 psql", "PGPASSWORD=*** psql"),
            ("GITHUB_TOKEN=ghp_x gh pr", "GITHUB_TOKEN=*** gh pr"),
            (
                "AWS_SECRET_ACCESS_KEY=a aws s3",
                "AWS_SECRET_ACCESS_KEY=*** aws s3",
            ),
            ("API_KEY=k ./job", "API_KEY=*** ./job"),
            ("MY_SECRET=s ./job", "MY_SECRET=*** ./job"),
            ("DB_PASS=p ./job", "DB_PASS=*** ./job"),
            ("env MYSQL_PWD=p mysql", "env MYSQL_PWD=*** mysql"),
            ("LANG=C TZ=UTC ./job", "LANG=C TZ=UTC ./job"),
        ] {
            assert_eq!(masked(given), shown, "{given}");
        }
    }

    #[test]
    fn known_clients_short_passwords_are_masked() {
        for (given, shown) in [
            ("mysql -uroot -phunter2 db", "mysql -uroot -p*** db"),
            ("/usr/bin/mysqldump -phunter2 db", "/usr/bin/mysqldump -p*** db"),
            ("sudo mariadb -phunter2", "sudo mariadb -p***"),
            // Apart, mysql's -p prompts and the next word is the database.
            ("mysql -p db", "mysql -p db"),
            ("redis-cli -a hunter2 ping", "redis-cli -a *** ping"),
            ("redis-cli -ahunter2 ping", "redis-cli -a*** ping"),
            ("sshpass -p hunter2 ssh h", "sshpass -p *** ssh h"),
            // Not a known client: -p is a port, a path, anything.
            ("ssh -p2222 h", "ssh -p2222 h"),
            ("mkdir -p /tmp/x", "mkdir -p /tmp/x"),
        ] {
            assert_eq!(masked(given), shown, "{given}");
        }
    }

    #[test]
    fn url_passwords_are_masked_as_everywhere() {
        assert_eq!(
            masked("redlock -s redis://:s3cret@db:6380 acquire"),
            "redlock -s redis://:***@db:6380 acquire"
        );
        assert_eq!(masked("psql postgres://u:pw@h/db"), "psql postgres://u:***@h/db");
    }

    #[test]
    fn ordinary_words_and_spacing_stay_as_they_are() {
        for line in [
            "./deploy.sh prod 1.4.2",
            "sort --key=2 f",
            "make  &&  make install",
            "echo 'a=b'\tdone",
            "",
            "   ",
        ] {
            assert_eq!(masked(line), line);
        }
    }

    #[test]
    fn masking_twice_changes_nothing_more() {
        for line in ["tool --password hunter2", "mysql -phunter2", "PGPASSWORD=x psql"] {
            let once = masked(line);
            assert_eq!(masked(&once), once);
        }
    }

    #[test]
    fn argv_words_with_spaces_are_masked_whole() {
        let argv: Vec<String> = ["tool", "--password", "two words", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(mask_argv(&argv), ["tool", "--password", MASK, "x"]);
    }

    #[test]
    fn names_that_say_secret() {
        for name in [
            "--password",
            "PGPASSWORD",
            "GITHUB_TOKEN",
            "--secret",
            "AWS_SECRET_ACCESS_KEY",
            "--api-key",
            "DB_PASS",
            "MYSQL_PWD",
            "--passphrase",
        ] {
            assert!(secret_name(name), "{name}");
        }
        for name in [
            "--key",
            "--ttl",
            "PATH",
            "--passive",
            "KEYS",
            "--compass",
            "HOME",
            "",
        ] {
            assert!(!secret_name(name), "{name}");
        }
    }

    #[test]
    fn program_only_keeps_the_program_name() {
        assert_eq!(program_only("PGPASSWORD=x ./backup.sh --all"), "./backup.sh");
        assert_eq!(program_only("mysql -phunter2"), "mysql");
        assert_eq!(program_only(""), "");
    }
}
