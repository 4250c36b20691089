//! One function per command: parse what the user typed, call the vault, print.

use std::io::{IsTerminal, Read};

use keyward_core::{
    validate, AccessType, AccountChanges, AuditFilter, KdfParams, KeyFilter, KeySelection,
    KeyStatus, Keychain, Method, NewAccount, NewGroup, NewKey, Preset, Request, Scope, Vault,
    VerifyResult,
};
use serde_json::json;

use crate::args::*;
use crate::{output, unlock, Failure};

type Outcome = Result<(), Failure>;

/// What every command needs besides its own arguments.
struct Context {
    json: bool,
    account: Option<String>,
    actor: Option<String>,
    vault_path: std::path::PathBuf,
}

impl Context {
    fn open(&self) -> Result<Vault, Failure> {
        let mut vault = unlock::open(&self.vault_path)?;
        self.apply_actor(&mut vault)?;
        Ok(vault)
    }

    /// `--actor`/`$KEYWARD_ACTOR`; without it the vault records the OS user name.
    fn apply_actor(&self, vault: &mut Vault) -> Outcome {
        if let Some(actor) = &self.actor {
            vault.set_actor(actor)?;
        }
        Ok(())
    }

    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }
}

pub fn run(cli: Cli) -> Outcome {
    let context = Context {
        json: cli.json,
        account: cli.account,
        actor: cli.actor,
        vault_path: unlock::vault_path(cli.vault.as_deref())?,
    };
    match cli.command {
        Command::Init(args) => init(&context, args),
        Command::Account(command) => account(&context, command),
        Command::Group(command) => group(&context, command),
        Command::Key(command) => key(&context, command),
        Command::Secret(command) => secret(&context, command),
        Command::Audit(command) => audit(&context, command),
        Command::Passphrase(PassphraseCommand::Change(args)) => change_passphrase(&context, args),
        Command::Keychain(command) => keychain(&context, command),
        Command::Remote(command) => remote(&context, command),
        Command::Sync => sync(&context),
    }
}

fn done(context: &Context, message: &str, value: serde_json::Value) {
    if context.json {
        output::json(&value);
    } else {
        println!("{message}");
    }
}

/// The KDF parameters asked for, the defaults for the rest.
fn kdf_params(args: &InitArgs) -> KdfParams {
    let defaults = KdfParams::default();
    KdfParams {
        memory_kib: args
            .kdf_memory_mib
            .map_or(defaults.memory_kib, |mib| mib.saturating_mul(1024)),
        passes: args.kdf_passes.unwrap_or(defaults.passes),
        lanes: defaults.lanes,
    }
}

fn init(context: &Context, args: InitArgs) -> Outcome {
    let params = kdf_params(&args);
    let path = &context.vault_path;
    if path.exists() {
        return Err(keyward_core::Error::VaultExists(path.display().to_string()).into());
    }
    let passphrase = unlock::new_passphrase("KEYWARD_PASSPHRASE", "New vault passphrase")?;
    match &context.actor {
        Some(actor) => Vault::create_as(path, &passphrase, params, actor)?,
        None => Vault::create(path, &passphrase, params)?,
    };
    done(
        context,
        &format!(
            "Created vault {}. Next: keyward account create NAME",
            path.display()
        ),
        json!({ "vault": path, "kdf": params }),
    );
    Ok(())
}

fn account(context: &Context, command: AccountCommand) -> Outcome {
    let mut vault = context.open()?;
    match command {
        AccountCommand::Create {
            name,
            prefix,
            key_limit,
        } => {
            let account = vault.create_account(&name, NewAccount { prefix, key_limit })?;
            done(
                context,
                &format!(
                    "Created account {} (prefix {}, key limit {}).",
                    account.name, account.prefix, account.key_limit
                ),
                json!(account),
            );
        }
        AccountCommand::List => {
            let accounts = vault.list_accounts()?;
            if context.json {
                output::json(&accounts);
            } else {
                let rows: Vec<Vec<String>> = accounts
                    .iter()
                    .map(|a| {
                        vec![
                            a.name.clone(),
                            a.prefix.clone(),
                            format!("{}/{}", a.key_count, a.key_limit),
                            output::time(&a.created_at),
                        ]
                    })
                    .collect();
                output::table(&["NAME", "PREFIX", "KEYS", "CREATED"], &rows);
            }
        }
        AccountCommand::Set {
            name,
            rename,
            prefix,
            key_limit,
        } => {
            let account = vault.update_account(
                &name,
                AccountChanges {
                    rename,
                    prefix,
                    key_limit,
                },
            )?;
            done(
                context,
                &format!(
                    "Updated account {} (prefix {}, key limit {}).",
                    account.name, account.prefix, account.key_limit
                ),
                json!(account),
            );
        }
    }
    Ok(())
}

fn group(context: &Context, command: GroupCommand) -> Outcome {
    let mut vault = context.open()?;
    match command {
        GroupCommand::Create {
            name,
            description,
            scopes,
        } => {
            let scopes = scopes
                .iter()
                .map(|s| s.parse::<Scope>())
                .collect::<Result<Vec<_>, _>>()?;
            let group = vault.create_group(
                context.account(),
                NewGroup {
                    name,
                    description,
                    scopes,
                },
            )?;
            done(
                context,
                &format!("Created group {}.", group.name),
                json!(group),
            );
        }
        GroupCommand::List => {
            let groups = vault.list_groups(context.account())?;
            if context.json {
                output::json(&groups);
            } else {
                output::groups_table(&groups);
            }
        }
        GroupCommand::Delete { name, force } => {
            let deletion = vault.delete_group(context.account(), &name, force)?;
            let mut message = format!(
                "Deleted group {} ({} key(s) had it).",
                deletion.group, deletion.keys_affected
            );
            if !deletion.keys_deactivated.is_empty() {
                message.push_str(&format!(
                    "\nDeactivated because it was their only group: {}",
                    deletion.keys_deactivated.join(", ")
                ));
            }
            done(context, &message, json!(deletion));
        }
    }
    Ok(())
}

fn new_key(settings: &KeySettings) -> Result<NewKey, Failure> {
    let preset = settings
        .preset
        .as_deref()
        .map(str::parse::<Preset>)
        .transpose()?;
    let access = match &settings.access {
        Some(text) => Some(text.parse::<AccessType>()?),
        None => preset.map(|p| p.access()),
    };
    let now = keyward_core::now();
    let expires_at = match (&settings.expires_in, &settings.expires) {
        (Some(text), _) => Some(validate::expires_in(text, now)?),
        (None, Some(text)) => Some(validate::expires_at(text, now)?),
        (None, None) => None,
    };
    Ok(NewKey {
        description: settings.description.clone(),
        access,
        allow_unbind: settings.allow_unbind || preset.is_some_and(|p| p.allow_unbind()),
        groups: settings.groups.clone(),
        expires_at,
    })
}

fn read_names(path: &std::path::Path) -> Result<Vec<String>, Failure> {
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map(|_| text)
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|err| Failure::input(format!("cannot read names from {}: {err}", path.display())))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        return Err(Failure::input(format!(
            "{} holds no names: write one key name per line",
            path.display()
        )));
    }
    Ok(names)
}

fn key(context: &Context, command: KeyCommand) -> Outcome {
    if let KeyCommand::Verify {
        method,
        resource,
        unbind,
    } = command
    {
        return verify(context, method, resource, unbind);
    }
    // Parse everything before asking for the passphrase.
    let mut vault = match &command {
        KeyCommand::Create {
            settings, export, ..
        } => {
            new_key(settings)?;
            check_export(export)?;
            context.open()?
        }
        KeyCommand::Roll { grace, export, .. } => {
            validate::roll_grace(grace)?;
            check_export(export)?;
            context.open()?
        }
        _ => context.open()?,
    };
    let account = context.account();
    match command {
        KeyCommand::Create {
            name,
            names_from,
            settings,
            export,
        } => {
            let new = new_key(&settings)?;
            // A --names-from run prints one line per key, even for a single name.
            let batch = names_from.is_some();
            let names = match (name, names_from) {
                (Some(name), None) => vec![name],
                (None, Some(path)) => read_names(&path)?,
                _ => return Err(Failure::input("give a key NAME or --names-from FILE")),
            };
            match &export.export_dir {
                Some(dir) => {
                    let (created, files) =
                        vault.create_keys_exported(account, &names, &new, dir)?;
                    let keys: Vec<&keyward_core::ApiKey> = created.iter().map(|c| &c.key).collect();
                    print_exported(context, &keys, &files, dir);
                }
                None => {
                    let created = vault.create_keys(account, &names, &new)?;
                    print_created(context, &created, batch);
                }
            }
        }
        KeyCommand::List {
            status,
            group,
            filter,
            expiring,
            unused_for,
        } => {
            let status = status.as_deref().map(str::parse::<KeyStatus>).transpose()?;
            let window = |flag, text: Option<String>| {
                text.map(|text| validate::review_window(flag, &text))
                    .transpose()
            };
            let keys = vault.list_keys(
                account,
                &KeyFilter {
                    status,
                    group,
                    text: filter,
                    expiring_within: window("--expiring", expiring)?,
                    unused_for: window("--unused-for", unused_for)?,
                },
            )?;
            if context.json {
                output::json(&keys);
            } else {
                output::keys_table(&keys);
            }
        }
        KeyCommand::Show { key } => {
            let key = vault.key(account, &key)?;
            if context.json {
                output::json(&key);
            } else {
                output::key_details(&key);
            }
        }
        KeyCommand::Rename { key, new_name } => {
            let old = vault.key(account, &key)?.name;
            let key = vault.rename_key(account, &key, &new_name)?;
            done(
                context,
                &format!("Renamed key {old:?} to {:?}.", key.name),
                json!(key),
            );
        }
        KeyCommand::Enable { key } => {
            let key = vault.set_key_status(account, &key, KeyStatus::Active)?;
            done(
                context,
                &format!("Key {:?} is active.", key.name),
                json!(key),
            );
        }
        KeyCommand::Disable { key } => {
            let key = vault.set_key_status(account, &key, KeyStatus::Inactive)?;
            done(
                context,
                &format!("Key {:?} is inactive: it no longer verifies.", key.name),
                json!(key),
            );
        }
        KeyCommand::SetGroups { key, groups } => {
            let key = vault.set_key_groups(account, &key, &groups)?;
            let summary = if key.groups.is_empty() {
                "no groups (its access type alone limits it)".to_string()
            } else {
                key.groups.join(", ")
            };
            done(
                context,
                &format!("Key {:?} now has {summary}.", key.name),
                json!(key),
            );
        }
        KeyCommand::Delete { key, yes } => {
            let found = vault.key(account, &key)?;
            if !yes {
                confirm_delete(&found)?;
            }
            let deleted = vault.delete_key(account, &found.id)?;
            done(
                context,
                &format!("Deleted key {:?} ({}).", deleted.name, deleted.hint),
                json!(deleted),
            );
        }
        KeyCommand::Roll {
            key,
            group,
            filter,
            grace,
            export,
        } => {
            let grace = validate::roll_grace(&grace)?;
            let (selection, batch) = match (key, group, filter) {
                (Some(key), None, None) => (KeySelection::Keys(vec![key]), false),
                (None, Some(group), None) => (KeySelection::Group(group), true),
                (None, None, Some(text)) => (KeySelection::Filter(text), true),
                _ => return Err(Failure::input("give a KEY, --group G or --filter TEXT")),
            };
            match &export.export_dir {
                Some(dir) => {
                    let (outcome, files) =
                        vault.roll_keys_exported(account, &selection, grace, dir)?;
                    let keys: Vec<&keyward_core::ApiKey> =
                        outcome.rolled.iter().map(|r| &r.successor.key).collect();
                    print_exported(context, &keys, &files, dir);
                    print_roll_notes(&outcome);
                }
                None => {
                    let outcome = vault.roll_keys(account, &selection, grace)?;
                    print_rolled(context, &outcome, batch);
                }
            }
        }
        KeyCommand::Verify { .. } => unreachable!("handled above"),
    }
    Ok(())
}

/// The successors of a roll, as `print_created` prints new keys (each line or
/// record also names the key it replaces), and on stderr when the old keys end
/// and which keys were skipped.
fn print_rolled(context: &Context, outcome: &keyward_core::RollOutcome, batch: bool) {
    for rolled in &outcome.rolled {
        let (new, old) = (&rolled.successor, &rolled.replaced);
        if context.json {
            let mut value = json!(new.key);
            value["replaces"] = json!({ "id": old.id, "name": old.name, "expires_at": old.expires_at.map(|at| at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()) });
            print_key_record(value, &new.secret, batch);
        } else if batch {
            println!("{}\t{}", new.key.name, new.secret.expose());
        } else {
            println!(
                "Rolled key {:?} in account {}: its successor is",
                new.key.name, new.key.account
            );
            println!("{}", new.secret.expose());
        }
    }
    print_roll_notes(outcome);
    say_shown_once(context, batch);
}

/// When each replaced key ends, and which keys were skipped (on stderr).
fn print_roll_notes(outcome: &keyward_core::RollOutcome) {
    for rolled in &outcome.rolled {
        let old = &rolled.replaced;
        let ends = old
            .expires_at
            .as_ref()
            .map(output::seconds)
            .unwrap_or_default();
        eprintln!(
            "keyward: the old key, now {:?}, works until {ends} UTC, then answers EXPIRED",
            old.name
        );
    }
    if !outcome.skipped.is_empty() {
        eprintln!("keyward: skipped {} key(s):", outcome.skipped.len());
        for skipped in &outcome.skipped {
            eprintln!("  {}", skipped.reason);
        }
    }
}

fn check_export(export: &ExportArgs) -> Outcome {
    match &export.export_dir {
        Some(dir) => Ok(keyward_core::check_export_dir(dir)?),
        None => Ok(()),
    }
}

/// Keys handed over in files: each key's record and its file (one JSON line
/// each), or NAME<tab>FILE; never the key itself.
fn print_exported(
    context: &Context,
    keys: &[&keyward_core::ApiKey],
    files: &[keyward_core::KeyFile],
    dir: &std::path::Path,
) {
    for (key, file) in keys.iter().zip(files) {
        if context.json {
            let mut value = json!(key);
            value["file"] = json!(file.path);
            output::json_line(&value);
        } else {
            println!("{}\t{}", key.name, file.path.display());
        }
    }
    eprintln!(
        "keyward: {} key file(s) in {}, readable by you only: give each to its device, then delete it — the keys are not shown again",
        files.len(),
        dir.display()
    );
}

/// A new key's record with its key: one JSON line in a batch, else pretty.
fn print_key_record(
    mut value: serde_json::Value,
    secret: &keyward_core::SecretString,
    batch: bool,
) {
    value["secret"] = json!(secret.expose());
    if batch {
        output::json_line(&value);
    } else {
        output::json(&value);
    }
}

/// After printing new keys for people (on stderr): they are not shown again.
fn say_shown_once(context: &Context, batch: bool) {
    if context.json {
        return;
    }
    eprintln!(
        "{}",
        if batch {
            "These keys are shown only now and cannot be shown again: copy them to where they are used."
        } else {
            "This key is shown only now and cannot be shown again: copy it to where it is used."
        }
    );
}

fn print_created(context: &Context, created: &[keyward_core::CreatedKey], batch: bool) {
    for item in created {
        if context.json {
            print_key_record(json!(item.key), &item.secret, batch);
        } else if batch {
            println!("{}\t{}", item.key.name, item.secret.expose());
        } else {
            let groups = if item.key.groups.is_empty() {
                "no groups".into()
            } else {
                item.key.groups.join(", ")
            };
            println!(
                "Created key {:?} in account {} ({}, {groups}):",
                item.key.name, item.key.account, item.key.access
            );
            println!("{}", item.secret.expose());
        }
    }
    say_shown_once(context, batch);
}

fn confirm_delete(key: &keyward_core::ApiKey) -> Outcome {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::input(format!(
            "not deleting key {:?} without confirmation: add --yes",
            key.name
        )));
    }
    let last_used = key
        .last_used_at
        .as_ref()
        .map(output::time)
        .unwrap_or_else(|| "Never".into());
    let groups = if key.groups.is_empty() {
        "none".into()
    } else {
        key.groups.join(", ")
    };
    eprint!(
        "Delete key {:?} ({}; last used: {last_used}; groups: {groups})? Type yes: ",
        key.name, key.hint
    );
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|err| Failure::input(err.to_string()))?;
    if answer.trim().eq_ignore_ascii_case("yes") || answer.trim().eq_ignore_ascii_case("y") {
        Ok(())
    } else {
        Err(Failure::input("not deleted"))
    }
}

fn verify(
    context: &Context,
    method: Option<String>,
    resource: Option<String>,
    unbind: bool,
) -> Outcome {
    let method = match method {
        Some(text) => text.parse::<Method>()?,
        None if unbind => Method::Delete,
        None => Method::Get,
    };
    let resource = resource.unwrap_or_else(|| keyward_core::access::DEVICES.to_string());
    let request = Request::new(method, &resource, unbind)?;
    if std::io::stdin().is_terminal() {
        eprintln!("Paste the key, then press Enter and Ctrl-D:");
    }
    let mut buffer = zeroize::Zeroizing::new(Vec::with_capacity(128));
    std::io::stdin()
        .take(64 * 1024)
        .read_to_end(&mut buffer)
        .map_err(|err| Failure::input(format!("cannot read the key from standard input: {err}")))?;
    let presented =
        keyward_core::SecretString::new(String::from_utf8_lossy(&buffer).trim().to_string());
    let mut vault = context.open()?;
    let verification = vault.verify_key(&presented, &request)?;
    vault.flush_last_used()?;
    if context.json {
        output::json(&verification);
    } else {
        println!("{}", verification.result.as_str());
    }
    if verification.result == VerifyResult::Valid {
        Ok(())
    } else {
        Err(Failure::negative())
    }
}

fn secret(context: &Context, command: SecretCommand) -> Outcome {
    match command {
        SecretCommand::Show => {
            let vault = context.open()?;
            let passphrase =
                unlock::passphrase("Enter the vault passphrase to reveal the shared secret: ")?;
            let account = vault.account(&resolve_account_name(&vault, context)?)?;
            let secret = vault.reveal_shared_secret(Some(&account.name), &passphrase)?;
            if context.json {
                output::json(&json!({ "account": account.name, "secret": secret.expose() }));
            } else {
                println!("{}", secret.expose());
            }
        }
        SecretCommand::Rotate => {
            let mut vault = context.open()?;
            let name = resolve_account_name(&vault, context)?;
            vault.rotate_shared_secret(Some(&name))?;
            done(
                context,
                &format!("Rotated the shared secret of account {name}; integrations need the new one (keyward secret show)."),
                json!({ "account": name, "rotated": true }),
            );
        }
    }
    Ok(())
}

fn resolve_account_name(vault: &Vault, context: &Context) -> Result<String, Failure> {
    if let Some(name) = context.account() {
        return Ok(vault.account(name)?.name);
    }
    let accounts = vault.list_accounts()?;
    match accounts.as_slice() {
        [only] => Ok(only.name.clone()),
        [] => Err(Failure::input(
            "the vault has no account yet: create one with `keyward account create NAME`",
        )),
        _ => Err(keyward_core::Error::AccountNeeded.into()),
    }
}

/// A bound of `audit list`'s time range: an RFC 3339 time, or a day (UTC) — its start for
/// `--since`, the start of the next day for `--until`, so the day itself is included.
fn audit_bound(flag: &str, text: &str, end_of_day: bool) -> Result<time::OffsetDateTime, Failure> {
    let text = text.trim();
    let day_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(day) = time::Date::parse(text, &day_format) {
        let day = if end_of_day {
            day.next_day()
        } else {
            Some(day)
        };
        if let Some(day) = day {
            return Ok(day.midnight().assume_utc());
        }
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|_| {
        Failure::input(format!(
            "invalid {flag} {text:?}: write YYYY-MM-DD or an RFC 3339 time like 2026-12-01T09:00:00Z"
        ))
    })
}

fn audit(context: &Context, command: AuditCommand) -> Outcome {
    let vault = context.open()?;
    match command {
        AuditCommand::List {
            action,
            key,
            by,
            since,
            until,
            limit,
        } => {
            let entries = vault.audit_entries(&AuditFilter {
                action,
                target: key,
                limit,
                actor: by,
                since: since
                    .map(|text| audit_bound("--since", &text, false))
                    .transpose()?,
                until: until
                    .map(|text| audit_bound("--until", &text, true))
                    .transpose()?,
            })?;
            if context.json {
                output::json(&entries);
            } else {
                output::audit_table(&entries, &vault.describe_audit(&entries)?);
            }
            Ok(())
        }
        AuditCommand::Verify => {
            let report = vault.verify_audit()?;
            if context.json {
                output::json(&report);
            } else if report.ok {
                println!("audit log intact: {} entries", report.entries);
            } else {
                println!(
                    "audit log BROKEN at entry {}: {}",
                    report.broken_at.unwrap_or_default(),
                    report.problem.as_deref().unwrap_or("unknown problem")
                );
            }
            if report.ok {
                Ok(())
            } else {
                Err(Failure::negative())
            }
        }
    }
}

fn change_passphrase(context: &Context, args: InitArgs) -> Outcome {
    let params = kdf_params(&args);
    params.validate()?;
    let old = unlock::passphrase("Current vault passphrase: ")?;
    let mut vault = Vault::open(&context.vault_path, &old)?;
    context.apply_actor(&mut vault)?;
    let new = unlock::new_passphrase("KEYWARD_NEW_PASSPHRASE", "New vault passphrase")?;
    vault.change_passphrase(&old, &new, params)?;
    // A key remembered in the keychain is the old one now: remember the new one.
    if let Ok(keychain) = Keychain::system() {
        vault.renew_in(&keychain)?;
    }
    done(
        context,
        "Changed the vault passphrase.",
        json!({ "changed": true }),
    );
    Ok(())
}

fn keychain(context: &Context, command: KeychainCommand) -> Outcome {
    let keychain = Keychain::system()?;
    match command {
        KeychainCommand::Remember => {
            let passphrase = unlock::passphrase("Vault passphrase: ")?;
            let mut vault = Vault::open(&context.vault_path, &passphrase)?;
            context.apply_actor(&mut vault)?;
            vault.remember_in(&keychain)?;
            done(context, "The vault key is remembered in the OS keychain: the vault opens without the passphrase.", json!({ "remembered": true }));
        }
        KeychainCommand::Forget => {
            let mut vault = context.open()?;
            let forgotten = vault.forget_in(&keychain)?;
            let message = if forgotten {
                "Forgot the vault key in the OS keychain."
            } else {
                "The OS keychain held no key for this vault."
            };
            done(context, message, json!({ "forgotten": forgotten }));
        }
    }
    Ok(())
}

fn remote(context: &Context, command: RemoteCommand) -> Outcome {
    let mut vault = context.open()?;
    let account = resolve_account_name(&vault, context)?;
    match command {
        RemoteCommand::Set { url, insecure } => {
            // Checked before asking for a token, so a bad URL costs no typing.
            keyward_core::check_remote_url(&url, insecure)?;
            let token =
                unlock::secret_from("KEYWARD_REMOTE_TOKEN", "Sync token: ").map_err(|_| {
                    Failure::input(
                        "no sync token: set KEYWARD_REMOTE_TOKEN, or run in a terminal to be asked",
                    )
                })?;
            let remote = vault.set_remote(Some(&account), &url, &token, insecure)?;
            let pending = vault.sync_state(Some(&account))?.pending_changes;
            done(
                context,
                &format!(
                    "Account {account} syncs with {} (token {}); {pending} changes wait for `keyward sync`.",
                    remote.url, remote.token_hint
                ),
                json!({ "account": account, "remote": remote, "pending_changes": pending }),
            );
        }
        RemoteCommand::Remove { force } => {
            let dropped = vault.remove_remote(Some(&account), force)?;
            let message = match dropped {
                0 => format!("Account {account} no longer syncs; its keys stay in this vault."),
                n => format!("Account {account} no longer syncs; {n} changes that had not reached the remote will not be sent."),
            };
            done(
                context,
                &message,
                json!({ "account": account, "removed": true, "dropped_changes": dropped }),
            );
        }
        RemoteCommand::Show => {
            let state = vault.sync_state(Some(&account))?;
            let last_report: Option<serde_json::Value> = state
                .last_report
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok());
            if context.json {
                output::json(&json!({
                    "account": account,
                    "remote": state.remote,
                    "pending_changes": state.pending_changes,
                    "last_sync_at": state.last_sync_at.and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok()),
                    "last_report": last_report,
                    "last_error": state.last_error,
                    "refused": state.refused,
                }));
                return Ok(());
            }
            match &state.remote {
                None => println!(
                    "Account {account} has no remote: set one with `keyward remote set URL`."
                ),
                Some(remote) => {
                    println!("Account:          {account}");
                    println!(
                        "Remote:           {}{}",
                        remote.url,
                        if remote.insecure {
                            " (insecure HTTP allowed)"
                        } else {
                            ""
                        }
                    );
                    println!("Sync token:       {}", remote.token_hint);
                    println!("Pending changes:  {}", state.pending_changes);
                    println!(
                        "Last sync:        {}",
                        state
                            .last_sync_at
                            .map_or("never".into(), |at| output::time(&at))
                    );
                    if let Some(error) = &state.last_error {
                        println!("Last error:       {error}");
                    }
                    if !state.refused.is_empty() {
                        println!(
                            "Refused changes:  {} (kept aside; the rest was sent)",
                            state.refused.len()
                        );
                        print_refused(&state.refused, "  ");
                    }
                }
            }
        }
    }
    Ok(())
}

fn sync(context: &Context) -> Outcome {
    let mut vault = context.open()?;
    let account = resolve_account_name(&vault, context)?;
    let access = std::cell::RefCell::new(&mut vault);
    let report = keyward_sync::sync(
        &access,
        Some(&account),
        &keyward_sync::SyncOptions::default(),
    )
    .map_err(|err| match err {
        keyward_sync::SyncError::Unreachable { .. }
        | keyward_sync::SyncError::Misbehaving { .. } => Failure::unreachable(err.to_string()),
        keyward_sync::SyncError::Vault(err) => Failure::from(err),
        other => Failure::input(other.to_string()),
    })?;
    // What needs the administrator goes to stderr, whatever the format.
    if !report.refused.is_empty() {
        eprintln!(
            "keyward: the remote refused {} change(s), kept aside (see `keyward remote show`); the rest went through:",
            report.refused.len()
        );
        print_refused_to(&mut std::io::stderr(), &report.refused, "  ");
    }
    if let Some(problem) = &report.audit_problem {
        eprintln!("keyward: {problem} — check it with `keyward audit verify`");
    }
    if context.json {
        output::json(&report);
        return Ok(());
    }
    println!(
        "Account {account}: pushed {} changes, pulled {}, {} conflicts.",
        report.pushed,
        report.pulled,
        report.conflicts.len()
    );
    for conflict in &report.conflicts {
        println!(
            "  {} {:?}: {} — yours {}, kept {} ({})",
            serde_json::to_value(conflict.entity)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            conflict.name,
            conflict.field,
            conflict.yours,
            conflict.kept,
            conflict.rule
        );
    }
    Ok(())
}

fn print_refused(refused: &[keyward_core::RefusedChange], indent: &str) {
    print_refused_to(&mut std::io::stdout(), refused, indent);
}

/// One line a refused change: what it was for, what it set, and why not.
fn print_refused_to(
    out: &mut impl std::io::Write,
    refused: &[keyward_core::RefusedChange],
    indent: &str,
) {
    for change in refused {
        let _ = writeln!(
            out,
            "{indent}{} {:?} ({}): {}",
            change.entity,
            change.name,
            change.fields.join(", "),
            change.reason
        );
    }
}
