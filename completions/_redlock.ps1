
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'redlock' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'redlock'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'redlock' {
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line')
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Namespace of every key redlock writes')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Per-instance connect limit')
            [CompletionResult]::new('--op-timeout', '--op-timeout', [CompletionResultType]::ParameterName, 'Per-instance request limit; one slow instance never stalls a round')
            [CompletionResult]::new('--tls-ca', '--tls-ca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system''s roots')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --tls-cert')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Debug lines on stderr: each round, per instance, with timings')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Debug lines on stderr: each round, per instance, with timings')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No notices on stderr (errors are still printed)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No notices on stderr (errors are still printed)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Hold the lock while a command runs, renewing it; release when it exits')
            [CompletionResult]::new('acquire', 'acquire', [CompletionResultType]::ParameterValue, 'Acquire the lock for the calling script and print its token')
            [CompletionResult]::new('extend', 'extend', [CompletionResultType]::ParameterValue, 'Renew the lease of a lock you hold')
            [CompletionResult]::new('release', 'release', [CompletionResultType]::ParameterValue, 'Release one hold of a lock (or break it with --force)')
            [CompletionResult]::new('inspect', 'inspect', [CompletionResultType]::ParameterValue, 'Show who holds a lock, on every instance, or list every lock')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'redlock;run' {
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'The lock''s name: non-empty UTF-8 without control characters, at most 512 bytes')
            [CompletionResult]::new('--resource', '--resource', [CompletionResultType]::ParameterName, 'The lock''s name: non-empty UTF-8 without control characters, at most 512 bytes')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Lease length; `run`, and `acquire`''s keeper, renew it every ttl/3')
            [CompletionResult]::new('--ttl', '--ttl', [CompletionResultType]::ParameterName, 'Lease length; `run`, and `acquire`''s keeper, renew it every ttl/3')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Give up after DUR if the lock is still held [default: wait forever]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Give up after DUR if the lock is still held [default: wait forever]')
            [CompletionResult]::new('-E', '-E ', [CompletionResultType]::ParameterName, 'Exit code when the lock could not be had because it is held elsewhere')
            [CompletionResult]::new('--conflict-exit-code', '--conflict-exit-code', [CompletionResultType]::ParameterName, 'Exit code when the lock could not be had because it is held elsewhere')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Who holds the lock; the holder''s token re-enters [default: a fresh random 128-bit token]')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Up to N holders at once (a counting semaphore); every holder must use the same N')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Up to N holders at once (a counting semaphore); every holder must use the same N')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Run this string with `sh -c` instead of a command and arguments')
            [CompletionResult]::new('--command', '--command', [CompletionResultType]::ParameterName, 'Run this string with `sh -c` instead of a command and arguments')
            [CompletionResult]::new('--kill-after', '--kill-after', [CompletionResultType]::ParameterName, 'After SIGTERM (lock lost or --timeout), wait this long before SIGKILL')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Stop the command after DUR (exit 124, as timeout(1)) [default: no limit]')
            [CompletionResult]::new('--min-hold', '--min-hold', [CompletionResultType]::ParameterName, 'Keep the lock at least DUR after it was acquired, even if the command ends sooner [default: 0s]')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line')
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Namespace of every key redlock writes')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Per-instance connect limit')
            [CompletionResult]::new('--op-timeout', '--op-timeout', [CompletionResultType]::ParameterName, 'Per-instance request limit; one slow instance never stalls a round')
            [CompletionResult]::new('--tls-ca', '--tls-ca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system''s roots')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --tls-cert')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Give up at once if the lock is held')
            [CompletionResult]::new('--no-wait', '--no-wait', [CompletionResultType]::ParameterName, 'Give up at once if the lock is held')
            [CompletionResult]::new('--shared', '--shared', [CompletionResultType]::ParameterName, 'A shared hold: shared holders hold together, never with an exclusive one (flock -s)')
            [CompletionResult]::new('--no-record-command', '--no-record-command', [CompletionResultType]::ParameterName, 'Record only the program''s name next to the lock, not its arguments (which are recorded with passwords, tokens and keys masked); REDLOCK_RECORD_COMMAND=0 does the same')
            [CompletionResult]::new('--classic', '--classic', [CompletionResultType]::ParameterName, 'Lock as every Redlock library does, to share the lock with services: the plain key NAME (the prefix only when given), its value the token (docs/classic.md)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Debug lines on stderr: each round, per instance, with timings')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Debug lines on stderr: each round, per instance, with timings')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No notices on stderr (errors are still printed)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No notices on stderr (errors are still printed)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'redlock;acquire' {
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'The lock''s name: non-empty UTF-8 without control characters, at most 512 bytes')
            [CompletionResult]::new('--resource', '--resource', [CompletionResultType]::ParameterName, 'The lock''s name: non-empty UTF-8 without control characters, at most 512 bytes')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Lease length; `run`, and `acquire`''s keeper, renew it every ttl/3')
            [CompletionResult]::new('--ttl', '--ttl', [CompletionResultType]::ParameterName, 'Lease length; `run`, and `acquire`''s keeper, renew it every ttl/3')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Give up after DUR if the lock is still held [default: wait forever]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Give up after DUR if the lock is still held [default: wait forever]')
            [CompletionResult]::new('-E', '-E ', [CompletionResultType]::ParameterName, 'Exit code when the lock could not be had because it is held elsewhere')
            [CompletionResult]::new('--conflict-exit-code', '--conflict-exit-code', [CompletionResultType]::ParameterName, 'Exit code when the lock could not be had because it is held elsewhere')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Who holds the lock; the holder''s token re-enters [default: a fresh random 128-bit token]')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Up to N holders at once (a counting semaphore); every holder must use the same N')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Up to N holders at once (a counting semaphore); every holder must use the same N')
            [CompletionResult]::new('--owner', '--owner', [CompletionResultType]::ParameterName, 'The process the hold lasts for [default: the one that ran `redlock acquire`, looking through timeout, sudo, doas, su, runuser and time to the one that ran them]')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line')
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Namespace of every key redlock writes')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Per-instance connect limit')
            [CompletionResult]::new('--op-timeout', '--op-timeout', [CompletionResultType]::ParameterName, 'Per-instance request limit; one slow instance never stalls a round')
            [CompletionResult]::new('--tls-ca', '--tls-ca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system''s roots')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --tls-cert')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Give up at once if the lock is held')
            [CompletionResult]::new('--no-wait', '--no-wait', [CompletionResultType]::ParameterName, 'Give up at once if the lock is held')
            [CompletionResult]::new('--shared', '--shared', [CompletionResultType]::ParameterName, 'A shared hold: shared holders hold together, never with an exclusive one (flock -s)')
            [CompletionResult]::new('--no-record-command', '--no-record-command', [CompletionResultType]::ParameterName, 'Record only the program''s name next to the lock, not its arguments (which are recorded with passwords, tokens and keys masked); REDLOCK_RECORD_COMMAND=0 does the same')
            [CompletionResult]::new('--classic', '--classic', [CompletionResultType]::ParameterName, 'Lock as every Redlock library does, to share the lock with services: the plain key NAME (the prefix only when given), its value the token (docs/classic.md)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print {"resource","token","fence","ttl_ms","validity_ms"} instead of the token')
            [CompletionResult]::new('--no-keep', '--no-keep', [CompletionResultType]::ParameterName, 'A bare lease of --ttl that nothing renews (only `extend`) and that outlives whoever acquired it: for a hold released by a later step (a CI pipeline). Without it, a keeper process renews the lease every ttl/3 until `release` or until the owner exits')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Debug lines on stderr: each round, per instance, with timings')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Debug lines on stderr: each round, per instance, with timings')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No notices on stderr (errors are still printed)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No notices on stderr (errors are still printed)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'redlock;extend' {
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'The lock''s name')
            [CompletionResult]::new('--resource', '--resource', [CompletionResultType]::ParameterName, 'The lock''s name')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'The holder''s token (from `acquire`)')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'New lease length, from now; a renewal never shortens a lease that has longer left')
            [CompletionResult]::new('--ttl', '--ttl', [CompletionResultType]::ParameterName, 'New lease length, from now; a renewal never shortens a lease that has longer left')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line')
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Namespace of every key redlock writes')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Per-instance connect limit')
            [CompletionResult]::new('--op-timeout', '--op-timeout', [CompletionResultType]::ParameterName, 'Per-instance request limit; one slow instance never stalls a round')
            [CompletionResult]::new('--tls-ca', '--tls-ca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system''s roots')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --tls-cert')
            [CompletionResult]::new('--classic', '--classic', [CompletionResultType]::ParameterName, 'Lock as every Redlock library does, to share the lock with services: the plain key NAME (the prefix only when given), its value the token (docs/classic.md)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Debug lines on stderr: each round, per instance, with timings')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Debug lines on stderr: each round, per instance, with timings')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No notices on stderr (errors are still printed)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No notices on stderr (errors are still printed)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'redlock;release' {
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'The lock''s name')
            [CompletionResult]::new('--resource', '--resource', [CompletionResultType]::ParameterName, 'The lock''s name')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'The holder''s token (from `acquire`); drops one hold')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line')
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Namespace of every key redlock writes')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Per-instance connect limit')
            [CompletionResult]::new('--op-timeout', '--op-timeout', [CompletionResultType]::ParameterName, 'Per-instance request limit; one slow instance never stalls a round')
            [CompletionResult]::new('--tls-ca', '--tls-ca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system''s roots')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --tls-cert')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Break the lock whoever holds it, and print who did')
            [CompletionResult]::new('--classic', '--classic', [CompletionResultType]::ParameterName, 'Lock as every Redlock library does, to share the lock with services: the plain key NAME (the prefix only when given), its value the token (docs/classic.md)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Debug lines on stderr: each round, per instance, with timings')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Debug lines on stderr: each round, per instance, with timings')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No notices on stderr (errors are still printed)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No notices on stderr (errors are still printed)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'redlock;inspect' {
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'One lock''s name; without it, every lock under the prefix')
            [CompletionResult]::new('--resource', '--resource', [CompletionResultType]::ParameterName, 'One lock''s name; without it, every lock under the prefix')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line')
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Namespace of every key redlock writes')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Per-instance connect limit')
            [CompletionResult]::new('--op-timeout', '--op-timeout', [CompletionResultType]::ParameterName, 'Per-instance request limit; one slow instance never stalls a round')
            [CompletionResult]::new('--tls-ca', '--tls-ca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system''s roots')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --tls-cert')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable output (durations in milliseconds, times in RFC 3339)')
            [CompletionResult]::new('--classic', '--classic', [CompletionResultType]::ParameterName, 'Lock as every Redlock library does, to share the lock with services: the plain key NAME (the prefix only when given), its value the token (docs/classic.md)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Debug lines on stderr: each round, per instance, with timings')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Debug lines on stderr: each round, per instance, with timings')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No notices on stderr (errors are still printed)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No notices on stderr (errors are still printed)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'redlock;completions' {
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Redis instance URL; repeat it or give a comma-separated list. Quorum is N/2 + 1. redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path/to/sock. Put URLs with passwords in REDLOCK_SERVERS, not on the command line')
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Namespace of every key redlock writes')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Per-instance connect limit')
            [CompletionResult]::new('--op-timeout', '--op-timeout', [CompletionResultType]::ParameterName, 'Per-instance request limit; one slow instance never stalls a round')
            [CompletionResult]::new('--tls-ca', '--tls-ca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) that rediss:// servers are verified against, instead of the system''s roots')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for rediss:// servers that require one; needs --tls-key')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --tls-cert')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Debug lines on stderr: each round, per instance, with timings')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Debug lines on stderr: each round, per instance, with timings')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No notices on stderr (errors are still printed)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No notices on stderr (errors are still printed)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'redlock;help' {
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Hold the lock while a command runs, renewing it; release when it exits')
            [CompletionResult]::new('acquire', 'acquire', [CompletionResultType]::ParameterValue, 'Acquire the lock for the calling script and print its token')
            [CompletionResult]::new('extend', 'extend', [CompletionResultType]::ParameterValue, 'Renew the lease of a lock you hold')
            [CompletionResult]::new('release', 'release', [CompletionResultType]::ParameterValue, 'Release one hold of a lock (or break it with --force)')
            [CompletionResult]::new('inspect', 'inspect', [CompletionResultType]::ParameterValue, 'Show who holds a lock, on every instance, or list every lock')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'redlock;help;run' {
            break
        }
        'redlock;help;acquire' {
            break
        }
        'redlock;help;extend' {
            break
        }
        'redlock;help;release' {
            break
        }
        'redlock;help;inspect' {
            break
        }
        'redlock;help;completions' {
            break
        }
        'redlock;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
