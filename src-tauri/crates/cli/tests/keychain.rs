//! The vault key remembered in the REAL OS keychain (the Secret Service on
//! Linux): `keychain remember`, then commands open the vault with no
//! passphrase and no terminal; `keychain forget`, then they cannot (exit 3).
//!
//! It needs a running, unlocked Secret Service, which exists only inside a
//! D-Bus session with gnome-keyring, so it is ignored by a plain `cargo test`.
//! `make test` runs it; by hand (from the repository root):
//!
//! ```sh
//! cargo test -p keyward-cli --test keychain --no-run &&
//! CARGO_HOME=${CARGO_HOME:-$HOME/.cargo} RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup} \
//! dbus-run-session -- sh -c 'export XDG_RUNTIME_DIR=$(mktemp -d) HOME=$(mktemp -d);
//!   eval "$(echo pw | gnome-keyring-daemon --unlock --components=secrets)";
//!   exec cargo test -p keyward-cli --test keychain -- --ignored'
//! ```

mod support;

use support::*;

#[test]
#[ignore = "needs a Secret Service: run by make test inside dbus-run-session"]
fn a_remembered_vault_opens_without_a_passphrase_until_forgotten() {
    let kw = Kw::with_account("acme", &[]);
    let (key, secret) = kw.create_key("gate", &[]);
    let other = Kw::with_account("other", &[]);

    let remembered = kw.run(&["keychain", "remember", "--json"]);
    assert_eq!(
        remembered.code, 0,
        "keychain remember failed — is a Secret Service running (dbus-run-session + gnome-keyring-daemon --unlock)?\n{}",
        remembered.stderr
    );
    assert_eq!(remembered.json()["remembered"], true);

    // No $KEYWARD_PASSPHRASE, stdin null, no terminal: the keychain opens it.
    let listed = kw
        .cmd(&["key", "list", "--json"])
        .env_remove("KEYWARD_PASSPHRASE")
        .run()
        .expect_code(0)
        .json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], key["id"]);
    kw.cmd(&["key", "create", "door"])
        .env_remove("KEYWARD_PASSPHRASE")
        .run()
        .expect_code(0);
    kw.cmd(&["key", "verify"])
        .env_remove("KEYWARD_PASSPHRASE")
        .stdin(secret.as_bytes())
        .run()
        .expect_code(0);
    // Revealing the shared secret asks for the passphrase itself, never the keychain.
    kw.cmd(&["secret", "show"])
        .env_remove("KEYWARD_PASSPHRASE")
        .run()
        .expect_error(3, &["KEYWARD_PASSPHRASE"]);
    // The entry belongs to this vault only.
    other
        .cmd(&["key", "list"])
        .env_remove("KEYWARD_PASSPHRASE")
        .run()
        .expect_error(3, &["KEYWARD_PASSPHRASE"]);
    // A passphrase given explicitly still has to be right.
    kw.cmd(&["key", "list"])
        .env("KEYWARD_PASSPHRASE", "not the passphrase")
        .run()
        .expect_error(3, &["wrong passphrase"]);

    let forgotten = kw.json(&["keychain", "forget"]);
    assert_eq!(forgotten["forgotten"], true, "{forgotten}");
    kw.cmd(&["key", "list"])
        .env_remove("KEYWARD_PASSPHRASE")
        .run()
        .expect_error(3, &["KEYWARD_PASSPHRASE"]);
    // Forgetting twice is not an error: there is nothing left to forget.
    assert_eq!(kw.json(&["keychain", "forget"])["forgotten"], false);

    let actions: Vec<String> = kw
        .json(&["audit", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(e, "action").to_string())
        .collect();
    assert!(
        actions.iter().any(|a| a.contains("remember")),
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| a.contains("forget")), "{actions:?}");
    kw.ok(&["audit", "verify"]);
}
