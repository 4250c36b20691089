#!/usr/bin/env bash
# Checks the packages `make package` built (run by `make test-package`, inside
# scripts/e2e-session.sh for a display): each .deb is unpacked into a throwaway root as dpkg
# would install it, and the test checks its metadata, that every file is where the package
# says (the app, the `keyward` CLI and its --version, bash/zsh/fish completions, the man pages,
# the desktop entry, the icons; the server and its systemd unit), and that the installed app
# starts and shows its window.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

passed=0
failed=0
check() {
    local what="$1"
    shift
    if "$@" >/dev/null 2>&1; then
        passed=$((passed + 1))
        echo "ok     $what"
    else
        failed=$((failed + 1))
        echo "FAILED $what"
    fi
}

version="$(cargo pkgid -p keyward-server | sed 's/.*[#@]//')"
arch="$(dpkg --print-architecture)"
app_deb="target/release/bundle/deb/Keyward_${version}_${arch}.deb"
server_deb="target/release/bundle/deb/keyward-server_${version}_${arch}.deb"
root="$(mktemp -d)"
app_pid=
cleanup() {
    if [ -n "$app_pid" ]; then kill "$app_pid" 2>/dev/null; wait "$app_pid" 2>/dev/null; fi
    rm -rf "$root"
}
trap cleanup EXIT

check "the app's .deb exists ($app_deb)" test -f "$app_deb"
check "the server's .deb exists ($server_deb)" test -f "$server_deb"
field() { dpkg-deb --field "$1" "$2"; }
check "the app's package is named keyward and versioned $version" \
    test "$(field "$app_deb" Package) $(field "$app_deb" Version)" = "keyward $version"
check "the app's package depends on WebKitGTK and OpenSSL" \
    bash -c "dpkg-deb --field '$app_deb' Depends | grep -q libwebkit2gtk-4.1-0 && dpkg-deb --field '$app_deb' Depends | grep -q libssl3"
check "the server's package is keyward-server $version" \
    test "$(field "$server_deb" Package) $(field "$server_deb" Version)" = "keyward-server $version"

# Installed as dpkg would lay it out, into the throwaway root.
dpkg-deb -x "$app_deb" "$root"
dpkg-deb -x "$server_deb" "$root"

check "the app binary is /usr/bin/keyward-desktop" test -x "$root/usr/bin/keyward-desktop"
check "the CLI is /usr/bin/keyward, on PATH" test -x "$root/usr/bin/keyward"
check "keyward --version prints $version" \
    bash -c "PATH='$root/usr/bin' keyward --version | grep -qx 'keyward $version'"
check "bash completion" grep -q "keyward" "$root/usr/share/bash-completion/completions/keyward"
check "zsh completion" grep -q "#compdef keyward" "$root/usr/share/zsh/vendor-completions/_keyward"
check "fish completion" grep -q "complete -c keyward" "$root/usr/share/fish/vendor_completions.d/keyward.fish"
check "the completions know 'key create'" grep -q "create" "$root/usr/share/bash-completion/completions/keyward"
check "man page keyward(1)" bash -c "zcat '$root/usr/share/man/man1/keyward.1.gz' | grep -q '^.TH keyward 1'"
check "man page keyward-key-create(1) describes --preset" \
    bash -c "zcat '$root/usr/share/man/man1/keyward-key-create.1.gz' | grep -q 'preset'"
desktop="$root/usr/share/applications/Keyward.desktop"
check "the desktop entry" test -f "$desktop"
check "the desktop entry runs keyward-desktop" grep -q '^Exec=keyward-desktop' "$desktop"
check "the desktop entry names its icon" grep -q '^Icon=keyward-desktop' "$desktop"
check "the desktop entry is a valid one" bash -c "! command -v desktop-file-validate || desktop-file-validate '$desktop'"
for size in 32x32 128x128 256x256; do
    check "icon $size" test -f "$root/usr/share/icons/hicolor/$size/apps/keyward-desktop.png"
done
check "the server binary is /usr/bin/keyward-server" test -x "$root/usr/bin/keyward-server"
check "keyward-server --version prints $version" \
    bash -c "'$root/usr/bin/keyward-server' --version | grep -qx 'keyward-server $version'"
unit="$root/lib/systemd/system/keyward-server.service"
check "the server's systemd unit" grep -q '^ExecStart=/usr/bin/keyward-server' "$unit"
check "the unit runs as the keyward-server user" grep -qx 'User=keyward-server' "$unit"
check "the unit is deploy/'s" cmp -s deploy/keyward-server.service "$unit"
# (The binary is in the throwaway root, not at /usr/bin: that one complaint is expected.)
check "the unit is a valid one" bash -c "! command -v systemd-analyze || ! systemd-analyze verify --man=no '$unit' 2>&1 | grep -v 'is not executable' | grep -q ."
check "the server's postinst creates its user" bash -c "dpkg-deb --ctrl-tarfile '$server_deb' | tar -xO ./postinst | grep -q 'adduser --system'"

# The installed app starts and shows its window.
if [ -n "${DISPLAY:-}" ] && command -v xwininfo >/dev/null; then
    export KEYWARD_VAULT="$root/vault.db" XDG_DATA_HOME="$root/data" XDG_CONFIG_HOME="$root/config"
    "$root/usr/bin/keyward-desktop" >"$root/app.log" 2>&1 &
    app_pid=$!
    shown=false
    for _ in $(seq 1 150); do
        if xwininfo -root -tree | grep -q '"Keyward"'; then shown=true; break; fi
        sleep 0.2
    done
    check "the installed app shows its window" test "$shown" = true
    log="$root/data/dev.keyward.desktop/logs/keyward.log"
    for _ in $(seq 1 50); do
        if grep -q 'started' "$log" 2>/dev/null; then break; fi
        sleep 0.1
    done
    check "the installed app writes its log" grep -q "Keyward $version started" "$log"
else
    failed=$((failed + 1))
    echo "FAILED the installed app shows its window (no display: run under scripts/e2e-session.sh)"
fi

echo
echo "test-package: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
