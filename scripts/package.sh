#!/usr/bin/env bash
# Builds the packages of a release (what `make package` runs), into target/release/bundle/:
#   deb/Keyward_<version>_amd64.deb     the desktop app (Tauri's bundler) with the `keyward` CLI,
#                                       its man pages and bash/zsh/fish completions, the desktop
#                                       entry and icons
#   appimage/Keyward_<version>_amd64.AppImage   when the AppImage tools can be had (see below)
#   deb/keyward-server_<version>_amd64.deb      the server with its systemd unit
# The version is the workspace's (Cargo.toml [workspace.package]): tauri.conf.json has none of
# its own, so the bundler takes the app crate's, and the server's comes from cargo.
#
#   scripts/package.sh            .deb packages, and the AppImage when it can be built
#   KEYWARD_APPIMAGE=no scripts/package.sh   skip the AppImage
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

version="$(cargo pkgid -p keyward-server | sed 's/.*[#@]//')"
arch="$(dpkg --print-architecture)"
out=target/release/bundle/deb
docs=target/package/cli
started=$SECONDS

echo "package: Keyward $version ($arch)"
make --no-print-directory ui
cargo build --release -p keyward-cli -p keyward-server

# The CLI's man pages and completions, generated from its clap definitions.
rm -rf "$docs"
cargo run --release -q -p keyward-cli --example keyward-docs -- "$docs" >/dev/null
gzip -9n "$docs"/man/*.1

# The desktop app: Tauri's bundler builds it (release) and packs it with the files above.
tauri=ui/node_modules/.bin/tauri
"$tauri" build --bundles deb --ci
if [ "${KEYWARD_APPIMAGE:-yes}" != no ]; then
    # The bundler downloads linuxdeploy and its AppImage plugin from GitHub; without that
    # network the AppImage cannot be made here (the .deb packages are unaffected).
    if ! "$tauri" build --bundles appimage --ci; then
        echo "package: the AppImage could not be built (the bundler needs to download linuxdeploy)" >&2
    fi
fi

# keyward-server: a plain Debian package with its systemd unit.
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
install -D -m 0755 target/release/keyward-server "$root/usr/bin/keyward-server"
# The same unit and system user as deploy/ (docs/server.md).
install -D -m 0644 deploy/keyward-server.service "$root/lib/systemd/system/keyward-server.service"
install -D -m 0644 deploy/keyward-server.sysusers "$root/usr/lib/sysusers.d/keyward-server.conf"
install -d "$root/DEBIAN"
install -m 0755 src-tauri/crates/server/debian/postinst src-tauri/crates/server/debian/prerm \
    src-tauri/crates/server/debian/postrm "$root/DEBIAN/"
size_kib="$(du -sk "$root/usr" "$root/lib" | awk '{ total += $1 } END { print total }')"
cat >"$root/DEBIAN/control" <<CONTROL
Package: keyward-server
Version: $version
Architecture: $arch
Maintainer: Keyward <keyward@localhost>
Section: net
Priority: optional
Installed-Size: $size_kib
Depends: libc6, libssl3, adduser
Description: Keyward remote API: device key verification and desktop sync
 keyward-server stores key verifiers and metadata (never a key), answers devices'
 verification requests and exchanges changes with Keyward desktops. It runs as the
 keyward-server systemd service, listening on 127.0.0.1:8420 by default.
CONTROL
mkdir -p "$out"
dpkg-deb --root-owner-group --build "$root" "$out/keyward-server_${version}_${arch}.deb" >/dev/null

echo "package: done in $((SECONDS - started)) s"
ls -l "$out"/*.deb target/release/bundle/appimage/*.AppImage 2>/dev/null || true
