#!/usr/bin/env bash
# The desktop app's CPU use while it sits unlocked and idle (BENCHMARKS.md, "Idle CPU"), with
# and without the watch that notices other processes' changes to the vault. The app is started
# on a vault its keychain unlocks (no WebDriver, nobody touching it), left to settle, then the
# utime+stime of the app and of every process it started (WebKit's web and network processes)
# is read from /proc before and after a minute.
#
#   scripts/bench-idle.sh [APP]    APP defaults to target/release/keyward-desktop
#
# KEYWARD_IDLE_SECONDS (default 60) sets the measured time, KEYWARD_IDLE_RUNS (default 2)
# the number of runs of each variant. Runs under Xvfb with a private D-Bus session and
# gnome-keyring when there is no display (scripts/e2e-session.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -z "${KEYWARD_E2E_INSIDE:-}" ] && [ -z "${DISPLAY:-}" ]; then
    exec scripts/e2e-session.sh "$0" "$@"
fi

app="$(realpath "${1:-target/release/keyward-desktop}")"
cli="$(realpath target/debug/keyward)"
seconds="${KEYWARD_IDLE_SECONDS:-60}"
runs="${KEYWARD_IDLE_RUNS:-2}"
settle=15
ticks="$(getconf CLK_TCK)"
for binary in "$app" "$cli"; do
    [ -x "$binary" ] || { echo "bench-idle: build $binary first" >&2; exit 1; }
done

work="$(mktemp -d)"
app_pid=
cleanup() {
    if [ -n "$app_pid" ]; then kill "$app_pid" 2>/dev/null || true; wait "$app_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

export KEYWARD_VAULT="$work/vault.db" KEYWARD_PASSPHRASE="correct horse battery staple"
"$cli" init >/dev/null
"$cli" account create Fleet --key-limit 1000 >/dev/null
seq -f 'reader %g' 1 500 >"$work/names.txt"
"$cli" key create --names-from "$work/names.txt" >/dev/null
"$cli" keychain remember >/dev/null
unset KEYWARD_PASSPHRASE

# utime+stime, in clock ticks, of $1 and all its descendants now alive.
cpu_ticks() {
    local pids=("$1") all=("$1") next pid
    while [ "${#pids[@]}" -gt 0 ]; do
        next=()
        for pid in "${pids[@]}"; do
            while read -r child; do next+=("$child"); all+=("$child"); done < <(pgrep -P "$pid" || true)
        done
        pids=("${next[@]+"${next[@]}"}")
    done
    local total=0 stat
    for pid in "${all[@]}"; do
        stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
        # Fields after the command name (which may hold spaces): utime is 14th, stime 15th.
        read -r -a fields <<<"${stat##*) }"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

# Nanoseconds on CPU of the app's thread named $2 (/proc/PID/task/*/schedstat), 0 if none.
thread_ns() {
    local task
    for task in /proc/"$1"/task/*; do
        if [ "$(cat "$task/comm" 2>/dev/null)" = "$2" ]; then
            cut -d' ' -f1 "$task/schedstat"
            return
        fi
    done
    echo 0
}

measure() {
    local label="$1"
    shift
    env "$@" "$app" >"$work/app.log" 2>&1 &
    app_pid=$!
    sleep "$settle"
    if ! ls -l "/proc/$app_pid/fd" 2>/dev/null | grep -q "$KEYWARD_VAULT\$"; then
        echo "bench-idle: the app did not unlock the vault from the keychain" >&2
        cat "$work/app.log" >&2
        exit 1
    fi
    local before after used watch_before watch_after
    before="$(cpu_ticks "$app_pid")"
    watch_before="$(thread_ns "$app_pid" vault-watch)"
    sleep "$seconds"
    after="$(cpu_ticks "$app_pid")"
    watch_after="$(thread_ns "$app_pid" vault-watch)"
    used=$((after - before))
    kill "$app_pid"
    wait "$app_pid" 2>/dev/null || true
    app_pid=
    awk -v label="$label" -v used="$used" -v ticks="$ticks" -v seconds="$seconds" \
        -v watch="$((watch_after - watch_before))" 'BEGIN {
        cpu = used / ticks
        printf "%-10s %5.2f s CPU in %d s = %5.3f %% of one core; the vault-watch thread %.1f ms (%.0f µs a look)\n",
            label, cpu, seconds, 100 * cpu / seconds, watch / 1e6, watch / 1e3 / (seconds * 2)
    }'
}

echo "bench-idle: $app, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), ${seconds} s after ${settle} s to settle"
for run in $(seq 1 "$runs"); do
    measure "watch on" KEYWARD_VAULT_WATCH=on
    measure "watch off" KEYWARD_VAULT_WATCH=off
done
echo "bench-idle: load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
