// Every command of the app, in one list: `module::command(argument: Type, …) -> Answer;`
// (the answer of a fallible command is its `Ok` type; errors are always `{ kind, message }`).
//
// Not a module: build.rs and src/lib.rs each include it with their own `app_commands!`.
// build.rs makes the command permissions from the names; lib.rs registers the handlers and,
// in its tests, writes the TypeScript `Commands` map (the request and answer of each
// command) into ui/src/bindings, checks the capability grants exactly these, and checks each
// command takes exactly the arguments written here. The UI's `ipc.ts` and its fake backend
// are typed by that map, so a command added here and nowhere else fails `npm run check`.
app_commands! {
    vault::vault_status() -> VaultStatus;
    vault::create_vault(passphrase: String, remember: bool) -> UnlockOutcome;
    vault::unlock(passphrase: String, remember: bool) -> UnlockOutcome;
    vault::unlock_from_keychain() -> bool;
    vault::forget_keychain() -> bool;
    vault::lock() -> ();
    vault::vault_summary() -> VaultSummary;
    vault::touch() -> ();
    accounts::list_accounts() -> Vec<Account>;
    accounts::create_account(name: String, prefix: Option<String>, key_limit: Option<u32>) -> Account;
    accounts::update_account(
        name: String,
        rename: Option<String>,
        prefix: Option<String>,
        key_limit: Option<u32>
    ) -> Account;
    accounts::reveal_shared_secret(account: String, passphrase: String) -> String;
    accounts::copy_shared_secret(account: String, passphrase: String) -> CopyReceipt;
    accounts::rotate_shared_secret(account: String) -> ();
    groups::list_groups(account: String) -> Vec<Group>;
    groups::create_group(
        account: String,
        name: String,
        description: Option<String>,
        scopes: Vec<String>
    ) -> Group;
    groups::update_group(
        account: String,
        name: String,
        rename: Option<String>,
        description: Option<String>,
        scopes: Option<Vec<String>>
    ) -> Group;
    groups::delete_group(account: String, name: String, force: bool) -> GroupDeletion;
    keys::key_presets() -> Vec<KeyPresetView>;
    keys::list_keys(account: String) -> Vec<ApiKey>;
    keys::list_key_columns(account: String) -> KeyColumns;
    keys::create_key(
        account: String,
        name: String,
        description: Option<String>,
        access: AccessType,
        allow_unbind: bool,
        groups: Vec<String>,
        expires_at: Option<String>
    ) -> CreatedKeyView;
    keys::copy_created_key(key_id: String) -> CopyReceipt;
    keys::forget_created_key(key_id: String) -> ();
    keys::rename_key(account: String, key: String, new_name: String) -> ApiKey;
    keys::set_key_status(account: String, key: String, status: KeyStatus) -> ApiKey;
    keys::set_key_groups(account: String, key: String, groups: Vec<String>) -> ApiKey;
    keys::delete_key(account: String, key: String) -> ApiKey;
    fleet::roll_keys(
        account: String,
        keys: Vec<String>,
        grace: String,
        export_dir: Option<String>
    ) -> RollView;
    fleet::change_keys(account: String, keys: Vec<String>, change: KeysChange) -> Vec<ApiKey>;
    fleet::add_many_keys(
        account: String,
        text: String,
        format: ManyKeysFormat,
        access: AccessType,
        allow_unbind: bool,
        groups: Vec<String>,
        expires_at: Option<String>,
        export_dir: Option<String>
    ) -> ManyCreatedView;
    fleet::review_counts(account: String) -> ReviewCounts;
    fleet::daily_review(today: String) -> DailyReview;
    fleet::created_key_qr(key_id: String) -> String;
    audit::list_audit(
        action: Option<String>,
        key: Option<String>,
        actor: Option<String>,
        since: Option<String>,
        until: Option<String>,
        limit: Option<usize>
    ) -> Vec<AuditView>;
    audit::verify_audit() -> AuditReport;
    settings::get_settings() -> Settings;
    settings::update_settings(settings: Settings) -> Settings;
    sync::sync_status(account: String) -> SyncStatus;
    sync::set_remote(account: String, url: String, token: String, insecure: bool) -> SyncStatus;
    sync::sync_now(account: String) -> SyncReport;
    sync::remove_remote(account: String, force: bool) -> SyncStatus;
}
