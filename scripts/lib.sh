# shellcheck shell=bash
# Shell helpers shared by scripts/ (benches, test, demo) and slurm/test-*. Bash only; source it,
# never run it:   . "$repo/scripts/lib.sh"
# Sourcing defines functions and the check counters, nothing else: it runs no command.

# --- numbers ---------------------------------------------------------------------------------

# ratio A B [FORMAT]: A / B with printf FORMAT (default %.2f; the benches' three-digit figures
# pass %.3f).
ratio() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { printf f, a / b }'; }

# median [FORMAT]: takes numbers on standard input, one per line (any order), and prints their
# median with printf FORMAT (default %.2f). For an even count, the mean of the two middle ones.
median() {
    sort -g | awk -v f="${1:-%.2f}" '{ v[NR] = $1 }
        END { m = int((NR + 1) / 2); printf f, NR % 2 ? v[m] : (v[m] + v[m + 1]) / 2 }'
}

# median_seconds REPS SETUP COMMAND...: the median wall time in seconds (%.3f) of REPS runs of
# COMMAND as the user (as_user); the shell command SETUP runs as the user, untimed, before each
# run. Exits the script if COMMAND fails: a failed run is no figure.
median_seconds() {
    local reps=$1 setup=$2 i s e
    shift 2
    for ((i = 0; i < reps; i++)); do
        as_user sh -c "$setup" >/dev/null 2>&1
        sync
        s=$EPOCHREALTIME
        as_user "$@" >/dev/null 2>&1 || { echo "${0##*/}: failed: $*" >&2; exit 1; }
        e=$EPOCHREALTIME
        awk -v s="$s" -v e="$e" 'BEGIN { printf "%.4f\n", e - s }'
    done | median %.3f
}

# --- the unprivileged user -------------------------------------------------------------------

# as_user COMMAND...: COMMAND as $user when running as root (runuser keeps the environment),
# else as the caller. Settings a script gives once (or for one call, as NAME=VALUE as_user ...):
#   as_user_env=(NAME=VALUE ...)  added to the environment; starting with -i, instead of it
#   as_user_dir=DIR               the working directory (the caller's may be closed to the user)
#   T=SECONDS, or as_user_timeout  stop COMMAND after that long (timeout(1), status 124)
as_user() {
    local run=() limit=${T:-${as_user_timeout:-}}
    [ "$(id -u)" -eq 0 ] && run=(runuser -u "$user" --)
    [ -n "$limit" ] && run=(timeout "$limit" "${run[@]}")
    (
        if [ -n "${as_user_dir:-}" ]; then cd "$as_user_dir" || exit; fi
        exec "${run[@]}" env "${as_user_env[@]}" "$@"
    )
}

# --- a registry of our own -------------------------------------------------------------------

# start_registry DIR ADDRESS [--access-log]: Debian's docker-registry on a free port of ADDRESS
# (127.0.0.1, or the dev cluster's bridge address that its nodes reach), storing in DIR/data,
# logging to DIR/log (with --access-log, one line per request as well). Returns once it accepts
# connections, with registry=ADDRESS:PORT and registry_pid set; stop_registry ends it.
start_registry() {
    local dir=$1 address=$2 access_disabled=true port i
    [ "${3:-}" = --access-log ] && access_disabled=false
    [ -x /usr/bin/docker-registry ] ||
        { echo "${0##*/}: /usr/bin/docker-registry is not installed (scripts/deps installs it)" >&2; return 1; }
    mkdir -p "$dir"
    : >"$dir/log"
    # A port nobody answers on may still be taken before the registry binds it: then it exits,
    # and the next attempt takes another port.
    for _ in 1 2 3 4 5; do
        for i in $(seq 50); do
            port=$((20000 + RANDOM % 20000))
            (exec 3<>"/dev/tcp/$address/$port") 2>/dev/null || break
        done
        printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: %s\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s:%s\n' \
            "$access_disabled" "$dir/data" "$address" "$port" >"$dir/config.yml"
        # Appending: a caller may empty the log to count only later requests.
        /usr/bin/docker-registry serve "$dir/config.yml" >>"$dir/log" 2>&1 &
        registry_pid=$!
        registry=$address:$port
        for i in $(seq 100); do
            (exec 3<>"/dev/tcp/$address/$port") 2>/dev/null && return 0
            kill -0 "$registry_pid" 2>/dev/null || break
            sleep 0.1
        done
        stop_registry
    done
    echo "${0##*/}: docker-registry did not start on $address: $(tail -3 "$dir/log")" >&2
    return 1
}
# Always succeeds (it runs in EXIT traps of set -e scripts, before their other clean-up).
stop_registry() {
    [ -n "${registry_pid:-}" ] || return 0
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
    registry_pid=
}

# --- checks (slurm/test-*) -------------------------------------------------------------------

# One line per check, "ok   NAME" or "FAIL NAME" followed by the first fail_lines lines of
# $out (what the check looked at); report prints the verdict line "N passed, N failed" (which
# scripts/test reads) and returns non-zero if any check failed.
passed=0 failed=0 out="" fail_lines=20
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() {
    failed=$((failed + 1))
    echo "FAIL $1"
    [ -z "$out" ] || sed 's/^/     | /' <<<"$out" | head -n "$fail_lines"
}
# check NAME COMMAND...: passes if COMMAND succeeds.
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}
# has PATTERN: $out has a line matching the grep PATTERN. line TEXT: $out has TEXT as a whole
# line (srun may add lines of its own, such as "job N queued and waiting for resources").
has() { grep -q -- "$1" <<<"$out"; }
line() { grep -qx -- "$1" <<<"$out"; }
report() {
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}

# --- quiet phases ----------------------------------------------------------------------------

# phase LOG MESSAGE COMMAND...: one line for a long phase instead of its output. COMMAND's
# output goes to LOG; on a terminal the line shows the elapsed time and the compiler's [n/N]
# counter as they change, elsewhere a line a minute says it is still going. Ends the line with
# the time taken; on failure prints LOG's last 40 lines and returns COMMAND's status.
phase() {
    local log=$1 message=$2 begin=$SECONDS status=0 pid tty=0 step next=60
    shift 2
    mkdir -p "$(dirname "$log")"
    [ -t 2 ] && tty=1
    if [ $tty = 1 ]; then printf '%s …' "$message" >&2; else echo "$message …" >&2; fi
    "$@" >"$log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        # [0/1] is swift test's planning line, not a compile counter.
        step=$(grep -ao '^\[[0-9]*/[0-9]*\]' "$log" 2>/dev/null | grep -v '^\[0/' | tail -n 1 || true)
        if [ $tty = 1 ]; then
            printf '\r\033[K%s … %d s %s' "$message" $((SECONDS - begin)) "$step" >&2
        elif [ $((SECONDS - begin)) -ge $next ]; then
            echo "  … still going after $((SECONDS - begin)) s $step" >&2
            next=$((next + 60))
        fi
    done
    wait "$pid" || status=$?
    [ $tty = 1 ] && printf '\r\033[K%s' "$message" >&2
    if [ $status -ne 0 ]; then
        [ $tty = 1 ] || printf ' ' >&2
        echo " FAILED after $((SECONDS - begin)) s (status $status); the end of $log:" >&2
        tail -n 40 "$log" >&2
        return $status
    fi
    if [ $tty = 1 ]; then echo " done, $((SECONDS - begin)) s" >&2; else echo "  done, $((SECONDS - begin)) s" >&2; fi
}
