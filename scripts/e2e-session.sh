#!/usr/bin/env bash
# Runs a command (the end-to-end tests) with what the real app needs around it.
# With a display (a developer's desktop) it runs the command as it is. Without one (CI)
# it gives it a virtual X display, a private D-Bus session and an unlocked gnome-keyring,
# in a throwaway HOME, so the OS keychain works and nothing of the machine's is touched.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
fi

if [ -n "${DISPLAY:-}" ] && [ -z "${KEYWARD_E2E_INSIDE:-}" ]; then
    exec "$@"
fi

if [ -z "${KEYWARD_E2E_INSIDE:-}" ]; then
    export KEYWARD_E2E_INSIDE=1
    exec xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- "$0" "$@"
fi

# Inside Xvfb and the D-Bus session. cargo and rustup find their homes through HOME:
# pin them before HOME moves.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
scratch="$(mktemp -d)"
# The keyring daemon leaves the session's process group when it starts: stop it here (found
# by the runtime directory it was started with), or it outlives the session and keeps
# whatever descriptors the command inherited.
stop_keyring() {
    local environ pid
    for environ in /proc/[0-9]*/environ; do
        pid="${environ#/proc/}"
        pid="${pid%/environ}"
        if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = gnome-keyring-d ] &&
            grep -qzxF "XDG_RUNTIME_DIR=$scratch/runtime" "$environ" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
        fi
    done
}
trap 'stop_keyring; rm -rf "$scratch"' EXIT
mkdir -m 700 "$scratch/home" "$scratch/runtime"
export HOME="$scratch/home" XDG_RUNTIME_DIR="$scratch/runtime"
eval "$(echo keyward-e2e | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL

"$@"
