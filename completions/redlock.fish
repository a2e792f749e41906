# redlock run: the command starts at `--`, or at the first word that is neither an option nor
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
        if contains -- $token -r -t -w -E -l -c -s --resource --ttl --wait --conflict-exit-code --token --limit --command --kill-after --timeout --min-hold --server --prefix --connect-timeout --op-timeout --tls-ca --tls-cert --tls-key
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

complete -c redlock -n __fish_redlock_run_has_command -f -a "(__fish_complete_subcommand --fcs-skip=2 -r -t -w -E -l -c -s --resource --ttl --wait --conflict-exit-code --token --limit --command --kill-after --timeout --min-hold --server --prefix --connect-timeout --op-timeout --tls-ca --tls-cert --tls-key)"

# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_redlock_global_optspecs
    string join \n s/server= prefix= connect-timeout= op-timeout= tls-ca= tls-cert= tls-key= v/verbose q/quiet h/help V/version
end

function __fish_redlock_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_redlock_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_redlock_using_subcommand
    __fish_redlock_run_has_command
    and return 1
    set -l cmd (__fish_redlock_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c redlock -n "__fish_redlock_needs_command" -s s -l server -d 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line' -r -f
complete -c redlock -n "__fish_redlock_needs_command" -l prefix -d 'Namespace of every key redlock writes' -r -f
complete -c redlock -n "__fish_redlock_needs_command" -l connect-timeout -d 'Per-instance connect limit' -r -f
complete -c redlock -n "__fish_redlock_needs_command" -l op-timeout -d 'Per-instance request limit; one slow instance never stalls a round' -r -f
complete -c redlock -n "__fish_redlock_needs_command" -l tls-ca -d 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system\'s roots' -r -F
complete -c redlock -n "__fish_redlock_needs_command" -l tls-cert -d 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key' -r -F
complete -c redlock -n "__fish_redlock_needs_command" -l tls-key -d 'Private key (PEM) of --tls-cert' -r -F
complete -c redlock -n "__fish_redlock_needs_command" -s v -l verbose -d 'Debug lines on stderr: each round, per instance, with timings'
complete -c redlock -n "__fish_redlock_needs_command" -s q -l quiet -d 'No notices on stderr (errors are still printed)'
complete -c redlock -n "__fish_redlock_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c redlock -n "__fish_redlock_needs_command" -s V -l version -d 'Print version'
complete -c redlock -n "__fish_redlock_needs_command" -f -a "run" -d 'Hold the lock while a command runs, renewing it; release when it exits'
complete -c redlock -n "__fish_redlock_needs_command" -f -a "acquire" -d 'Acquire the lock for the calling script and print its token'
complete -c redlock -n "__fish_redlock_needs_command" -f -a "extend" -d 'Renew the lease of a lock you hold'
complete -c redlock -n "__fish_redlock_needs_command" -f -a "release" -d 'Release one hold of a lock (or break it with --force)'
complete -c redlock -n "__fish_redlock_needs_command" -f -a "inspect" -d 'Show who holds a lock, on every instance, or list every lock'
complete -c redlock -n "__fish_redlock_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c redlock -n "__fish_redlock_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c redlock -n "__fish_redlock_using_subcommand run" -s r -l resource -d 'The lock\'s name: non-empty UTF-8 without control characters, at most 512 bytes' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand run" -s t -l ttl -d 'Lease length; `run`, and `acquire`\'s keeper, renew it every ttl/3' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand run" -s w -l wait -d 'Give up after DUR if the lock is still held [default: wait forever]' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand run" -s E -l conflict-exit-code -d 'Exit code when the lock could not be had because it is held elsewhere' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand run" -l token -d 'Who holds the lock; the holder\'s token re-enters [default: a fresh random 128-bit token]' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand run" -s l -l limit -d 'Up to N holders at once (a counting semaphore); every holder must use the same N' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand run" -s c -l command -d 'Run this string with `sh -c` instead of a command and arguments' -r -f -a "(__fish_complete_command)"
complete -c redlock -n "__fish_redlock_using_subcommand run" -l kill-after -d 'After SIGTERM (lock lost or --timeout), wait this long before SIGKILL' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand run" -l timeout -d 'Stop the command after DUR (exit 124, as timeout(1)) [default: no limit]' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand run" -l min-hold -d 'Keep the lock at least DUR after it was acquired, even if the command ends sooner [default: 0s]' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand run" -s s -l server -d 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand run" -l prefix -d 'Namespace of every key redlock writes' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand run" -l connect-timeout -d 'Per-instance connect limit' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand run" -l op-timeout -d 'Per-instance request limit; one slow instance never stalls a round' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand run" -l tls-ca -d 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system\'s roots' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand run" -l tls-cert -d 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand run" -l tls-key -d 'Private key (PEM) of --tls-cert' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand run" -s n -l no-wait -d 'Give up at once if the lock is held'
complete -c redlock -n "__fish_redlock_using_subcommand run" -l shared -d 'A shared hold: shared holders hold together, never with an exclusive one (flock -s)'
complete -c redlock -n "__fish_redlock_using_subcommand run" -l no-record-command -d 'Record only the program\'s name next to the lock, not its arguments (which are recorded with passwords, tokens and keys masked); REDLOCK_RECORD_COMMAND=0 does the same'
complete -c redlock -n "__fish_redlock_using_subcommand run" -l classic -d 'Lock as every Redlock library does, to share the lock with services: the plain key NAME (the prefix only when given), its value the token (docs/classic.md)'
complete -c redlock -n "__fish_redlock_using_subcommand run" -s v -l verbose -d 'Debug lines on stderr: each round, per instance, with timings'
complete -c redlock -n "__fish_redlock_using_subcommand run" -s q -l quiet -d 'No notices on stderr (errors are still printed)'
complete -c redlock -n "__fish_redlock_using_subcommand run" -s h -l help -d 'Print help'
complete -c redlock -n "__fish_redlock_using_subcommand run" -s V -l version -d 'Print version'
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -s r -l resource -d 'The lock\'s name: non-empty UTF-8 without control characters, at most 512 bytes' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -s t -l ttl -d 'Lease length; `run`, and `acquire`\'s keeper, renew it every ttl/3' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -s w -l wait -d 'Give up after DUR if the lock is still held [default: wait forever]' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -s E -l conflict-exit-code -d 'Exit code when the lock could not be had because it is held elsewhere' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -l token -d 'Who holds the lock; the holder\'s token re-enters [default: a fresh random 128-bit token]' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -s l -l limit -d 'Up to N holders at once (a counting semaphore); every holder must use the same N' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -l owner -d 'The process the hold lasts for [default: the one that ran `redlock acquire`, looking through timeout, sudo, doas, su, runuser and time to the one that ran them]' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -s s -l server -d 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -l prefix -d 'Namespace of every key redlock writes' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -l connect-timeout -d 'Per-instance connect limit' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -l op-timeout -d 'Per-instance request limit; one slow instance never stalls a round' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -l tls-ca -d 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system\'s roots' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -l tls-cert -d 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -l tls-key -d 'Private key (PEM) of --tls-cert' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -s n -l no-wait -d 'Give up at once if the lock is held'
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -l shared -d 'A shared hold: shared holders hold together, never with an exclusive one (flock -s)'
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -l no-record-command -d 'Record only the program\'s name next to the lock, not its arguments (which are recorded with passwords, tokens and keys masked); REDLOCK_RECORD_COMMAND=0 does the same'
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -l classic -d 'Lock as every Redlock library does, to share the lock with services: the plain key NAME (the prefix only when given), its value the token (docs/classic.md)'
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -l json -d 'Print {"resource","token","fence","ttl_ms","validity_ms"} instead of the token'
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -l no-keep -d 'A bare lease of --ttl that nothing renews (only `extend`) and that outlives whoever acquired it: for a hold released by a later step (a CI pipeline). Without it, a keeper process renews the lease every ttl/3 until `release` or until the owner exits'
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -s v -l verbose -d 'Debug lines on stderr: each round, per instance, with timings'
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -s q -l quiet -d 'No notices on stderr (errors are still printed)'
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c redlock -n "__fish_redlock_using_subcommand acquire" -s V -l version -d 'Print version'
complete -c redlock -n "__fish_redlock_using_subcommand extend" -s r -l resource -d 'The lock\'s name' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand extend" -l token -d 'The holder\'s token (from `acquire`)' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand extend" -s t -l ttl -d 'New lease length, from now; a renewal never shortens a lease that has longer left' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand extend" -s s -l server -d 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand extend" -l prefix -d 'Namespace of every key redlock writes' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand extend" -l connect-timeout -d 'Per-instance connect limit' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand extend" -l op-timeout -d 'Per-instance request limit; one slow instance never stalls a round' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand extend" -l tls-ca -d 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system\'s roots' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand extend" -l tls-cert -d 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand extend" -l tls-key -d 'Private key (PEM) of --tls-cert' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand extend" -l classic -d 'Lock as every Redlock library does, to share the lock with services: the plain key NAME (the prefix only when given), its value the token (docs/classic.md)'
complete -c redlock -n "__fish_redlock_using_subcommand extend" -s v -l verbose -d 'Debug lines on stderr: each round, per instance, with timings'
complete -c redlock -n "__fish_redlock_using_subcommand extend" -s q -l quiet -d 'No notices on stderr (errors are still printed)'
complete -c redlock -n "__fish_redlock_using_subcommand extend" -s h -l help -d 'Print help'
complete -c redlock -n "__fish_redlock_using_subcommand extend" -s V -l version -d 'Print version'
complete -c redlock -n "__fish_redlock_using_subcommand release" -s r -l resource -d 'The lock\'s name' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand release" -l token -d 'The holder\'s token (from `acquire`); drops one hold' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand release" -s s -l server -d 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand release" -l prefix -d 'Namespace of every key redlock writes' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand release" -l connect-timeout -d 'Per-instance connect limit' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand release" -l op-timeout -d 'Per-instance request limit; one slow instance never stalls a round' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand release" -l tls-ca -d 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system\'s roots' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand release" -l tls-cert -d 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand release" -l tls-key -d 'Private key (PEM) of --tls-cert' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand release" -l force -d 'Break the lock whoever holds it, and print who did'
complete -c redlock -n "__fish_redlock_using_subcommand release" -l classic -d 'Lock as every Redlock library does, to share the lock with services: the plain key NAME (the prefix only when given), its value the token (docs/classic.md)'
complete -c redlock -n "__fish_redlock_using_subcommand release" -s v -l verbose -d 'Debug lines on stderr: each round, per instance, with timings'
complete -c redlock -n "__fish_redlock_using_subcommand release" -s q -l quiet -d 'No notices on stderr (errors are still printed)'
complete -c redlock -n "__fish_redlock_using_subcommand release" -s h -l help -d 'Print help'
complete -c redlock -n "__fish_redlock_using_subcommand release" -s V -l version -d 'Print version'
complete -c redlock -n "__fish_redlock_using_subcommand inspect" -s r -l resource -d 'One lock\'s name; without it, every lock under the prefix' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand inspect" -s s -l server -d 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand inspect" -l prefix -d 'Namespace of every key redlock writes' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand inspect" -l connect-timeout -d 'Per-instance connect limit' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand inspect" -l op-timeout -d 'Per-instance request limit; one slow instance never stalls a round' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand inspect" -l tls-ca -d 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system\'s roots' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand inspect" -l tls-cert -d 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand inspect" -l tls-key -d 'Private key (PEM) of --tls-cert' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand inspect" -l json -d 'Machine-readable output (durations in milliseconds, times in RFC 3339)'
complete -c redlock -n "__fish_redlock_using_subcommand inspect" -l classic -d 'Lock as every Redlock library does, to share the lock with services: the plain key NAME (the prefix only when given), its value the token (docs/classic.md)'
complete -c redlock -n "__fish_redlock_using_subcommand inspect" -s v -l verbose -d 'Debug lines on stderr: each round, per instance, with timings'
complete -c redlock -n "__fish_redlock_using_subcommand inspect" -s q -l quiet -d 'No notices on stderr (errors are still printed)'
complete -c redlock -n "__fish_redlock_using_subcommand inspect" -s h -l help -d 'Print help'
complete -c redlock -n "__fish_redlock_using_subcommand inspect" -s V -l version -d 'Print version'
complete -c redlock -n "__fish_redlock_using_subcommand completions" -s s -l server -d 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand completions" -l prefix -d 'Namespace of every key redlock writes' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand completions" -l connect-timeout -d 'Per-instance connect limit' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand completions" -l op-timeout -d 'Per-instance request limit; one slow instance never stalls a round' -r -f
complete -c redlock -n "__fish_redlock_using_subcommand completions" -l tls-ca -d 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system\'s roots' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand completions" -l tls-cert -d 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand completions" -l tls-key -d 'Private key (PEM) of --tls-cert' -r -F
complete -c redlock -n "__fish_redlock_using_subcommand completions" -s v -l verbose -d 'Debug lines on stderr: each round, per instance, with timings'
complete -c redlock -n "__fish_redlock_using_subcommand completions" -s q -l quiet -d 'No notices on stderr (errors are still printed)'
complete -c redlock -n "__fish_redlock_using_subcommand completions" -s h -l help -d 'Print help'
complete -c redlock -n "__fish_redlock_using_subcommand completions" -s V -l version -d 'Print version'
complete -c redlock -n "__fish_redlock_using_subcommand help; and not __fish_seen_subcommand_from run acquire extend release inspect completions help" -f -a "run" -d 'Hold the lock while a command runs, renewing it; release when it exits'
complete -c redlock -n "__fish_redlock_using_subcommand help; and not __fish_seen_subcommand_from run acquire extend release inspect completions help" -f -a "acquire" -d 'Acquire the lock for the calling script and print its token'
complete -c redlock -n "__fish_redlock_using_subcommand help; and not __fish_seen_subcommand_from run acquire extend release inspect completions help" -f -a "extend" -d 'Renew the lease of a lock you hold'
complete -c redlock -n "__fish_redlock_using_subcommand help; and not __fish_seen_subcommand_from run acquire extend release inspect completions help" -f -a "release" -d 'Release one hold of a lock (or break it with --force)'
complete -c redlock -n "__fish_redlock_using_subcommand help; and not __fish_seen_subcommand_from run acquire extend release inspect completions help" -f -a "inspect" -d 'Show who holds a lock, on every instance, or list every lock'
complete -c redlock -n "__fish_redlock_using_subcommand help; and not __fish_seen_subcommand_from run acquire extend release inspect completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c redlock -n "__fish_redlock_using_subcommand help; and not __fish_seen_subcommand_from run acquire extend release inspect completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
