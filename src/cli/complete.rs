//! Completion scripts: clap_complete's, generated from the definition in `args.rs`, plus what
//! it cannot say for bash and fish: `run`'s command. After `--`, or from the first word that is
//! neither an option nor an option's value, the words are a command and its arguments, and
//! complete as that command's own (`redlock run -r x -- <TAB>` offers commands, as `sudo` and
//! `timeout` do). zsh needs nothing more: clap gives it `_cmdambivalent` for the command.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::args::Cli;

/// The completion script for `shell`, as `redlock completions SHELL` prints it.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "redlock", &mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let options = value_options();
    let text = match shell {
        Shell::Bash => bash(text, &options),
        Shell::Fish => fish(text, &options),
        _ => text,
    };
    text.into_bytes()
}

/// Every option of `run` that takes a value (its own and the global ones), as typed: `-w`,
/// `--wait`, …: the word after one of them is its value, not the command.
fn value_options() -> Vec<String> {
    let mut cli = Cli::command();
    cli.build();
    let Some(run) = cli.find_subcommand("run") else {
        return Vec::new();
    };
    let mut options = Vec::new();
    for arg in run.get_arguments().filter(|a| !a.is_positional()) {
        if !arg.get_num_args().is_some_and(|n| n.takes_values()) {
            continue;
        }
        options.extend(arg.get_short().map(|s| format!("-{s}")));
        options.extend(arg.get_long().map(|l| format!("--{l}")));
    }
    options
}

/// Bash: a function that finds where `run`'s command starts and hands the words from there to
/// bash-completion's `_command_offset` (or, without bash-completion, `compgen -c` for the
/// command's name and file names after it), called first in clap's `run` branch.
fn bash(script: String, options: &[String]) -> String {
    let branch = "        redlock__subcmd__run)\n";
    let hook = "            if _redlock_run_command; then\n                return 0\n            fi\n";
    let script = script.replacen(branch, &format!("{branch}{hook}"), 1);
    let function = BASH_FUNCTION.replace("@OPTIONS@", &options.join("|"));
    // Before clap's `complete -F` lines, so the function exists when they take effect.
    match script.find("if [[ \"${BASH_VERSINFO[0]}\" -eq 4") {
        Some(at) => format!("{}{function}\n{}", &script[..at], &script[at..]),
        None => format!("{script}\n{function}"),
    }
}

const BASH_FUNCTION: &str = r#"# redlock run: the command starts at `--`, or at the first word that is neither an option nor
# an option's value; from there on, the words complete as that command's own.
_redlock_run_command() {
    local i word start=0 in_run=0
    for (( i = 1; i < COMP_CWORD; i++ )); do
        word=${COMP_WORDS[i]}
        case $word in
            @OPTIONS@)
                # Its value is the next word (`--wait=5s` is three words to bash: skip two).
                (( i++ ))
                [[ ${COMP_WORDS[i]} == = ]] && (( i++ ))
                continue ;;
            --)
                (( in_run )) && { start=$(( i + 1 )); break; }
                continue ;;
            -*) continue ;;
        esac
        if (( in_run )); then
            start=$i
            break
        fi
        [[ $word == run ]] || return 1
        in_run=1
    done
    # Nothing but options so far: the word being completed is the command, unless it is an
    # option (`-…`) or the value of the option before it (then the loop went past it).
    if (( in_run && start == 0 && i == COMP_CWORD )) && [[ ${COMP_WORDS[i]} != -* ]]; then
        start=$i
    fi
    (( start > 0 && start <= COMP_CWORD )) || return 1
    if declare -F _command_offset >/dev/null; then
        _command_offset "$start"
    elif (( start == COMP_CWORD )); then
        COMPREPLY=( $(compgen -c -- "${COMP_WORDS[COMP_CWORD]}") )
    else
        COMPREPLY=( $(compgen -f -- "${COMP_WORDS[COMP_CWORD]}") )
    fi
    return 0
}
"#;

/// Fish: once `run`'s command has started, redlock's own completions step aside (clap's
/// `__fish_redlock_using_subcommand` says no) and fish's `__fish_complete_subcommand` completes
/// the command and its arguments.
fn fish(script: String, options: &[String]) -> String {
    let using = "function __fish_redlock_using_subcommand\n";
    let guard = "    __fish_redlock_run_has_command\n    and return 1\n";
    let script = script.replacen(using, &format!("{using}{guard}"), 1);
    // `__fish_complete_subcommand` takes its own `--fcs-…` flags first, and stops reading them
    // at the first word that does not start with `--` and a letter: short options first.
    let mut words: Vec<&str> = options.iter().map(String::as_str).collect();
    words.sort_by_key(|o| o.starts_with("--"));
    let function = FISH_FUNCTION.replace("@OPTIONS@", &words.join(" "));
    format!("{function}\n{script}")
}

const FISH_FUNCTION: &str = r#"# redlock run: the command starts at `--`, or at the first word that is neither an option nor
# an option's value; from there on, the words complete as that command's own.
function __fish_redlock_run_has_command
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l in_run 0
    set -l value 0
    for token in $tokens
        if test $value = 1
            set value 0
            continue
        end
        if contains -- $token @OPTIONS@
            set value 1
            continue
        end
        switch $token
            case --
                test $in_run = 1
                and return 0
                continue
            case '-*'
                continue
        end
        test $in_run = 1
        and return 0
        test "$token" = run
        or return 1
        set in_run 1
    end
    # Nothing but options so far: the word being completed is the command, unless it is an
    # option or the value of the option before it.
    test $in_run = 1 -a $value = 0
    and not string match -q -- '-*' (commandline -ct)
end

complete -c redlock -n __fish_redlock_run_has_command -f -a "(__fish_complete_subcommand --fcs-skip=2 @OPTIONS@)"
"#;
