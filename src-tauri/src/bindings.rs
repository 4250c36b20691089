//! The TypeScript bindings in `ui/src/bindings/index.ts`, generated from the Rust types
//! with ts-rs, so the UI never re-declares a type. The test fails when the committed file
//! is stale; `UPDATE_BINDINGS=1 cargo test -p keyward-desktop bindings` rewrites it.

use std::path::Path;

use ts_rs::{Config, TS};

use crate::events::{CLIPBOARD_CLEARED, SYNC_STATUS, VAULT_CHANGED, VAULT_LOCKED};

const BINDINGS: &str = "ui/src/bindings/index.ts";

fn declaration<T: TS + ?Sized>(config: &Config) -> String {
    format!(
        "{}export {}\n",
        T::docs().unwrap_or_default(),
        T::decl(config)
    )
}

/// The whole file, built in memory.
fn generate() -> String {
    // serde_json writes u64 as a plain number; counts here never reach 2^53.
    let config = Config::new().with_large_int("number");
    let mut out = String::from(
        "// GENERATED from the Rust types by ts-rs (src-tauri/src/bindings.rs) — do not edit.\n\
         // Refresh: UPDATE_BINDINGS=1 cargo test -p keyward-desktop bindings\n\
         // Times are RFC 3339 strings; a Scope is the text \"resource:action\".\n\n",
    );
    let declarations = [
        // Records of keyward-core.
        declaration::<keyward_core::Account>(&config),
        declaration::<keyward_core::Group>(&config),
        declaration::<keyward_core::ApiKey>(&config),
        declaration::<keyward_core::KeyStatus>(&config),
        declaration::<keyward_core::AccessType>(&config),
        declaration::<keyward_core::Action>(&config),
        declaration::<keyward_core::Scope>(&config),
        declaration::<keyward_core::Preset>(&config),
        declaration::<keyward_core::AuditEntry>(&config),
        declaration::<keyward_core::AuditLine>(&config),
        declaration::<keyward_core::AuditValue>(&config),
        declaration::<keyward_core::AuditReport>(&config),
        declaration::<keyward_core::VaultSummary>(&config),
        declaration::<keyward_core::Settings>(&config),
        declaration::<keyward_core::GroupDeletion>(&config),
        // Errors.
        declaration::<crate::error::CommandErrorBody>(&config),
        declaration::<crate::error::CommandErrorKind>(&config),
        declaration::<keyward_core::ErrorKind>(&config),
        declaration::<crate::error::ShellErrorKind>(&config),
        // Answers of the shell's commands.
        declaration::<crate::vault::VaultStatus>(&config),
        declaration::<crate::vault::UnlockOutcome>(&config),
        declaration::<crate::keys::CreatedKeyView>(&config),
        declaration::<crate::keys::KeyPresetView>(&config),
        declaration::<crate::fleet::RolledKeyView>(&config),
        declaration::<crate::fleet::RollView>(&config),
        declaration::<crate::fleet::ManyCreatedView>(&config),
        declaration::<keyward_core::KeysChange>(&config),
        declaration::<crate::fleet::ManyKeysFormat>(&config),
        declaration::<crate::fleet::DailyReview>(&config),
        declaration::<keyward_core::ReviewCounts>(&config),
        declaration::<keyward_core::SkippedKey>(&config),
        declaration::<keyward_core::KeyFile>(&config),
        declaration::<crate::clipboard::CopyReceipt>(&config),
        declaration::<crate::audit::AuditView>(&config),
        declaration::<keyward_sync::Entity>(&config),
        declaration::<keyward_sync::Conflict>(&config),
        declaration::<keyward_core::RefusedChange>(&config),
        declaration::<keyward_sync::SyncReport>(&config),
        declaration::<keyward_core::RemoteInfo>(&config),
        declaration::<crate::sync::SyncStatus>(&config),
        // Events.
        declaration::<crate::events::VaultLocked>(&config),
        declaration::<crate::events::LockReason>(&config),
        declaration::<crate::events::ClipboardCleared>(&config),
        declaration::<crate::events::ClipboardClearReason>(&config),
    ];
    out.push_str(&declarations.join("\n"));
    out.push_str(&format!(
        "\n/** The events the backend emits, by name, with their payloads. */\n\
         export type BackendEvents = {{ \"{VAULT_LOCKED}\": VaultLocked, \"{CLIPBOARD_CLEARED}\": ClipboardCleared, \"{SYNC_STATUS}\": SyncStatus, \"{VAULT_CHANGED}\": null, }};\n\n\
         export const VAULT_LOCKED = \"{VAULT_LOCKED}\";\n\
         export const CLIPBOARD_CLEARED = \"{CLIPBOARD_CLEARED}\";\n\
         export const SYNC_STATUS = \"{SYNC_STATUS}\";\n\
         export const VAULT_CHANGED = \"{VAULT_CHANGED}\";\n"
    ));
    out
}

#[test]
fn bindings_the_committed_typescript_matches_the_rust_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(BINDINGS);
    let generated = generate();
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{BINDINGS} is stale: the Rust types changed. Refresh it with\n  \
         UPDATE_BINDINGS=1 cargo test -p keyward-desktop bindings\nand commit it."
    );
}
