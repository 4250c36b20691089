#!/usr/bin/env bash
# Installs what building and testing Keyward needs on Debian 12.
# Idempotent and non-interactive: installs only what is missing, so a second run is quick.
set -euo pipefail

build_packages=(libwebkit2gtk-4.1-dev build-essential pkg-config libssl-dev)
# dbus-bin: dbus-send, for the screen-lock signals of tests/e2e_desktop.rs.
test_packages=(xvfb xauth x11-utils webkit2gtk-driver xclip dbus-x11 dbus-bin gnome-keyring imagemagick postgresql systemd)

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
else
    as_root=(sudo)
fi

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for package in "${build_packages[@]}" "${test_packages[@]}"; do
    is_installed "$package" || missing+=("$package")
done
# The gateway test (src-tauri/crates/server/tests/gateway.rs) runs a real nginx with
# auth_request; any Debian flavour has it, nginx-light is the smallest.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    missing+=(nginx-light)
fi
if ! command -v node >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -q
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q "${missing[@]}"
fi

# cargo installs into ~/.cargo/bin, which may not be on PATH in a non-login shell.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! command -v tauri-driver >/dev/null 2>&1; then
    echo "install-deps: installing tauri-driver"
    # Without the version cargo picks a 3.0 pre-release.
    cargo install tauri-driver --version '^2' --locked
fi

# Vite 8 needs Node 20.19 or newer; Debian 12's own nodejs is 18.
node_version="$(node --version 2>/dev/null || echo none)"
case "$node_version" in
    v2[0-9].* | v[3-9][0-9].*) ;;
    *) echo "install-deps: warning: Node $node_version found; the UI build needs Node 20.19 or newer" >&2 ;;
esac

echo "install-deps: everything is present"
