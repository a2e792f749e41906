
use builtin;
use str;

set edit:completion:arg-completer[redlock] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'redlock'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'redlock'= {
            cand -s 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line'
            cand --server 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line'
            cand --prefix 'Namespace of every key redlock writes'
            cand --connect-timeout 'Per-instance connect limit'
            cand --op-timeout 'Per-instance request limit; one slow instance never stalls a round'
            cand --tls-ca 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system''s roots'
            cand --tls-cert 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key'
            cand --tls-key 'Private key (PEM) of --tls-cert'
            cand -v 'Debug lines on stderr: each round, per instance, with timings'
            cand --verbose 'Debug lines on stderr: each round, per instance, with timings'
            cand -q 'No notices on stderr (errors are still printed)'
            cand --quiet 'No notices on stderr (errors are still printed)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand run 'Hold the lock while a command runs, renewing it; release when it exits'
            cand acquire 'Acquire the lock for the calling script and print its token'
            cand extend 'Renew the lease of a lock you hold'
            cand release 'Release one hold of a lock (or break it with --force)'
            cand inspect 'Show who holds a lock, on every instance, or list every lock'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'redlock;run'= {
            cand -r 'The lock''s name: non-empty UTF-8 without control characters, at most 512 bytes'
            cand --resource 'The lock''s name: non-empty UTF-8 without control characters, at most 512 bytes'
            cand -t 'Lease length; `run`, and `acquire`''s keeper, renew it every ttl/3'
            cand --ttl 'Lease length; `run`, and `acquire`''s keeper, renew it every ttl/3'
            cand -w 'Give up after DUR if the lock is still held [default: wait forever]'
            cand --wait 'Give up after DUR if the lock is still held [default: wait forever]'
            cand -E 'Exit code when the lock could not be had because it is held elsewhere'
            cand --conflict-exit-code 'Exit code when the lock could not be had because it is held elsewhere'
            cand --token 'Who holds the lock; the holder''s token re-enters [default: a fresh random 128-bit token]'
            cand -l 'Up to N holders at once (a counting semaphore); every holder must use the same N'
            cand --limit 'Up to N holders at once (a counting semaphore); every holder must use the same N'
            cand -c 'Run this string with `sh -c` instead of a command and arguments'
            cand --command 'Run this string with `sh -c` instead of a command and arguments'
            cand --kill-after 'After SIGTERM (lock lost or --timeout), wait this long before SIGKILL'
            cand --timeout 'Stop the command after DUR (exit 124, as timeout(1)) [default: no limit]'
            cand --min-hold 'Keep the lock at least DUR after it was acquired, even if the command ends sooner [default: 0s]'
            cand -s 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line'
            cand --server 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line'
            cand --prefix 'Namespace of every key redlock writes'
            cand --connect-timeout 'Per-instance connect limit'
            cand --op-timeout 'Per-instance request limit; one slow instance never stalls a round'
            cand --tls-ca 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system''s roots'
            cand --tls-cert 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key'
            cand --tls-key 'Private key (PEM) of --tls-cert'
            cand -n 'Give up at once if the lock is held'
            cand --no-wait 'Give up at once if the lock is held'
            cand --shared 'A shared hold: shared holders hold together, never with an exclusive one (flock -s)'
            cand --no-record-command 'Record only the program''s name next to the lock, not its arguments (which are recorded with passwords, tokens and keys masked); REDLOCK_RECORD_COMMAND=0 does the same'
            cand --classic 'Lock as every Redlock library does, to share the lock with services: the plain key NAME (the prefix only when given), its value the token (docs/classic.md)'
            cand -v 'Debug lines on stderr: each round, per instance, with timings'
            cand --verbose 'Debug lines on stderr: each round, per instance, with timings'
            cand -q 'No notices on stderr (errors are still printed)'
            cand --quiet 'No notices on stderr (errors are still printed)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'redlock;acquire'= {
            cand -r 'The lock''s name: non-empty UTF-8 without control characters, at most 512 bytes'
            cand --resource 'The lock''s name: non-empty UTF-8 without control characters, at most 512 bytes'
            cand -t 'Lease length; `run`, and `acquire`''s keeper, renew it every ttl/3'
            cand --ttl 'Lease length; `run`, and `acquire`''s keeper, renew it every ttl/3'
            cand -w 'Give up after DUR if the lock is still held [default: wait forever]'
            cand --wait 'Give up after DUR if the lock is still held [default: wait forever]'
            cand -E 'Exit code when the lock could not be had because it is held elsewhere'
            cand --conflict-exit-code 'Exit code when the lock could not be had because it is held elsewhere'
            cand --token 'Who holds the lock; the holder''s token re-enters [default: a fresh random 128-bit token]'
            cand -l 'Up to N holders at once (a counting semaphore); every holder must use the same N'
            cand --limit 'Up to N holders at once (a counting semaphore); every holder must use the same N'
            cand --owner 'The process the hold lasts for [default: the one that ran `redlock acquire`, looking through timeout, sudo, doas, su, runuser and time to the one that ran them]'
            cand -s 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line'
            cand --server 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line'
            cand --prefix 'Namespace of every key redlock writes'
            cand --connect-timeout 'Per-instance connect limit'
            cand --op-timeout 'Per-instance request limit; one slow instance never stalls a round'
            cand --tls-ca 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system''s roots'
            cand --tls-cert 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key'
            cand --tls-key 'Private key (PEM) of --tls-cert'
            cand -n 'Give up at once if the lock is held'
            cand --no-wait 'Give up at once if the lock is held'
            cand --shared 'A shared hold: shared holders hold together, never with an exclusive one (flock -s)'
            cand --no-record-command 'Record only the program''s name next to the lock, not its arguments (which are recorded with passwords, tokens and keys masked); REDLOCK_RECORD_COMMAND=0 does the same'
            cand --classic 'Lock as every Redlock library does, to share the lock with services: the plain key NAME (the prefix only when given), its value the token (docs/classic.md)'
            cand --json 'Print {"resource","token","fence","ttl_ms","validity_ms"} instead of the token'
            cand --no-keep 'A bare lease of --ttl that nothing renews (only `extend`) and that outlives whoever acquired it: for a hold released by a later step (a CI pipeline). Without it, a keeper process renews the lease every ttl/3 until `release` or until the owner exits'
            cand -v 'Debug lines on stderr: each round, per instance, with timings'
            cand --verbose 'Debug lines on stderr: each round, per instance, with timings'
            cand -q 'No notices on stderr (errors are still printed)'
            cand --quiet 'No notices on stderr (errors are still printed)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'redlock;extend'= {
            cand -r 'The lock''s name'
            cand --resource 'The lock''s name'
            cand --token 'The holder''s token (from `acquire`)'
            cand -t 'New lease length, from now; a renewal never shortens a lease that has longer left'
            cand --ttl 'New lease length, from now; a renewal never shortens a lease that has longer left'
            cand -s 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line'
            cand --server 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line'
            cand --prefix 'Namespace of every key redlock writes'
            cand --connect-timeout 'Per-instance connect limit'
            cand --op-timeout 'Per-instance request limit; one slow instance never stalls a round'
            cand --tls-ca 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system''s roots'
            cand --tls-cert 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key'
            cand --tls-key 'Private key (PEM) of --tls-cert'
            cand --classic 'Lock as every Redlock library does, to share the lock with services: the plain key NAME (the prefix only when given), its value the token (docs/classic.md)'
            cand -v 'Debug lines on stderr: each round, per instance, with timings'
            cand --verbose 'Debug lines on stderr: each round, per instance, with timings'
            cand -q 'No notices on stderr (errors are still printed)'
            cand --quiet 'No notices on stderr (errors are still printed)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'redlock;release'= {
            cand -r 'The lock''s name'
            cand --resource 'The lock''s name'
            cand --token 'The holder''s token (from `acquire`); drops one hold'
            cand -s 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line'
            cand --server 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line'
            cand --prefix 'Namespace of every key redlock writes'
            cand --connect-timeout 'Per-instance connect limit'
            cand --op-timeout 'Per-instance request limit; one slow instance never stalls a round'
            cand --tls-ca 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system''s roots'
            cand --tls-cert 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key'
            cand --tls-key 'Private key (PEM) of --tls-cert'
            cand --force 'Break the lock whoever holds it, and print who did'
            cand --classic 'Lock as every Redlock library does, to share the lock with services: the plain key NAME (the prefix only when given), its value the token (docs/classic.md)'
            cand -v 'Debug lines on stderr: each round, per instance, with timings'
            cand --verbose 'Debug lines on stderr: each round, per instance, with timings'
            cand -q 'No notices on stderr (errors are still printed)'
            cand --quiet 'No notices on stderr (errors are still printed)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'redlock;inspect'= {
            cand -r 'One lock''s name; without it, every lock under the prefix'
            cand --resource 'One lock''s name; without it, every lock under the prefix'
            cand -s 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line'
            cand --server 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line'
            cand --prefix 'Namespace of every key redlock writes'
            cand --connect-timeout 'Per-instance connect limit'
            cand --op-timeout 'Per-instance request limit; one slow instance never stalls a round'
            cand --tls-ca 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system''s roots'
            cand --tls-cert 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key'
            cand --tls-key 'Private key (PEM) of --tls-cert'
            cand --json 'Machine-readable output (durations in milliseconds, times in RFC 3339)'
            cand --classic 'Lock as every Redlock library does, to share the lock with services: the plain key NAME (the prefix only when given), its value the token (docs/classic.md)'
            cand -v 'Debug lines on stderr: each round, per instance, with timings'
            cand --verbose 'Debug lines on stderr: each round, per instance, with timings'
            cand -q 'No notices on stderr (errors are still printed)'
            cand --quiet 'No notices on stderr (errors are still printed)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'redlock;completions'= {
            cand -s 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line'
            cand --server 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line'
            cand --prefix 'Namespace of every key redlock writes'
            cand --connect-timeout 'Per-instance connect limit'
            cand --op-timeout 'Per-instance request limit; one slow instance never stalls a round'
            cand --tls-ca 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system''s roots'
            cand --tls-cert 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key'
            cand --tls-key 'Private key (PEM) of --tls-cert'
            cand -v 'Debug lines on stderr: each round, per instance, with timings'
            cand --verbose 'Debug lines on stderr: each round, per instance, with timings'
            cand -q 'No notices on stderr (errors are still printed)'
            cand --quiet 'No notices on stderr (errors are still printed)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'redlock;help'= {
            cand run 'Hold the lock while a command runs, renewing it; release when it exits'
            cand acquire 'Acquire the lock for the calling script and print its token'
            cand extend 'Renew the lease of a lock you hold'
            cand release 'Release one hold of a lock (or break it with --force)'
            cand inspect 'Show who holds a lock, on every instance, or list every lock'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'redlock;help;run'= {
        }
        &'redlock;help;acquire'= {
        }
        &'redlock;help;extend'= {
        }
        &'redlock;help;release'= {
        }
        &'redlock;help;inspect'= {
        }
        &'redlock;help;completions'= {
        }
        &'redlock;help;help'= {
        }
    ]
    $completions[$command]
}
