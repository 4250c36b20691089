#!/usr/bin/env bash
# The desktop app's figures (BENCHMARKS.md, "Desktop app"), measured in the real app under
# Xvfb through tauri-driver: cold start to an interactive keys table over 10,000 keys as a
# ratio to an empty Tauri window, filter keystroke to repainted table, resident memory as a
# ratio to the empty window. Source: tests/bench_app.rs and tests/bench_empty_window.rs.
#
#   scripts/bench-app.sh                 figures, debug build (the build `make test-e2e` uses)
#   scripts/bench-app.sh --release       figures, release build of both (a long build)
#   scripts/bench-app.sh --screenshots   rewrites docs/screenshots/*.png from the real app
#   scripts/bench-app.sh [--release] --compare APP APP...
#                                        builds of the app (copies of target/*/keyward-desktop)
#                                        launched in turn over 10,000 keys, round after round:
#                                        the start of each, against the first, and its filter
#   scripts/bench-app.sh [--release] --frame-costs
#                                        what a frame costs the page's thread over 10,000 keys,
#                                        by what changed in it (one cell's text, every cell's…)
#
# KEYWARD_BENCH_RUNS (default 7) sets the number of measured launches of each binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }

mode=figures
profile=()
builds=()
for arg in "$@"; do
    case "$arg" in
        --release) profile=(--release) ;;
        --screenshots) mode=screenshots ;;
        --compare) mode=compare ;;
        --frame-costs) mode=frame-costs ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "bench-app: unknown argument $arg" >&2; usage >&2; exit 2 ;;
        *)
            if [ "$mode" != compare ]; then
                echo "bench-app: unknown argument $arg" >&2; usage >&2; exit 2
            fi
            if [ ! -x "$arg" ]; then
                echo "bench-app: $arg is not an executable build of the app" >&2; exit 2
            fi
            builds+=("$(realpath "$arg")")
            ;;
    esac
done
if [ "$mode" = compare ] && [ "${#builds[@]}" -lt 2 ]; then
    echo "bench-app: --compare needs at least two builds of the app" >&2; usage >&2; exit 2
fi

# `cargo install` puts tauri-driver there, which a non-login shell may not have on PATH.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# The same build as `make test-e2e` (so cargo reuses its artifacts): the UI first, embedded
# into the app at compile time, then every test target of the workspace.
make --no-print-directory ui
cargo test --workspace --tests --no-run ${profile[@]+"${profile[@]}"}
executables="$(cargo test --workspace --tests --no-run ${profile[@]+"${profile[@]}"} --message-format=json 2>/dev/null \
    | grep -oE '"executable":"[^"]*"' | cut -d'"' -f4)"
find_test() {
    local found
    found="$(grep -E "/$1-[0-9a-f]+$" <<<"$executables" | head -n 1 || true)"
    if [ -z "$found" ]; then
        echo "bench-app: no test binary $1 was built" >&2
        exit 1
    fi
    echo "$found"
}

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# The session's D-Bus and portal chatter goes to stderr: keep it out of the figures, and
# show it only when something fails.
run() {
    if ! scripts/e2e-session.sh "$@" --ignored --test-threads=1 --nocapture 2>"$log"; then
        tail -n 80 "$log" >&2
        exit 1
    fi
}

case "$mode" in
    figures)
        KEYWARD_BENCH_EMPTY_WINDOW="$(find_test bench_empty_window)"
        export KEYWARD_BENCH_EMPTY_WINDOW
        echo "bench-app: profile ${profile[*]:-debug}, $(nproc) cores, $(uname -r)"
        run "$(find_test bench_app)" --exact desktop_app_figures
        ;;
    screenshots)
        run "$(find_test app_screenshots)"
        ;;
    frame-costs)
        echo "bench-app: profile ${profile[*]:-debug}, $(nproc) cores, $(uname -r)"
        run "$(find_test bench_app)" --exact frame_costs
        ;;
    compare)
        KEYWARD_BENCH_COMPARE="$(IFS=:; echo "${builds[*]}")"
        export KEYWARD_BENCH_COMPARE
        echo "bench-app: ${#builds[@]} builds compared, $(nproc) cores, $(uname -r)"
        run "$(find_test bench_app)" --exact compare_app_builds
        ;;
esac
