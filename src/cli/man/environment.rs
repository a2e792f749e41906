//! ENVIRONMENT: every variable a command reads, taken from the clap definition (`env = …`) so
//! the list cannot drift from `--help`; then the few read outside clap; then, for `run`, what
//! it sets for its command. `tests/generated.rs` checks the list against `--help` and against
//! every `REDLOCK_*` name the source reads.

/// Variables read outside clap: name, the subcommands that read it (`None`: every one), text.
const OUTSIDE_CLAP: &[(&str, Option<&[&str]>, &str)] = &[
    (
        "REDLOCK_RESOURCE",
        Some(&["run", "acquire"]),
        "Read to tell an inherited REDLOCK_LIMIT from a choice: when it names another \
         resource than -r (this runs inside another lock's redlock run), REDLOCK_LIMIT is \
         that lock's N and is not taken as --limit's default.",
    ),
    (
        "NO_COLOR",
        None,
        "When set to a non-empty value, nothing is coloured (https://no-color.org). redlock \
         colours only inspect's verdict and tables, and only when standard output is a \
         terminal.",
    ),
];

/// Variables `run` sets in the command's environment (docs/run.md, "Step by step" 2, and
/// docs/capacity.md).
const RUN_SETS: &[(&str, &str)] = &[
    ("REDLOCK_RESOURCE", "Set for the command: the lock's name."),
    (
        "REDLOCK_TOKEN",
        "Set for the command: the holder's token, so a nested redlock run or acquire of the \
         same resource re-enters instead of deadlocking.",
    ),
    (
        "REDLOCK_FENCE",
        "Set for the command: a fencing token, a decimal integer that strictly increases from \
         one holder of the resource to the next, as long as a majority of instances keep their \
         data. Pass it to the storage you protect, which rejects writes carrying an older \
         fence. Each hold has its own (--limit, --shared): fences strictly increase over all \
         acquisitions of the resource, whatever their mode.",
    ),
    (
        "REDLOCK_MODE",
        "Set for the command: exclusive, shared (--shared) or limit (--limit N with N > 1).",
    ),
    (
        "REDLOCK_LIMIT",
        "Set for the command to N (1 for exclusive and shared holds).",
    ),
];

/// The ENVIRONMENT entries of the page of `sub` (`None`: the main page, which lists what
/// every subcommand reads and what `run` sets), as (name, text).
pub fn entries(cmd: &clap::Command, sub: Option<&str>) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let args = cmd.get_arguments().chain(
        cmd.get_subcommands()
            .filter(|_| sub.is_none())
            .flat_map(|s| s.get_arguments()),
    );
    for arg in args {
        let Some(name) = arg.get_env() else { continue };
        let name = name.to_string_lossy().into_owned();
        if vars.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let flag = arg.get_long().map(|l| format!("--{l}")).unwrap_or_default();
        let mut text = format!("The default for {flag}.");
        if name == "REDLOCK_RECORD_COMMAND" {
            // A flag that turns something off: its variable reads the other way round.
            text = "0 (or false, no, off) records only the program's name next to the lock, as \
                    --no-record-command does; 1, the default, the command line with passwords, \
                    tokens and keys masked."
                .into();
        }
        if name == "REDLOCK_CLASSIC" {
            text = "1 (or true, yes, on) locks as --classic does: the plain key every Redlock \
                    library takes; 0, the default, redlock's own lock under the prefix."
                .into();
        }
        if name == "REDLOCK_SERVERS" {
            text.push_str(
                " A comma-separated list of URLs; the place for URLs with passwords, which \
                 then never appear on a command line (ps, shell history).",
            );
        }
        if name == "REDLOCK_TOKEN" && sub != Some("run") {
            text.push_str(" Set by redlock run for its command, so nested calls re-enter.");
        }
        vars.push((name, text));
    }
    let mut add = |name: &str, text: &str| {
        if let Some(v) = vars.iter_mut().find(|(n, _)| n == name) {
            v.1 = format!("{} {text}", v.1);
        } else {
            vars.push((name.to_string(), text.to_string()));
        }
    };
    if matches!(sub, None | Some("run")) {
        for (name, text) in RUN_SETS {
            add(name, text);
        }
    }
    for (name, readers, text) in OUTSIDE_CLAP {
        if sub.is_none() || readers.is_none_or(|r| sub.is_some_and(|s| r.contains(&s))) {
            add(name, text);
        }
    }
    vars
}
