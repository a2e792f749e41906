//! SYNOPSIS lines drawn from the clap definition, with each option's value placeholder and the
//! `--` before a command, as flock(1) and timeout(1) write them: `-w DUR`, not clap_mangen's
//! bare `[-w|--wait]`, which leaves a reader to guess what follows the flag.

use clap::{Arg, ArgAction, Command};
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};

/// The SYNOPSIS section of `cmd`: `redlock` for the main page (every option is global there),
/// `redlock NAME` for a subcommand, whose global options are summed up as `[GLOBAL OPTIONS]`
/// (their own section follows on the page). A required group of alternatives (`run`'s command
/// or `-c STRING`, `release`'s `--token` or `--force`) gives one line per alternative.
pub fn render(roff: &mut Roff, cmd: &Command, sub: Option<&str>) {
    roff.control("SH", ["SYNOPSIS"]);
    let shown: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !is_help_or_version(a))
        .filter(|a| sub.is_none() || !a.is_global_set())
        .collect();
    let alternatives: Vec<&str> = cmd
        .get_groups()
        .filter(|g| g.is_required_set())
        .flat_map(|g| g.get_args().map(|id| id.as_str()))
        .collect();
    let common = common_part(cmd, &shown, &alternatives, false);
    // Later alternatives differ only in their last word; their options are summed up.
    let brief = common_part(cmd, &shown, &alternatives, true);

    let name = match sub {
        Some(sub) => format!("redlock {sub}"),
        None => "redlock".to_string(),
    };
    let mut lines: Vec<Vec<Inline>> = Vec::new();
    if alternatives.is_empty() {
        lines.push(common.clone());
    }
    for id in &alternatives {
        if let Some(arg) = shown.iter().find(|a| a.get_id().as_str() == *id) {
            let mut line = if lines.is_empty() {
                common.clone()
            } else {
                brief.clone()
            };
            line.push(roman(" "));
            line.extend(usage(arg, true));
            lines.push(line);
        }
    }
    if let (None, Some(first)) = (sub, lines.first_mut()) {
        first.extend([
            roman(" "),
            italic("COMMAND"),
            roman(" ["),
            italic("ARGS"),
            roman("]..."),
        ]);
    }
    for (i, line) in lines.into_iter().enumerate() {
        if i > 0 {
            roff.control("br", []);
        }
        let mut text = vec![bold(name.clone()), roman(" ")];
        text.extend(line);
        roff.text(text);
    }
}

/// Everything but the alternatives: `[GLOBAL OPTIONS]`, the required options, then the
/// optional ones in the order `--help` lists them, a pair that excludes each other as `[A | B]`;
/// when `brief`, every optional option is summed up as `[OPTIONS]`.
fn common_part(cmd: &Command, shown: &[&Arg], alternatives: &[&str], brief: bool) -> Vec<Inline> {
    let mut parts: Vec<Vec<Inline>> = Vec::new();
    let has_optional = shown
        .iter()
        .any(|a| !a.is_positional() && !a.is_required_set() && !alternatives.contains(&a.get_id().as_str()));
    if brief && has_optional {
        parts.push(vec![roman("["), italic("OPTIONS"), roman("]")]);
    } else if cmd.get_arguments().any(|a| a.is_global_set()) && !shown.iter().any(|a| a.is_global_set()) {
        parts.push(vec![roman("["), italic("GLOBAL OPTIONS"), roman("]")]);
    }
    let own: Vec<&Arg> = shown
        .iter()
        .copied()
        .filter(|a| !alternatives.contains(&a.get_id().as_str()))
        .collect();
    let (positionals, options): (Vec<&Arg>, Vec<&Arg>) = own.into_iter().partition(|a| a.is_positional());
    for arg in options.iter().filter(|a| a.is_required_set()) {
        parts.push(usage(arg, true));
    }
    let mut done: Vec<&str> = Vec::new();
    for (i, arg) in options.iter().enumerate() {
        if brief || arg.is_required_set() || done.contains(&arg.get_id().as_str()) {
            continue;
        }
        let partner = options[i + 1..]
            .iter()
            .find(|b| !b.is_required_set() && conflict(cmd, arg, b));
        let mut part = vec![roman("[")];
        part.extend(usage(arg, true));
        if let Some(b) = partner {
            part.push(roman(" | "));
            part.extend(usage(b, true));
            done.push(b.get_id().as_str());
        }
        part.push(roman("]"));
        if repeats(arg) {
            part.push(roman("..."));
        }
        parts.push(part);
    }
    for arg in positionals {
        parts.push(usage(arg, false));
    }
    let mut line = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            line.push(roman(" "));
        }
        line.extend(part);
    }
    line
}

/// One option or positional as typed: `-w DUR`, `--token T`, `--shared`, `SHELL` (`[SHELL]`
/// when optional, unless `bare`: one of a required group's alternatives), and for a command
/// that takes every word after it, `[--] COMMAND [ARGS]...` (`run`: the command starts at `--`
/// or at its first word: a typo never runs, README "How `run` behaves").
fn usage(arg: &Arg, bare: bool) -> Vec<Inline> {
    let value = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map(|name| name.to_string())
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
    if arg.is_positional() {
        if arg.is_trailing_var_arg_set() {
            return vec![
                roman("["),
                bold("--"),
                roman("] "),
                italic(value),
                roman(" ["),
                italic("ARGS"),
                roman("]..."),
            ];
        }
        return if bare || arg.is_required_set() {
            vec![italic(value)]
        } else {
            vec![roman("["), italic(value), roman("]")]
        };
    }
    let flag = match (arg.get_short(), arg.get_long()) {
        (Some(short), _) => format!("-{short}"),
        (None, Some(long)) => format!("--{long}"),
        (None, None) => value.clone(),
    };
    let mut out = vec![bold(flag)];
    if takes_value(arg) {
        out.extend([roman(" "), italic(value)]);
    }
    out
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.takes_values())
}

fn repeats(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append | ArgAction::Count)
}

fn is_help_or_version(arg: &Arg) -> bool {
    matches!(
        arg.get_action(),
        ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
    )
}

/// Whether clap refuses `a` and `b` together, whichever of the two declares it.
fn conflict(cmd: &Command, a: &Arg, b: &Arg) -> bool {
    let names = |x: &Arg| -> Vec<String> {
        cmd.get_arg_conflicts_with(x)
            .iter()
            .map(|c| c.get_id().to_string())
            .collect()
    };
    names(a).contains(&b.get_id().to_string()) || names(b).contains(&a.get_id().to_string())
}
