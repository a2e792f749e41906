//! The Lua scripts, one per operation, each atomic on its instance (safety property 4).
//! Bodies live in `src/engine/scripts/*.lua`; each opens with its KEYS/ARGV and replies.

use std::sync::OnceLock;

const PRELUDE: &str = include_str!("scripts/prelude.lua");

/// A script body: the shared prelude + the operation, and its SHA1, by which a connection that
/// has sent the body once sends it from then on (see `Call::eval`).
pub struct Script {
    pub name: &'static str,
    pub body: String,
    pub sha: String,
}

impl Script {
    fn new(name: &'static str, source: &str) -> Script {
        Script::of(name, format!("{}\n{}", compact(PRELUDE), compact(source)))
    }

    fn of(name: &'static str, body: String) -> Script {
        let sha = redis::Script::new(&body).get_hash().to_string();
        Script { name, body, sha }
    }

    /// The `--classic` form of an operation: its script as the function `op`, called by a
    /// wrapper that keeps the plain key every Redlock library takes in step (classic.lua).
    fn classic(name: &'static str, source: &str, wrapper: &str) -> Script {
        Script::of(
            name,
            format!(
                "{}\n{}\nlocal function op()\n{}\nend\n{}",
                compact(PRELUDE),
                compact(CLASSIC),
                compact(source),
                compact(wrapper)
            ),
        )
    }
}

const CLASSIC: &str = include_str!("scripts/classic.lua");

/// The source without its comment lines, blank lines and indentation: a body still goes in
/// full once per connection (and wherever an ACL allows EVAL but not EVALSHA), and the server
/// hashes it each time, so the comments would cost bytes and time. (No script has a
/// multi-line string.)
fn compact(source: &str) -> String {
    source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub struct Scripts {
    pub acquire: Script,
    pub fence: Script,
    pub extend: Script,
    pub restore: Script,
    pub release: Script,
    pub force: Script,
    pub read: Script,
    pub read_many: Script,
    pub queue: Script,
    pub dequeue: Script,
    pub keeper: Script,
    pub classic: Classic,
}

/// The operations that touch the lock itself, in their `--classic` form.
pub struct Classic {
    pub acquire: Script,
    pub extend: Script,
    pub restore: Script,
    pub release: Script,
    pub force: Script,
    pub read: Script,
}

impl Scripts {
    /// `script`'s `--classic` form; the scripts that never touch the lock itself (fence,
    /// queue, keeper, …) are their own.
    pub fn classic_of(&'static self, script: &'static Script) -> &'static Script {
        // A connection knows which scripts it has loaded by name (`wire::conn`), so each
        // classic form has a name of its own.
        let c = &self.classic;
        match script.name {
            "acquire" => &c.acquire,
            "extend" => &c.extend,
            "restore" => &c.restore,
            "release" => &c.release,
            "force" => &c.force,
            "read" => &c.read,
            _ => script,
        }
    }
}

/// The scripts, put together once per process.
pub fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        acquire: Script::new("acquire", include_str!("scripts/acquire.lua")),
        fence: Script::new("fence", include_str!("scripts/fence.lua")),
        extend: Script::new("extend", include_str!("scripts/extend.lua")),
        restore: Script::new("restore", include_str!("scripts/restore.lua")),
        release: Script::new("release", include_str!("scripts/release.lua")),
        force: Script::new("force", include_str!("scripts/force.lua")),
        read: Script::new("read", include_str!("scripts/read.lua")),
        read_many: Script::new("read_many", include_str!("scripts/read_many.lua")),
        queue: Script::new("queue", include_str!("scripts/queue.lua")),
        dequeue: Script::new("dequeue", include_str!("scripts/dequeue.lua")),
        keeper: Script::new("keeper", include_str!("scripts/keeper.lua")),
        classic: Classic {
            acquire: Script::classic(
                "classic_acquire",
                include_str!("scripts/acquire.lua"),
                include_str!("scripts/classic_acquire.lua"),
            ),
            extend: Script::classic(
                "classic_extend",
                include_str!("scripts/extend.lua"),
                include_str!("scripts/classic_extend.lua"),
            ),
            restore: Script::classic(
                "classic_restore",
                include_str!("scripts/restore.lua"),
                include_str!("scripts/classic_restore.lua"),
            ),
            release: Script::classic(
                "classic_release",
                include_str!("scripts/release.lua"),
                include_str!("scripts/classic_release.lua"),
            ),
            force: Script::classic(
                "classic_force",
                include_str!("scripts/force.lua"),
                include_str!("scripts/classic_force.lua"),
            ),
            read: Script::classic(
                "classic_read",
                include_str!("scripts/read.lua"),
                include_str!("scripts/classic_read.lua"),
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_keep_the_code_and_drop_the_comments() {
        let src = "-- what it does\n\nlocal x = 1 -- why\n  if x then\n    return x\n  end\n";
        assert_eq!(compact(src), "local x = 1 -- why\nif x then\nreturn x\nend");
        let acquire = &scripts().acquire.body;
        assert!(acquire.contains("local function walk(") && !acquire.contains("\n--"));
    }

    #[test]
    fn classic_forms_wrap_the_lock_scripts_under_names_of_their_own() {
        let s = scripts();
        for script in [&s.acquire, &s.extend, &s.restore, &s.release, &s.force, &s.read] {
            let classic = s.classic_of(script);
            assert_eq!(classic.name, format!("classic_{}", script.name));
            assert!(classic.body.contains("local function op()"), "{}", classic.name);
            assert_ne!(classic.sha, script.sha);
        }
        // The scripts that never touch the lock itself have no classic form.
        for script in [&s.fence, &s.queue, &s.dequeue, &s.keeper, &s.read_many] {
            assert!(std::ptr::eq(s.classic_of(script), script));
        }
    }
}
