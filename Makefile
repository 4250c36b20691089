# Keyward: set up the machine, build, run and test. CI runs `make test` (see .ci/run).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

CARGO ?= cargo
NPM ?= npm
# `cargo install` puts tauri-driver here, which a non-login shell may not have on PATH.
export PATH := $(or $(CARGO_HOME),$(HOME)/.cargo)/bin:$(PATH)

APP := target/debug/keyward-desktop
UI_SOURCES := $(shell find ui/src -type f) ui/index.html ui/package.json \
	ui/vite.config.ts ui/svelte.config.js ui/tsconfig.json

.PHONY: deps ui build run test test-rust test-ui test-e2e bench package test-package

## System packages, tauri-driver (quick when everything is present).
deps:
	@scripts/install-deps.sh

# npm ci again only when the lock file changed since the last install.
ui/node_modules/.package-lock.json: ui/package-lock.json ui/package.json
	cd ui && $(NPM) ci --no-audit --no-fund
	touch $@

## The web front end, into ui/dist (embedded into the app binary at build time).
ui: ui/dist/index.html

# Only when a source changed: a new ui/dist makes cargo rebuild the app.
ui/dist/index.html: ui/node_modules/.package-lock.json $(UI_SOURCES)
	cd ui && $(NPM) run build

## The desktop app and every crate of the workspace (debug).
build: ui
	$(CARGO) build --workspace

## Builds, then opens the app (KEYWARD_VAULT picks another vault).
run: deps build
	$(APP)

## Everything CI checks, in order: Rust, the UI's unit tests, end to end.
test: deps ui
	$(MAKE) --no-print-directory test-rust
	$(MAKE) --no-print-directory test-ui
	$(MAKE) --no-print-directory test-e2e

## Unit and integration tests of all crates (the E2E tests are #[ignore]d here).
test-rust: ui
	$(CARGO) test --workspace

## Type check and Vitest on the front end, with the IPC mocked.
test-ui: ui/node_modules/.package-lock.json
	cd ui && $(NPM) run check && $(NPM) test

## The tests that need a desktop around them, #[ignore]d in test-rust: the real app driven
## through tauri-driver (tests/e2e_*.rs, one at a time: fixed ports), the CLI against the
## real OS keychain (src-tauri/crates/cli/tests/keychain.rs) and the desktop crate's ignored
## unit test of the real X clipboard (src-tauri/src/clipboard.rs). Without a display they run
## under Xvfb with a private D-Bus session and an unlocked gnome-keyring.
# Built with the same flags as test-rust so cargo reuses its artifacts (`--test e2e_*`
# alone resolves features differently and rebuilds tauri), then run directly.
test-e2e: deps ui
	$(CARGO) test --workspace --tests --no-run
	@binaries="$$($(CARGO) test --workspace --tests --no-run --message-format=json 2>/dev/null \
		| grep -oE '"executable":"[^"]*/(e2e_[^"/]*|keychain-[^"/]*|keyward_desktop-[^"/]*)"' | cut -d'"' -f4 || true)"; \
	case "$$binaries" in *e2e_*) ;; *) echo "test-e2e: no tests/e2e_*.rs found" >&2; exit 1;; esac; \
	case "$$binaries" in *keychain-*) ;; *) echo "test-e2e: no keychain test found" >&2; exit 1;; esac; \
	case "$$binaries" in *keyward_desktop-*) ;; *) echo "test-e2e: no desktop unit tests found" >&2; exit 1;; esac; \
	for binary in $$binaries; do \
		echo "test-e2e: $$binary"; \
		scripts/e2e-session.sh "$$binary" --ignored --test-threads=1; \
	done

## Benchmarks of the core, of the server (verification throughput, sync) and of a roll of 1,000 keys.
bench:
	$(CARGO) bench -p keyward-core
	$(CARGO) bench -p keyward-server
	$(CARGO) bench -p keyward-cli --bench roll

## The packages of a release (release build, several minutes): the desktop app's .deb (with
## the `keyward` CLI, its man pages and completions) and AppImage, and keyward-server's .deb,
## into target/release/bundle/. Not part of `make test`: it would double its build time.
package: deps ui
	scripts/package.sh

## Builds the packages, then installs the .deb packages into a throwaway root and checks what
## they put where, and that the installed app opens its window (under Xvfb without a display).
test-package: package
	scripts/e2e-session.sh scripts/test-package.sh
