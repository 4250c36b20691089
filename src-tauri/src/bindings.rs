//! The TypeScript bindings in `ui/src/bindings/index.ts`, generated from the Rust types
//! with ts-rs, so the UI never re-declares a type. The test fails when the committed file
//! is stale; `UPDATE_BINDINGS=1 cargo test -p keyward-desktop bindings` rewrites it.

use std::path::Path;

use ts_rs::{Config, TS};

use crate::events::{CLIPBOARD_CLEARED, SYNC_STATUS, VAULT_CHANGED, VAULT_LOCKED};

const BINDINGS: &str = "ui/src/bindings/index.ts";

/// One command of src-tauri/commands.rs: its name, arguments and answer, in TypeScript.
pub struct CommandSignature {
    pub name: &'static str,
    pub args: Vec<Argument>,
    pub answer: String,
}

pub struct Argument {
    /// As the window sends it: Tauri turns `key_limit` into `keyLimit`.
    pub js_name: String,
    pub ts_type: String,
    /// An `Option`: the window may leave it out.
    pub optional: bool,
}

impl Argument {
    pub fn of<T: TS>(rust_name: &str, config: &Config) -> Argument {
        let mut js_name = String::new();
        let mut upper = false;
        for c in rust_name.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                js_name.extend(c.to_uppercase());
                upper = false;
            } else {
                js_name.push(c);
            }
        }
        let optional = T::IS_OPTION;
        let ts_type = if optional {
            // `T | null`: the type of the value when it is given.
            T::name(config).trim_end_matches(" | null").to_string()
        } else {
            T::name(config)
        };
        Argument {
            js_name,
            ts_type,
            optional,
        }
    }
}

/// `Commands`: every command's arguments and answer, which ipc.ts and the UI's fake backend
/// are typed by, and `COMMANDS`, their names.
fn commands(config: &Config) -> String {
    let signatures = crate::command_signatures(config);
    let mut out = String::from(
        "/** Every command: what it takes (as the window sends it) and what it answers. */\nexport type Commands = {\n",
    );
    for command in &signatures {
        let args: Vec<String> = command
            .args
            .iter()
            .map(|arg| {
                if arg.optional {
                    format!("{}?: {} | null", arg.js_name, arg.ts_type)
                } else {
                    format!("{}: {}", arg.js_name, arg.ts_type)
                }
            })
            .collect();
        let args = if args.is_empty() {
            "Record<string, never>".to_string()
        } else {
            format!("{{ {} }}", args.join("; "))
        };
        out.push_str(&format!(
            "  {}: {{ args: {args}; answer: {} }};\n",
            command.name, command.answer
        ));
    }
    out.push_str("};\n\n/** The names of the commands, in the order of src-tauri/commands.rs. */\nexport const COMMANDS = [\n");
    for command in &signatures {
        out.push_str(&format!("  \"{}\",\n", command.name));
    }
    out.push_str("] as const;\n");
    out.push_str(
        "\n/** The arguments each command takes, as the window names them: the fake backend refuses any other. */\n\
         export const COMMAND_ARGUMENTS = {\n",
    );
    for command in &signatures {
        let names: Vec<String> = command
            .args
            .iter()
            .map(|arg| format!("\"{}\"", arg.js_name))
            .collect();
        out.push_str(&format!("  {}: [{}],\n", command.name, names.join(", ")));
    }
    out.push_str(
        "} as const satisfies { [C in keyof Commands]: readonly (keyof Commands[C][\"args\"])[] };\n",
    );
    out
}

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
        declaration::<crate::views::VaultStatus>(&config),
        declaration::<crate::views::UnlockOutcome>(&config),
        declaration::<crate::views::KeyColumns>(&config),
        declaration::<crate::views::CreatedKeyView>(&config),
        declaration::<crate::views::KeyPresetView>(&config),
        declaration::<crate::views::RolledKeyView>(&config),
        declaration::<crate::views::RollView>(&config),
        declaration::<crate::views::ManyCreatedView>(&config),
        declaration::<keyward_core::KeysChange>(&config),
        declaration::<crate::views::ManyKeysFormat>(&config),
        declaration::<crate::views::DailyReview>(&config),
        declaration::<keyward_core::ReviewCounts>(&config),
        declaration::<keyward_core::SkippedKey>(&config),
        declaration::<keyward_core::KeyFile>(&config),
        declaration::<crate::views::CopyReceipt>(&config),
        declaration::<crate::views::AuditView>(&config),
        declaration::<keyward_sync::Entity>(&config),
        declaration::<keyward_sync::Conflict>(&config),
        declaration::<keyward_core::RefusedChange>(&config),
        declaration::<keyward_sync::SyncReport>(&config),
        declaration::<keyward_core::RemoteInfo>(&config),
        declaration::<crate::views::SyncStatus>(&config),
        // Events.
        declaration::<crate::views::VaultLocked>(&config),
        declaration::<crate::views::LockReason>(&config),
        declaration::<crate::views::ClipboardCleared>(&config),
        declaration::<crate::views::ClipboardClearReason>(&config),
    ];
    out.push_str(&declarations.join("\n"));
    out.push('\n');
    out.push_str(&commands(&config));
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
