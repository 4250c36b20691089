//! A vault made by the CLI with 10,000 keys opens in the real app, and the keys table
//! filters them correctly by text, status and group, with the counts shown.

mod support;

use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::Locator;
use support::{new_workdir, vault_path_in, App, Cli, Launch};

const PASSPHRASE: &str = "correct horse battery staple";
const KEYS: usize = 10_000;
const KEY_COUNTS: &str = "[data-testid='key-counts']";
const FILTER: &str = "Filter";

fn counts(shown: usize) -> String {
    format!("Showing {} of 10,000 keys · limit 20,000", thousands(shown))
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

async fn wait_counts(app: &App, shown: usize) {
    let wanted = counts(shown);
    app.wait_for_text(KEY_COUNTS, &wanted, |text| text == wanted)
        .await;
}

/// The Name cells of the rows in view (the table renders only those).
async fn names_in_view(app: &App) -> Vec<String> {
    app.key_rows()
        .await
        .into_iter()
        .map(|cells| cells[0].clone())
        .collect()
}

/// Types into the filter, key by key, as a person would.
async fn type_filter(app: &App, text: &str) {
    app.field(FILTER)
        .await
        .send_keys(text)
        .await
        .expect("type into the filter");
}

async fn clear_filter(app: &App) {
    app.fill(FILTER, "").await;
}

async fn choose(app: &App, label: &str, value: &str) {
    app.field(label)
        .await
        .select_by_value(value)
        .await
        .unwrap_or_else(|error| panic!("choose {value:?} in {label:?}: {error}"));
}

/// The vault: one account with room for 20,000 keys, 10,000 keys `device-00001`…
/// `device-10000` made in batches, 3 of them in the group "gates", 2 inactive.
fn vault_with_many_keys(cli: &Cli) {
    cli.init_fast_vault("fleet", 20_000);
    cli.ok(&[
        "group",
        "create",
        "gates",
        "--scope",
        "devices:write",
        "--description",
        "Entry gates",
    ]);
    let names: Vec<String> = (1..=KEYS).map(|n| format!("device-{n:05}")).collect();
    cli.create_keys(&names, 2_500, &[]);
    for name in ["device-00007", "device-05000", "device-09999"] {
        cli.ok(&["key", "set-groups", name, "--group", "gates"]);
    }
    for name in ["device-00042", "device-04242"] {
        cli.ok(&["key", "disable", name]);
    }
}

#[tokio::test]
#[ignore = "end-to-end: needs the built UI, tauri-driver and a display; run by `make test-e2e`"]
async fn a_vault_of_ten_thousand_keys_opens_and_filters() {
    let workdir = new_workdir();
    let cli = Cli::new(&vault_path_in(&workdir), PASSPHRASE);
    vault_with_many_keys(&cli);
    let listed = cli.json(&["key", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(KEYS));

    let app = App::launch_with(Launch::app().in_workdir(workdir)).await;
    app.fill("Passphrase", PASSPHRASE).await;
    app.click("Unlock").await;
    let opened = Instant::now();
    wait_counts(&app, KEYS).await;
    eprintln!("10,000 keys shown {:?} after Unlock", opened.elapsed());

    // Virtualised: the table knows all the rows but renders only those in view, in name order.
    let table = app
        .wait_for(Locator::Css("table[role='grid']"), "the keys table")
        .await;
    assert_eq!(
        table
            .attr("aria-rowcount")
            .await
            .expect("read aria-rowcount"),
        Some((KEYS + 1).to_string()),
        "the rows and the header row"
    );
    let first = names_in_view(&app).await;
    assert!(
        !first.is_empty() && first.len() < 100,
        "{} rows rendered",
        first.len()
    );
    assert_eq!(first[0], "device-00001");
    assert!(
        first.windows(2).all(|pair| pair[0] < pair[1]),
        "sorted by name: {first:?}"
    );
    // End goes to the last key.
    table
        .send_keys(&Key::End)
        .await
        .expect("press End in the table");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !names_in_view(&app)
        .await
        .contains(&"device-10000".to_string())
    {
        assert!(Instant::now() < deadline, "End did not reach the last key");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Text narrows, keystroke by keystroke, and widens again.
    type_filter(&app, "device-0999").await;
    wait_counts(&app, 10).await;
    let names = names_in_view(&app).await;
    let expected: Vec<String> = (9990..=9999).map(|n| format!("device-{n:05}")).collect();
    assert_eq!(names, expected);
    type_filter(&app, "5").await;
    wait_counts(&app, 1).await;
    assert_eq!(names_in_view(&app).await, vec!["device-09995"]);
    type_filter(&app, &Key::Backspace).await;
    wait_counts(&app, 10).await;
    clear_filter(&app).await;
    wait_counts(&app, KEYS).await;

    // Several words must all match, whatever their case.
    type_filter(&app, "-0123 DEVICE-").await;
    wait_counts(&app, 10).await;
    let expected: Vec<String> = (1230..=1239).map(|n| format!("device-{n:05}")).collect();
    assert_eq!(names_in_view(&app).await, expected);
    clear_filter(&app).await;
    wait_counts(&app, KEYS).await;

    // Nothing matches: zero, said in words, and a way out.
    type_filter(&app, "no-such-key").await;
    wait_counts(&app, 0).await;
    app.wait_for(
        Locator::XPath("//p[contains(normalize-space(.), 'No key matches the filter')]"),
        "the no-match message",
    )
    .await;
    app.click("Clear filters").await;
    wait_counts(&app, KEYS).await;

    // Status and group.
    choose(&app, "Status", "inactive").await;
    wait_counts(&app, 2).await;
    assert_eq!(
        names_in_view(&app).await,
        vec!["device-00042", "device-04242"]
    );
    choose(&app, "Status", "all").await;
    choose(&app, "Group", "gates").await;
    wait_counts(&app, 3).await;
    assert_eq!(
        names_in_view(&app).await,
        vec!["device-00007", "device-05000", "device-09999"]
    );
    // Group and text together.
    type_filter(&app, "device-05").await;
    wait_counts(&app, 1).await;
    app.click("Clear filters").await;
    wait_counts(&app, KEYS).await;

    app.close().await;
}
