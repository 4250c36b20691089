//! The vault file: encryption, passphrase handling, damage, permissions,
//! durability settings and the keychain.

mod common;

use std::fs;

use common::{fast_kdf, TempVault, PASSPHRASE};
use keyward_core::{ErrorKind, Keychain, NewAccount, SecretString, Vault};

fn kind_of(result: Result<Vault, keyward_core::Error>) -> ErrorKind {
    result.expect_err("expected an error").kind()
}

#[test]
fn a_created_vault_reopens_with_its_passphrase_and_is_encrypted() {
    let temp = TempVault::new();
    let mut vault = temp.create();
    vault.create_account("Acme", NewAccount::default()).unwrap();
    drop(vault);
    let bytes = fs::read(&temp.path).unwrap();
    assert!(
        !bytes.starts_with(b"SQLite format 3"),
        "the file must not be plain SQLite"
    );
    assert!(
        !bytes.windows(4).any(|w| w == b"Acme"),
        "account names must not appear in the clear"
    );
    let vault = temp.open();
    assert_eq!(vault.summary().unwrap().accounts, 1);
}

#[test]
fn a_wrong_passphrase_says_so_and_never_file_is_not_a_database() {
    let temp = TempVault::new();
    drop(temp.create());
    let err = Vault::open(&temp.path, &SecretString::from("not the passphrase")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongPassphrase);
    assert_eq!(err.to_string(), "wrong passphrase");
}

#[test]
fn create_refuses_to_overwrite_and_checks_the_passphrase() {
    let temp = TempVault::new();
    fs::write(&temp.path, b"precious").unwrap();
    assert_eq!(
        kind_of(Vault::create(&temp.path, &PASSPHRASE.into(), fast_kdf())),
        ErrorKind::VaultExists
    );
    assert_eq!(fs::read(&temp.path).unwrap(), b"precious");
    let other = temp.dir.path().join("other.db");
    assert_eq!(
        kind_of(Vault::create(&other, &"short".into(), fast_kdf())),
        ErrorKind::InvalidInput
    );
    assert!(!other.exists(), "a refused create leaves no file behind");
}

#[test]
fn missing_truncated_foreign_and_headerless_vaults_are_reported_clearly() {
    let temp = TempVault::new();
    assert_eq!(
        kind_of(Vault::open(&temp.path, &PASSPHRASE.into())),
        ErrorKind::VaultMissing
    );

    let mut vault = temp.create();
    for i in 0..50 {
        vault
            .create_account(&format!("account {i}"), NewAccount::default())
            .unwrap();
    }
    drop(vault);
    let original = fs::read(&temp.path).unwrap();

    fs::write(&temp.path, &original[..original.len() / 3]).unwrap();
    let truncated =
        Vault::open(&temp.path, &PASSPHRASE.into()).and_then(|v| v.list_accounts().map(|_| v));
    assert_eq!(truncated.unwrap_err().kind(), ErrorKind::VaultDamaged);

    fs::write(&temp.path, vec![0x5a; 8192]).unwrap();
    let err = Vault::open(&temp.path, &PASSPHRASE.into()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VaultDamaged);
    assert!(err.to_string().contains("not a Keyward vault"), "{err}");

    fs::write(&temp.path, &original).unwrap();
    fs::remove_file(keyward_core::header_path(&temp.path)).unwrap();
    let err = Vault::open(&temp.path, &PASSPHRASE.into()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VaultDamaged);
    assert!(err.to_string().contains("header"), "{err}");
}

#[test]
fn a_header_from_another_vault_is_refused() {
    let first = TempVault::new();
    drop(first.create());
    let second = TempVault::new();
    drop(second.create());
    fs::copy(
        keyward_core::header_path(&second.path),
        keyward_core::header_path(&first.path),
    )
    .unwrap();
    // Same passphrase, so the key unwraps, but it opens a different database.
    assert_eq!(
        kind_of(Vault::open(&first.path, &PASSPHRASE.into())),
        ErrorKind::VaultDamaged
    );
}

#[cfg(unix)]
#[test]
fn vault_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let temp = TempVault::new();
    let nested = temp.dir.path().join("new-dir").join("vault.db");
    let vault = Vault::create(&nested, &PASSPHRASE.into(), fast_kdf()).unwrap();
    for path in [nested.clone(), keyward_core::header_path(&nested)] {
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
    let wal = nested.with_file_name("vault.db-wal");
    assert!(wal.exists(), "the vault runs in WAL mode");
    assert_eq!(
        fs::metadata(&wal).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let dir_mode = fs::metadata(nested.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    drop(vault);
}

#[test]
fn passphrase_change_rewraps_the_key_and_keeps_the_data() {
    let temp = TempVault::new();
    let mut vault = temp.create();
    vault.create_account("Acme", NewAccount::default()).unwrap();
    let new = SecretString::from("a brand new passphrase");
    assert_eq!(
        vault
            .change_passphrase(&"not it at all".into(), &new, fast_kdf())
            .unwrap_err()
            .kind(),
        ErrorKind::WrongPassphrase
    );
    assert_eq!(
        vault
            .change_passphrase(&PASSPHRASE.into(), &"short".into(), fast_kdf())
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    vault
        .change_passphrase(&PASSPHRASE.into(), &new, fast_kdf())
        .unwrap();
    drop(vault);
    assert_eq!(
        kind_of(Vault::open(&temp.path, &PASSPHRASE.into())),
        ErrorKind::WrongPassphrase
    );
    let vault = Vault::open(&temp.path, &new).unwrap();
    assert_eq!(vault.list_accounts().unwrap()[0].name, "Acme");
    assert!(vault.verify_audit().unwrap().ok);
    assert!(vault
        .audit_entries(&Default::default())
        .unwrap()
        .iter()
        .any(|e| e.action == "passphrase.change"));
}

/// The vault's two files, copied aside.
fn copy_files(temp: &TempVault, suffix: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let db = temp.dir.path().join(format!("db.{suffix}"));
    let header = temp.dir.path().join(format!("header.{suffix}"));
    fs::copy(&temp.path, &db).unwrap();
    fs::copy(keyward_core::header_path(&temp.path), &header).unwrap();
    (db, header)
}

fn next_header(temp: &TempVault) -> std::path::PathBuf {
    let mut name = keyward_core::header_path(&temp.path).into_os_string();
    name.push(".next");
    name.into()
}

/// A vault with one account, its files before and after a passphrase change.
fn changed_vault() -> (
    TempVault,
    (std::path::PathBuf, std::path::PathBuf),
    (std::path::PathBuf, std::path::PathBuf),
) {
    let temp = TempVault::new();
    let mut vault = temp.create();
    vault.create_account("Acme", NewAccount::default()).unwrap();
    drop(vault);
    let before = copy_files(&temp, "before");
    let mut vault = temp.open();
    vault
        .change_passphrase(
            &PASSPHRASE.into(),
            &"a brand new passphrase".into(),
            fast_kdf(),
        )
        .unwrap();
    drop(vault);
    let after = copy_files(&temp, "after");
    (temp, before, after)
}

#[test]
fn after_a_passphrase_change_an_old_header_and_the_old_passphrase_open_nothing() {
    let (temp, (_, old_header), _) = changed_vault();
    fs::copy(&old_header, keyward_core::header_path(&temp.path)).unwrap();
    let refused = Vault::open(&temp.path, &PASSPHRASE.into()).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::VaultDamaged, "{refused}");
    assert!(
        refused.to_string().contains("cannot be read with its key"),
        "{refused}"
    );
}

#[test]
fn a_passphrase_change_cut_before_the_rekey_is_undone_at_open() {
    let (temp, (old_db, old_header), (_, new_header)) = changed_vault();
    // Crash state: the new header beside the old one, the database not yet re-keyed.
    fs::copy(&old_db, &temp.path).unwrap();
    fs::copy(&old_header, keyward_core::header_path(&temp.path)).unwrap();
    fs::copy(&new_header, next_header(&temp)).unwrap();
    let new = SecretString::from("a brand new passphrase");
    assert_eq!(
        kind_of(Vault::open(&temp.path, &new)),
        ErrorKind::WrongPassphrase,
        "the change never took effect"
    );
    assert!(!next_header(&temp).exists(), "its header is dropped");
    let vault = Vault::open(&temp.path, &PASSPHRASE.into()).unwrap();
    assert_eq!(vault.list_accounts().unwrap()[0].name, "Acme");
    drop(vault);
    // The same state, opened with the old passphrase first.
    fs::copy(&new_header, next_header(&temp)).unwrap();
    Vault::open(&temp.path, &PASSPHRASE.into()).unwrap();
    assert!(!next_header(&temp).exists());
}

#[test]
fn a_passphrase_change_cut_after_the_rekey_is_finished_at_open() {
    let (temp, (_, old_header), (_, new_header)) = changed_vault();
    // Crash state: the database re-keyed, the new header not yet renamed over the old.
    fs::copy(&old_header, keyward_core::header_path(&temp.path)).unwrap();
    fs::copy(&new_header, next_header(&temp)).unwrap();
    let refused = Vault::open(&temp.path, &PASSPHRASE.into()).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("open it with the new passphrase"),
        "{refused}"
    );
    let vault = Vault::open(&temp.path, &"a brand new passphrase".into()).unwrap();
    assert_eq!(vault.list_accounts().unwrap()[0].name, "Acme");
    assert!(vault.verify_audit().unwrap().ok);
    drop(vault);
    assert!(
        !next_header(&temp).exists(),
        "the new header is the header now"
    );
    assert_eq!(
        fs::read(keyward_core::header_path(&temp.path)).unwrap(),
        fs::read(&new_header).unwrap()
    );
}

#[test]
fn a_passphrase_change_is_refused_while_another_connection_has_the_vault_open() {
    let temp = TempVault::new();
    let mut vault = temp.create();
    vault.create_account("Acme", NewAccount::default()).unwrap();
    let other = temp.open();
    let refused = vault
        .change_passphrase(
            &PASSPHRASE.into(),
            &"a brand new passphrase".into(),
            fast_kdf(),
        )
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Refused, "{refused}");
    assert!(refused.to_string().contains("open in another"), "{refused}");
    assert!(!next_header(&temp).exists());
    // Nothing changed: both connections go on, the old passphrase opens.
    vault
        .create_account("Globex", NewAccount::default())
        .unwrap();
    assert_eq!(other.list_accounts().unwrap().len(), 2);
    drop((vault, other));
    temp.open();
}

#[test]
fn a_remembered_key_opens_the_vault_and_forgetting_it_stops_that() {
    let keychain = Keychain::in_memory();
    let temp = TempVault::new();
    let mut vault = temp.create();
    assert!(Vault::open_with_keychain(&temp.path, &keychain)
        .unwrap()
        .is_none());
    vault.remember_in(&keychain).unwrap();
    drop(vault);
    let mut reopened = Vault::open_with_keychain(&temp.path, &keychain)
        .unwrap()
        .expect("remembered");
    assert!(reopened.forget_in(&keychain).unwrap());
    assert!(!reopened.forget_in(&keychain).unwrap());
    drop(reopened);
    assert!(Vault::open_with_keychain(&temp.path, &keychain)
        .unwrap()
        .is_none());
}

#[test]
fn the_shared_secret_needs_the_passphrase_and_rotates() {
    let temp = TempVault::new();
    let mut vault = temp.create();
    vault.create_account("Acme", NewAccount::default()).unwrap();
    assert_eq!(
        vault
            .reveal_shared_secret(None, &"wrong passphrase!".into())
            .unwrap_err()
            .kind(),
        ErrorKind::WrongPassphrase
    );
    let first = vault
        .reveal_shared_secret(None, &PASSPHRASE.into())
        .unwrap();
    assert_eq!(first.expose().len(), 64);
    vault.rotate_shared_secret(None).unwrap();
    let second = vault
        .reveal_shared_secret(Some("acme"), &PASSPHRASE.into())
        .unwrap();
    assert_ne!(first.expose(), second.expose());
}
