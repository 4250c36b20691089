//! The lock screen of the real app, driven through WebDriver: create a vault, see it
//! empty, lock it, be refused with a wrong passphrase, unlock it.

mod support;

use fantoccini::key::Key;
use support::App;

const PASSPHRASE: &str = "correct horse battery staple";
const ACCOUNT_COUNT: &str = "[data-testid='account-count']";
const KEY_COUNT: &str = "[data-testid='key-count']";

async fn expect_empty_vault_counts(app: &App) {
    app.wait_for_text(ACCOUNT_COUNT, "the account count 0", |text| text == "0")
        .await;
    app.wait_for_text(KEY_COUNT, "the key count 0", |text| text == "0")
        .await;
}

#[tokio::test]
#[ignore = "end-to-end: needs the built UI, tauri-driver and a display; run by `make test-e2e`"]
async fn a_vault_is_created_locked_and_unlocked_through_the_lock_screen() {
    let app = App::launch().await;

    // The window and the page are both titled Keyward.
    assert_eq!(
        app.client.title().await.expect("read the page title"),
        "Keyward"
    );
    let titles = app.native_window_titles();
    assert!(
        titles.iter().any(|title| title == "Keyward"),
        "native window titles: {titles:?}"
    );

    // No vault yet at KEYWARD_VAULT: the create form says where it will be.
    let vault_path = app.vault_path.display().to_string();
    app.wait_for_text("[data-testid='vault-path']", "the vault path", |text| {
        text.contains(&vault_path)
    })
    .await;

    // The core's passphrase rule reaches the screen, and nothing is created.
    app.field("Passphrase")
        .await
        .send_keys("short")
        .await
        .expect("type");
    app.field("Repeat passphrase")
        .await
        .send_keys("short")
        .await
        .expect("type");
    app.button("Create vault")
        .await
        .click()
        .await
        .expect("click Create vault");
    app.wait_for_text("[role='alert']", "the passphrase rule", |text| {
        text.contains("at least 8 characters")
    })
    .await;
    assert!(
        !app.vault_path.exists(),
        "a vault was created with a refused passphrase"
    );

    // Enter in the second field creates the vault, which opens empty.
    let passphrase = app.field("Passphrase").await;
    passphrase.clear().await.expect("clear");
    passphrase.send_keys(PASSPHRASE).await.expect("type");
    let repeated = app.field("Repeat passphrase").await;
    repeated.clear().await.expect("clear");
    repeated
        .send_keys(&format!("{PASSPHRASE}{}", &*Key::Enter))
        .await
        .expect("type and press Enter");
    expect_empty_vault_counts(&app).await;
    assert!(
        app.vault_path.exists(),
        "no vault file at {}",
        app.vault_path.display()
    );

    // Locking hides the vault and asks for the passphrase only once.
    app.button("Lock").await.click().await.expect("click Lock");
    app.button("Unlock").await;
    assert!(
        !app.is_shown(ACCOUNT_COUNT).await,
        "the counts are still shown after locking"
    );
    assert!(
        !app.is_shown("#repeat-passphrase").await,
        "the unlock form asks for the passphrase twice"
    );

    // A wrong passphrase is refused, clearly.
    let passphrase = app.field("Passphrase").await;
    passphrase
        .send_keys(&format!("not the passphrase{}", &*Key::Enter))
        .await
        .expect("type and press Enter");
    app.wait_for_text("[role='alert']", "the wrong-passphrase message", |text| {
        text.to_lowercase().contains("wrong passphrase")
    })
    .await;
    assert!(
        !app.is_shown(ACCOUNT_COUNT).await,
        "a wrong passphrase showed the vault"
    );

    // The right one opens the same, still empty, vault.
    app.field("Passphrase")
        .await
        .send_keys(PASSPHRASE)
        .await
        .expect("type");
    app.button("Unlock")
        .await
        .click()
        .await
        .expect("click Unlock");
    expect_empty_vault_counts(&app).await;

    app.close().await;
}
