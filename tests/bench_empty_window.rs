//! The baseline of the desktop app's benchmarks (scripts/bench-app.sh): an empty Tauri
//! window — the same tauri build, profile and window size as the app, a static page, no
//! commands, no state. It is a test only so that `cargo test --workspace --tests --no-run`
//! builds it next to the app with the same features; the bench launches it through
//! tauri-driver like the app (`--ignored --exact empty_tauri_window`).

#[test]
#[ignore = "benchmark baseline: opens a window until it is closed; run by scripts/bench-app.sh"]
fn empty_tauri_window() {
    // libtest runs a test on a thread of its own; GTK is fine with that as long as it stays
    // on that one thread.
    tauri::Builder::default()
        .any_thread()
        .run(tauri::generate_context!(
            "tests/bench/empty-window/tauri.conf.json"
        ))
        .expect("run the empty window");
}
