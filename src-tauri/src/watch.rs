//! Keeps the window true to the vault while it is open. Administrators script the same vault
//! with the CLI, open it in a second window, sync it elsewhere: a thread looks at the vault's
//! outside version (`Vault::outside_version`, SQLite's `data_version`: one cheap read, no page
//! of the database) twice a second while the vault is unlocked, and when another process has
//! committed a change the session tells the window (`vault-changed`), which reads again what
//! it shows. Locked, the thread sleeps until the next unlock.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

/// How often the open vault is looked at: a change shows within about a second.
pub const INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
struct State {
    /// Set while a vault is open: only then is there anything to look at.
    armed: bool,
    stopped: bool,
}

#[derive(Debug)]
pub struct VaultWatch {
    /// `None`: the watch is off (only for measuring what it costs; see BENCHMARKS.md).
    interval: Option<Duration>,
    state: Mutex<State>,
    changed: Condvar,
}

impl VaultWatch {
    pub fn new(interval: Option<Duration>) -> Arc<Self> {
        Arc::new(VaultWatch {
            interval,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        })
    }

    /// The interval, unless `$KEYWARD_VAULT_WATCH` is `off` — a switch for the idle-CPU
    /// measurement of BENCHMARKS.md, not a setting.
    pub fn interval_from_env() -> Option<Duration> {
        match std::env::var("KEYWARD_VAULT_WATCH") {
            Ok(value) if value.eq_ignore_ascii_case("off") => None,
            _ => Some(INTERVAL),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A vault was opened: start looking.
    pub fn arm(&self) {
        self.state().armed = true;
        self.changed.notify_all();
    }

    /// The vault was locked: stop looking until the next unlock.
    pub fn disarm(&self) {
        self.state().armed = false;
        self.changed.notify_all();
    }

    /// Ends the thread (the session is going away).
    pub fn stop(&self) {
        self.state().stopped = true;
        self.changed.notify_all();
    }

    /// Starts the thread that calls `look` at every interval while armed. `look` answers
    /// false once there is nothing left to look at (the session is gone): the thread then
    /// ends, as it does when the watch is stopped.
    pub fn watch(self: &Arc<Self>, look: impl Fn() -> bool + Send + 'static) {
        let Some(interval) = self.interval else {
            return;
        };
        let watch = Arc::clone(self);
        thread::Builder::new()
            .name("vault-watch".into())
            .spawn(move || watch.run(&look, interval))
            .expect("the OS can start a thread");
    }

    fn run(&self, look: &dyn Fn() -> bool, interval: Duration) {
        let mut state = self.state();
        loop {
            if state.stopped {
                return;
            }
            if !state.armed {
                state = self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state = self
                .changed
                .wait_timeout(state, interval)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            if state.stopped || !state.armed {
                continue;
            }
            drop(state);
            if !look() {
                return;
            }
            state = self.state();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use keyward_core::{NewKey, Settings};
    use serde_json::json;

    use crate::testing::{TestApp, PASSPHRASE};

    /// How many `vault-changed` events the window got.
    fn told(app: &TestApp) -> usize {
        app.events()
            .iter()
            .filter(|event| event["event"] == "vault-changed")
            .count()
    }

    /// Long enough for several looks of the test watch (every 50 ms).
    fn a_few_looks() {
        std::thread::sleep(Duration::from_millis(300));
    }

    #[test]
    fn another_process_commit_is_told_once_and_the_apps_own_changes_are_not() {
        let app = TestApp::with_account();
        app.call(
            "create_key",
            json!({ "account": "acme", "name": "kiosk", "access": "READ", "allowUnbind": false, "groups": [] }),
        )
        .unwrap();
        a_few_looks();
        assert_eq!(told(&app), 0, "the window knows its own changes");

        let mut cli = app.open_vault_directly();
        cli.list_keys(None, &Default::default()).unwrap();
        a_few_looks();
        assert_eq!(told(&app), 0, "another process only read");

        cli.create_key(None, "made by cli", &NewKey::default())
            .unwrap();
        app.wait_for(|| told(&app) == 1);
        a_few_looks();
        assert_eq!(told(&app), 1, "told once per change");
        let names: Vec<_> = app
            .call("list_keys", json!({ "account": "acme" }))
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["name"].clone())
            .collect();
        assert_eq!(names, [json!("kiosk"), json!("made by cli")]);

        cli.delete_key(None, "kiosk").unwrap();
        app.wait_for(|| told(&app) == 2);
    }

    #[test]
    fn locked_there_is_nothing_to_tell_and_after_unlock_only_new_changes_are_news() {
        let app = TestApp::with_account();
        app.call("lock", json!({})).unwrap();
        let mut cli = app.open_vault_directly();
        cli.create_key(None, "while locked", &NewKey::default())
            .unwrap();
        a_few_looks();
        assert_eq!(told(&app), 0);
        app.call(
            "unlock",
            json!({ "passphrase": PASSPHRASE, "remember": false }),
        )
        .unwrap();
        a_few_looks();
        assert_eq!(told(&app), 0, "the window reads the vault as it unlocks");
        cli.create_key(None, "after unlock", &NewKey::default())
            .unwrap();
        app.wait_for(|| told(&app) == 1);
    }

    #[test]
    fn looking_is_not_activity_the_vault_still_locks_when_idle() {
        let app = TestApp::with_account();
        app.session.set_auto_lock_delay(Duration::from_millis(600));
        app.wait_for(|| {
            app.events()
                .contains(&json!({ "event": "vault-locked", "payload": { "reason": "idle" } }))
        });
    }

    #[test]
    fn an_auto_lock_delay_changed_elsewhere_is_followed() {
        let app = TestApp::with_account();
        let mut other_window = app.open_vault_directly();
        other_window
            .update_settings(Settings {
                auto_lock_minutes: 15,
                ..Settings::default()
            })
            .unwrap();
        app.wait_for(|| told(&app) == 1);
        assert_eq!(app.session.auto_lock_delay(), Duration::from_secs(15 * 60));
    }
}
