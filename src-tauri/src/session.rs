//! The state every command shares: where the vault lives, the open vault while unlocked,
//! the full keys created but not yet dismissed, the clipboard, the idle clock and the watch
//! for other processes' changes. Locking
//! empties it: the `Vault` (and with it the key) is dropped, the kept keys are wiped, and
//! a pending copy is cleared from the clipboard.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};
use std::time::Duration;

use keyward_core::{CreatedKey, KdfParams, KeyFilter, Keychain, SecretString, Settings, Vault};
use tauri::State;

use crate::applog;
use crate::clipboard::Clipboard;
use crate::error::CommandError;
use crate::events::Events;
use crate::head_start::{self, EarlyKeys};
use crate::idle::IdleClock;
use crate::views::{
    ClipboardClearReason, CopyReceipt, CreatedKeyView, LockReason, ShownOnce, UnlockOutcome,
    VaultStatus,
};
use crate::watch::VaultWatch;

pub struct Session {
    path: Result<PathBuf, CommandError>,
    vault: Mutex<Option<Vault>>,
    /// Keys just created, by id, until the window dismisses them or the vault locks:
    /// `copy_created_key` copies from here, so the key need not come back from the window.
    created_keys: Mutex<HashMap<String, SecretString>>,
    /// The OS keychain, looked up on first use (its D-Bus connection is not free).
    keychain: OnceLock<Result<Keychain, CommandError>>,
    kdf: KdfParams,
    clipboard: Clipboard,
    idle: Arc<IdleClock>,
    events: Arc<Events>,
    /// Accounts with a sync under way (one at a time per account).
    syncing: Mutex<HashSet<String>>,
    watch: Arc<VaultWatch>,
    /// The open vault's outside version when it was last looked at.
    seen_version: Mutex<Option<i64>>,
    /// The start-up's unlock and first read, done while the web view starts.
    head_start: head_start::Gate,
    /// The first account's keys read by the head start, until the first `list_keys` takes them.
    early_keys: Mutex<Option<EarlyKeys>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What a session is made of; the app uses the system's, tests their own.
pub struct SessionParts {
    pub path: Result<PathBuf, CommandError>,
    /// `None`: the OS keychain, looked up when first needed.
    pub keychain: Option<Result<Keychain, CommandError>>,
    pub kdf: KdfParams,
    pub events: Arc<Events>,
    pub clipboard: Clipboard,
    /// How often to look for other processes' changes; `None`: never.
    pub watch_interval: Option<Duration>,
}

impl Session {
    pub fn new(parts: SessionParts) -> Arc<Self> {
        let keychain = OnceLock::new();
        if let Some(given) = parts.keychain {
            let _ = keychain.set(given);
        }
        let idle = IdleClock::new(auto_lock_delay(&Settings::default()));
        let session = Arc::new(Session {
            path: parts.path,
            vault: Mutex::new(None),
            created_keys: Mutex::new(HashMap::new()),
            keychain,
            kdf: parts.kdf,
            clipboard: parts.clipboard,
            idle,
            events: parts.events,
            syncing: Mutex::new(HashSet::new()),
            watch: VaultWatch::new(parts.watch_interval),
            seen_version: Mutex::new(None),
            head_start: head_start::Gate::default(),
            early_keys: Mutex::new(None),
        });
        // The threads hold the session weakly: they end when it is dropped.
        let weak = Arc::downgrade(&session);
        session.idle.watch(move || {
            weak.upgrade()
                .map(|session| session.lock(LockReason::Idle))
                .is_some()
        });
        let weak = Arc::downgrade(&session);
        session.watch.watch(move || {
            weak.upgrade()
                .map(|session| session.notice_outside_changes())
                .is_some()
        });
        session
    }

    /// `$KEYWARD_VAULT`, else the platform data directory (the same vault the CLI uses),
    /// with the OS keychain and the system clipboard. When no vault path can be found,
    /// every command reports why, so the window can show it.
    pub fn for_app(events: Arc<Events>) -> Arc<Self> {
        Session::new(SessionParts {
            path: keyward_core::default_vault_path().map_err(CommandError::from),
            keychain: None,
            kdf: KdfParams::default(),
            clipboard: Clipboard::system(Arc::clone(&events)),
            events,
            watch_interval: VaultWatch::interval_from_env(),
        })
    }

    pub fn events(&self) -> &Events {
        &self.events
    }

    fn path(&self) -> Result<&Path, CommandError> {
        self.path.as_deref().map_err(Clone::clone)
    }

    // A panic while a lock was held cannot leave these half-written: take the data anyway.
    fn open_vault(&self) -> MutexGuard<'_, Option<Vault>> {
        self.vault.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn created_keys(&self) -> MutexGuard<'_, HashMap<String, SecretString>> {
        self.created_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn keychain(&self) -> Result<&Keychain, CommandError> {
        let keychain = self
            .keychain
            .get_or_init(|| Keychain::system().map_err(CommandError::from));
        keychain.as_ref().map_err(Clone::clone)
    }

    /// Starts the head start (see `head_start`) on a thread of its own: connects to the OS
    /// keychain, unlocks the vault with the key remembered there, if any, and reads the first
    /// account's keys. The commands that depend on the vault's state wait for it to end.
    pub fn begin_head_start(self: &Arc<Self>) {
        self.head_start.begin();
        let session = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("head-start".into())
            .spawn(move || {
                session.head_start_now();
                session.head_start.end();
            });
        if let Err(error) = spawned {
            self.head_start.end();
            applog::warn(&format!("no head start: {error}"));
        }
    }

    fn head_start_now(&self) {
        // The keychain's D-Bus connection, which `vault_status` reports on, is made either way.
        let keychain_available = self.keychain().is_ok();
        let exists = self.path().is_ok_and(Vault::exists);
        if !keychain_available || !exists {
            return;
        }
        match self.unlock_from_keychain_now() {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                // The window tries again and asks for the passphrase; the kind says why.
                applog::warn(&format!(
                    "the start-up unlock from the OS keychain failed ({}): {error}",
                    error.kind().as_str()
                ));
                return;
            }
        }
        let early = match self.open_vault().as_ref() {
            Some(vault) => EarlyKeys::read(vault),
            None => return,
        };
        match early {
            Ok(early) => *self.early_keys() = early,
            Err(error) => applog::warn(&format!(
                "the start-up read of the keys failed ({}): {error}",
                error.kind().as_str()
            )),
        }
    }

    fn early_keys(&self) -> MutexGuard<'_, Option<EarlyKeys>> {
        self.early_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the head start's read of the keys is still there to be handed out, for tests.
    #[cfg(test)]
    pub fn has_early_keys(&self) -> bool {
        self.early_keys().is_some()
    }

    /// The keys of `account` as `list_key_columns` answers them (JSON): those the head start
    /// read if they are of that account and nothing was written to the vault since, else read
    /// now. The head start's read is handed out once.
    pub fn key_columns_json(&self, account: &str) -> Result<String, CommandError> {
        self.with_vault(|vault| {
            // Taken once the head start has ended (`with_vault` waits for it): taken before, a
            // read still under way would be missed, and its JSON kept until the next lock.
            if let Some(early) = self.early_keys().take() {
                if early.account == account && early.version == vault.content_version()? {
                    return Ok(early.json);
                }
            }
            let keys = vault.list_keys(Some(account), &KeyFilter::default())?;
            head_start::key_columns_json(account, keys)
        })
    }

    pub fn status(&self) -> Result<VaultStatus, CommandError> {
        self.head_start.wait();
        let path = self.path()?;
        Ok(VaultStatus {
            exists: Vault::exists(path),
            unlocked: self.open_vault().is_some(),
            path: path.display().to_string(),
            keychain_available: self.keychain().is_ok(),
        })
    }

    pub fn create(
        &self,
        passphrase: &SecretString,
        remember: bool,
    ) -> Result<UnlockOutcome, CommandError> {
        self.head_start.wait();
        let vault = Vault::create(self.path()?, passphrase, self.kdf)?;
        self.open(vault, remember)
    }

    pub fn unlock(
        &self,
        passphrase: &SecretString,
        remember: bool,
    ) -> Result<UnlockOutcome, CommandError> {
        self.head_start.wait();
        let vault = Vault::open(self.path()?, passphrase)?;
        self.open(vault, remember)
    }

    /// Unlocks with the key remembered in the OS keychain; false when none is remembered
    /// (or no keychain exists): then the passphrase is needed.
    pub fn unlock_from_keychain(&self) -> Result<bool, CommandError> {
        self.head_start.wait();
        self.unlock_from_keychain_now()
    }

    fn unlock_from_keychain_now(&self) -> Result<bool, CommandError> {
        let Ok(keychain) = self.keychain() else {
            return Ok(false);
        };
        let Some(vault) = Vault::open_with_keychain(self.path()?, keychain)? else {
            return Ok(false);
        };
        self.open(vault, false)?;
        applog::info("vault unlocked from the OS keychain");
        Ok(true)
    }

    /// Forgets the vault key in the OS keychain; false when none was remembered.
    pub fn forget_keychain(&self) -> Result<bool, CommandError> {
        let keychain = self.keychain()?;
        let forgotten = self.with_vault(|vault| Ok(vault.forget_in(keychain)?))?;
        applog::info(if forgotten {
            "the vault key was forgotten in the OS keychain"
        } else {
            "asked to forget the vault key: the OS keychain held none"
        });
        Ok(forgotten)
    }

    /// Makes `vault` the open vault. Remembering it in the keychain is best effort: the vault
    /// is open either way, and the outcome says whether it worked.
    fn open(&self, mut vault: Vault, remember: bool) -> Result<UnlockOutcome, CommandError> {
        let mut outcome = UnlockOutcome {
            remembered: false,
            keychain_problem: None,
        };
        if remember {
            match self
                .keychain()
                .and_then(|keychain| Ok(vault.remember_in(keychain)?))
            {
                Ok(()) => outcome.remembered = true,
                Err(error) => outcome.keychain_problem = Some(error.to_string()),
            }
        }
        let delay = auto_lock_delay(&vault.settings()?);
        // What the window is about to read is the baseline: later outside commits are news.
        let version = vault.outside_version()?;
        let previous = {
            let mut open_vault = self.open_vault();
            *self.seen_version() = Some(version);
            open_vault.replace(vault)
        };
        drop(previous);
        self.idle.arm(delay);
        self.watch.arm();
        applog::info("vault opened");
        if let Some(problem) = &outcome.keychain_problem {
            applog::warn(&format!(
                "the OS keychain did not remember the vault: {problem}"
            ));
        }
        Ok(outcome)
    }

    /// Drops the open vault and everything secret the session holds, then tells the window.
    pub fn lock(&self, reason: LockReason) {
        let vault = self.close();
        let was_open = vault.is_some();
        // Closing flushes pending writes to disk: done after releasing the mutexes.
        drop(vault);
        if was_open {
            applog::info(&format!("vault locked ({})", lock_reason_text(reason)));
        }
        self.events.vault_locked(reason);
    }

    /// Locks for a reason from outside the window (the screen locked, the machine sleeps):
    /// only an open vault, so a locked window is not told again.
    pub fn lock_if_open(&self, reason: LockReason) {
        self.head_start.wait();
        if self.open_vault().is_some() {
            self.lock(reason);
        }
    }

    /// On quit: like `lock`, without telling a window that is going away.
    pub fn shut_down(&self) {
        drop(self.close());
        self.idle.stop();
        self.watch.stop();
    }

    fn close(&self) -> Option<Vault> {
        self.head_start.wait();
        self.idle.disarm();
        self.watch.disarm();
        let vault = {
            // Vault first, then the kept keys: the order `with_vault` + `keep_created_key` use.
            let mut open_vault = self.open_vault();
            let vault = open_vault.take();
            self.created_keys().clear();
            self.early_keys().take();
            vault
        };
        self.clipboard.release(ClipboardClearReason::Locked);
        vault
    }

    /// The administrator did something in the window: the auto-lock delay starts over.
    pub fn touch(&self) {
        self.idle.touch();
    }

    fn seen_version(&self) -> MutexGuard<'_, Option<i64>> {
        self.seen_version
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The watch's look at the open vault: when another process committed a change since the
    /// last look, follows the auto-lock delay it may have changed and tells the window. It is
    /// not the administrator's activity (the idle clock is left alone), and a vault busy with
    /// a command is looked at next time rather than waited for.
    pub fn notice_outside_changes(&self) {
        let mut open_vault = match self.vault.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        let Some(vault) = open_vault.as_mut() else {
            return;
        };
        let Ok(version) = vault.outside_version() else {
            return;
        };
        {
            let mut seen = self.seen_version();
            if *seen == Some(version) {
                return;
            }
            *seen = Some(version);
        }
        let settings = vault.settings();
        drop(open_vault);
        if let Ok(settings) = settings {
            self.idle.set_timeout(auto_lock_delay(&settings));
        }
        self.events.vault_changed();
    }

    fn syncing(&self) -> MutexGuard<'_, HashSet<String>> {
        self.syncing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_syncing(&self, account: &str) -> bool {
        self.syncing().contains(account)
    }

    /// Marks `account` as syncing; false when it already was.
    pub fn start_sync(&self, account: &str) -> bool {
        self.syncing().insert(account.to_string())
    }

    pub fn end_sync(&self, account: &str) {
        self.syncing().remove(account);
    }

    /// Runs `job` on the open vault (counting as activity); `VaultLocked` when none is open.
    pub fn with_vault<T>(
        &self,
        job: impl FnOnce(&mut Vault) -> Result<T, CommandError>,
    ) -> Result<T, CommandError> {
        self.head_start.wait();
        self.idle.touch();
        let mut open_vault = self.open_vault();
        let vault = open_vault.as_mut().ok_or(CommandError::VaultLocked)?;
        job(vault)
    }

    /// Creates a key through `create` and keeps its full key for `copy_created_key`; the
    /// view returned is the one response that ever carries a key.
    pub fn create_key(
        &self,
        create: impl FnOnce(&mut Vault) -> keyward_core::Result<CreatedKey>,
    ) -> Result<CreatedKeyView, CommandError> {
        self.with_vault(|vault| {
            let CreatedKey { key, secret } = create(vault)?;
            // Kept while the vault's lock is held, so a concurrent `lock` wipes it too.
            self.created_keys().insert(key.id.clone(), secret.clone());
            Ok(CreatedKeyView {
                key,
                secret: ShownOnce(secret),
            })
        })
    }

    /// Keeps the full keys of `created` for `copy_created_key` and `created_key_qr`. Call
    /// it inside `with_vault`, so a concurrent `lock` wipes them too.
    pub fn keep_created_keys<'a>(&self, created: impl IntoIterator<Item = &'a CreatedKey>) {
        let mut kept = self.created_keys();
        for key in created {
            kept.insert(key.key.id.clone(), key.secret.clone());
        }
    }

    /// The QR code (SVG) of a key still kept, made now and never stored.
    pub fn created_key_qr(&self, key_id: &str) -> Result<String, CommandError> {
        self.with_vault(|_| Ok(()))?;
        let secret = self.created_keys().get(key_id).cloned().ok_or_else(|| {
            CommandError::not_found(
                "that key's QR code can no longer be shown: a key is shown only once, when it is created",
            )
        })?;
        crate::qr::svg(&secret)
    }

    /// The window closed the one-time display: the key is gone for good.
    pub fn forget_created_key(&self, key_id: &str) {
        self.created_keys().remove(key_id);
    }

    pub fn copy_created_key(&self, key_id: &str) -> Result<CopyReceipt, CommandError> {
        let delay = self.with_vault(|vault| Ok(clipboard_delay(&vault.settings()?)))?;
        let secret = self.created_keys().get(key_id).cloned().ok_or_else(|| {
            CommandError::not_found(
                "that key can no longer be copied: a key is shown only once, when it is created",
            )
        })?;
        self.clipboard.copy(secret, delay)
    }

    /// Copies `secret`, to be cleared after the vault's clipboard delay.
    pub fn copy_secret(&self, secret: SecretString) -> Result<CopyReceipt, CommandError> {
        let delay = self.with_vault(|vault| Ok(clipboard_delay(&vault.settings()?)))?;
        self.clipboard.copy(secret, delay)
    }

    pub fn update_settings(&self, settings: Settings) -> Result<Settings, CommandError> {
        let saved = self.with_vault(|vault| Ok(vault.update_settings(settings)?))?;
        self.idle.set_timeout(auto_lock_delay(&saved));
        Ok(saved)
    }

    /// Shortens the auto-lock delay below the settings' one-minute minimum, for tests.
    #[cfg(test)]
    pub fn set_auto_lock_delay(&self, delay: Duration) {
        self.idle.set_timeout(delay);
    }

    /// The auto-lock delay in force, for tests.
    #[cfg(test)]
    pub fn auto_lock_delay(&self) -> Duration {
        self.idle.timeout()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.idle.stop();
        self.watch.stop();
    }
}

fn lock_reason_text(reason: LockReason) -> &'static str {
    match reason {
        LockReason::Idle => "idle",
        LockReason::User => "asked",
        LockReason::Screen => "the screen locked",
        LockReason::Suspend => "the machine is going to sleep",
    }
}

fn auto_lock_delay(settings: &Settings) -> Duration {
    Duration::from_secs(u64::from(settings.auto_lock_minutes) * 60)
}

fn clipboard_delay(settings: &Settings) -> Duration {
    Duration::from_secs(u64::from(settings.clipboard_clear_seconds))
}

/// Runs `job` on the blocking pool so the UI thread stays responsive (argon2, disk I/O).
pub async fn off_ui_thread<T, F>(
    session: &State<'_, Arc<Session>>,
    job: F,
) -> Result<T, CommandError>
where
    T: Send + 'static,
    F: FnOnce(&Session) -> Result<T, CommandError> + Send + 'static,
{
    let session = Arc::clone(session.inner());
    let answer = tauri::async_runtime::spawn_blocking(move || job(&session))
        .await
        .map_err(|error| CommandError::Internal(format!("a vault task failed: {error}")))?;
    if let Err(error) = &answer {
        // The kind and the message only: a message never carries a secret (and is redacted).
        applog::warn(&format!("refused ({}): {error}", error.kind().as_str()));
    }
    answer
}

/// Runs `job` on the open vault, on the blocking pool: the body of most commands.
pub async fn on_vault<T, F>(session: &State<'_, Arc<Session>>, job: F) -> Result<T, CommandError>
where
    T: Send + 'static,
    F: FnOnce(&mut Vault) -> keyward_core::Result<T> + Send + 'static,
{
    off_ui_thread(session, move |session| {
        session.with_vault(|vault| Ok(job(vault)?))
    })
    .await
}
