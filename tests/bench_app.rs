//! The desktop app's figures, measured in the real app under Xvfb through tauri-driver
//! (benchmarks, not timed tests: they print figures and assert nothing about them, beyond
//! checking that what they timed really happened). Run by `scripts/bench-app.sh`, which
//! builds everything and passes the empty window's path. Page-side times come from
//! `performance.now()`, which WebKit rounds to 1 ms.
//!
//! - Cold start: from the WebDriver session request (which makes WebKitWebDriver start the
//!   process) to the keys table of a 10,000-key vault in the DOM (the vault remembered in
//!   the OS keychain, so no passphrase is typed), against an empty Tauri window
//!   (tests/bench_empty_window.rs, same tauri build) to its DOMContentLoaded; also the app
//!   over a 1-key vault, to split the app's own start from the cost of 10,000 keys. Launches
//!   interleaved in one run, after one discarded warm-up launch of each.
//! - Filter: one keystroke in the filter over 10,000 keys, dispatched by script at a frame's
//!   start, to the end of that frame's rendering on the page's thread (no vsync wait
//!   counted) and to the following frame (when WebKit's compositor is done with it), in
//!   every measured 10,000-key launch, pooled; and the same words typed through WebDriver,
//!   from keydown, in the last launch.
//! - Memory: resident set (VmRSS, and PSS) of the app's process tree (the app and WebKit's
//!   web and network processes) after opening the 10,000 keys, against the empty window's.
//! - Context: idle frame intervals, the IPC round trips of the commands the app calls at
//!   start, the front end's indexing and sorting of 10,000 records, and for every launch the
//!   page's load steps (navigation, document, DOMContentLoaded) and the app's own marks.
//! - Frame costs (`--frame-costs`): what one frame costs the page's thread by what changed in
//!   it, each change made straight to the DOM — the part of a filter keystroke the page's
//!   code cannot shorten.

mod support;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fantoccini::wd::TimeoutConfiguration;
use serde_json::{json, Value};
use support::{new_workdir, vault_path_in, App, Cli, Launch};

const PASSPHRASE: &str = "correct horse battery staple";
const KEYS: usize = 10_000;
/// Time for the page and the processes to settle before memory is read.
const SETTLE: Duration = Duration::from_secs(2);

/// Resolves with page-side timestamps (ms since the epoch) once the keys table shows all
/// the vault's keys (its counts line starts with `arguments[0]`): `dom` when the mutation
/// that completed it happened, `frame` at the next animation frame, `painted` after that
/// frame's rendering. `already` when the table was complete before this script could watch
/// (then the times are upper bounds). `phases`: when the intermediate screens appeared.
const APP_READY: &str = r#"
    const done = arguments[arguments.length - 1];
    const stamp = () => performance.timeOrigin + performance.now();
    // When this script started, and when the app's screens first appeared after that:
    // the unlocked workspace (after vault_status and the keychain unlock), then the keys
    // page waiting for list_key_columns.
    const phases = { script: stamp() };
    const notePhases = () => {
        if (!phases.workspace && document.querySelector("[data-testid='account-count']")) phases.workspace = stamp();
        const counts = document.querySelector("[data-testid='key-counts']");
        if (!phases.keysPage && counts) phases.keysPage = stamp();
    };
    notePhases();
    phases.seenAtStart = { ...phases };
    const ready = () => {
        notePhases();
        const counts = document.querySelector("[data-testid='key-counts']");
        return counts !== null
            && counts.textContent.startsWith(arguments[0])
            && document.querySelector("table[role='grid'] tbody tr[data-key-id]") !== null;
    };
    const finish = (already) => {
        const dom = stamp();
        requestAnimationFrame(() => {
            const frame = stamp();
            const channel = new MessageChannel();
            channel.port1.onmessage = () => {
                const nav = performance.getEntriesByType('navigation')[0];
                done({
                    already, dom, frame, painted: stamp(), phases,
                    dcl: performance.timeOrigin + nav.domContentLoadedEventEnd,
                    origin: performance.timeOrigin,
                    rows: document.querySelectorAll("table[role='grid'] tbody tr[data-key-id]").length,
                    marks: performance.getEntriesByType('mark')
                        .filter((mark) => mark.name.startsWith('keyward:'))
                        .map((mark) => [mark.name.slice(8), Math.round(performance.timeOrigin + mark.startTime)]),
                });
            };
            channel.port2.postMessage(0);
        });
    };
    if (ready()) { finish(true); return; }
    const observer = new MutationObserver(() => {
        if (ready()) { observer.disconnect(); finish(false); }
    });
    observer.observe(document.documentElement, { subtree: true, childList: true, characterData: true });
"#;

/// The empty window's own timestamps: DOMContentLoaded, load and first paint as the
/// browser recorded them (ms since the epoch).
const EMPTY_READY: &str = r#"
    const done = arguments[arguments.length - 1];
    const report = () => {
        const nav = performance.getEntriesByType('navigation')[0];
        const paint = performance.getEntriesByType('paint')
            .find((entry) => entry.name === 'first-contentful-paint');
        done({
            dcl: performance.timeOrigin + nav.domContentLoadedEventEnd,
            load: performance.timeOrigin + nav.loadEventEnd,
            fcp: paint ? performance.timeOrigin + paint.startTime : null,
            origin: performance.timeOrigin,
            text: document.body.innerText,
        });
    };
    if (document.readyState === 'complete') setTimeout(report, 0);
    else addEventListener('load', () => setTimeout(report, 0));
"#;

/// How the page loaded, as the browser recorded it (ms since the epoch): navigation start, the
/// document received, the DOM parsed, DOMContentLoaded. Read once the page is ready; the same for
/// both binaries, so their starts can be compared step by step.
const PAGE_LOAD: &str = r#"
    const nav = performance.getEntriesByType('navigation')[0];
    const at = (time) => Math.round(performance.timeOrigin + time);
    return [
        ['navigation', at(0)],
        ['document', at(nav.responseEnd)],
        ['parsed', at(nav.domInteractive)],
        ['dcl', at(nav.domContentLoadedEventEnd)],
    ];
"#;

/// Prints the page's load steps (`PAGE_LOAD`) in ms from the session request.
async fn print_page_load(app: &App, who: &str, requested: f64) {
    let steps = app
        .client
        .execute(PAGE_LOAD, vec![])
        .await
        .unwrap_or_else(|error| panic!("the page's load steps: {error}"));
    let steps: Vec<String> = steps
        .as_array()
        .into_iter()
        .flatten()
        .map(|step| {
            let at = step[1].as_f64().unwrap_or(f64::NAN) - requested;
            format!("{} {at:.0}", step[0].as_str().unwrap_or("?"))
        })
        .collect();
    println!("  {who} page load: {}", steps.join(", "));
}

/// One keystroke per value: at the start of a frame, the filter gets the value and an
/// `input` event, as typing does; `dom` is when the page's own update (a microtask) is done,
/// `painted` when that frame has been rendered. Two idle frames separate keystrokes.
const SCRIPTED_KEYSTROKES: &str = r#"
    const [values] = arguments;
    const done = arguments[arguments.length - 1];
    const input = document.getElementById('key-filter-text');
    const counts = document.querySelector("[data-testid='key-counts']");
    const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
    const afterRendering = () => new Promise((resolve) => {
        const channel = new MessageChannel();
        channel.port1.onmessage = resolve;
        channel.port2.postMessage(0);
    });
    (async () => {
        const samples = [];
        for (const value of values) {
            await frame();
            await frame();
            const sample = await new Promise((resolve) => requestAnimationFrame(() => {
                const start = performance.now();
                input.value = value;
                input.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertText' }));
                queueMicrotask(() => {
                    const dom = performance.now();
                    const shown = counts.textContent;
                    afterRendering().then(() => {
                        const painted = performance.now() - start;
                        requestAnimationFrame(() => resolve({
                            value, shown, dom: dom - start, painted, next: performance.now() - start,
                        }));
                    });
                });
            }));
            samples.push(sample);
        }
        done(samples);
    })();
"#;

/// The fonts the page draws text in (style, weight, size, family), each once: WebKit looks up
/// every one of them when it first draws it (see `font-family` in ui/src/app.css).
const FONTS_DRAWN: &str = r#"
    const fonts = new Set();
    for (const element of document.querySelectorAll('body *')) {
        if (element.getClientRects().length === 0) continue;
        const text = [...element.childNodes].some((node) => node.nodeType === Node.TEXT_NODE && node.textContent.trim() !== '');
        if (!text) continue;
        const style = getComputedStyle(element);
        fonts.add(`${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`);
    }
    return [...fonts].sort();
"#;

/// Watches real keystrokes in the filter: keydown → the page's update → the next frame →
/// the end of its rendering, per keystroke, into `window.__keystrokes`.
const WATCH_KEYSTROKES: &str = r#"
    const input = document.getElementById('key-filter-text');
    window.__keystrokes = [];
    let pending = null;
    input.addEventListener('keydown', (event) => {
        pending = { key: event.key, start: performance.now() };
    }, { capture: true });
    input.addEventListener('input', () => {
        const sample = pending;
        pending = null;
        if (sample === null) return;
        queueMicrotask(() => {
            sample.dom = performance.now() - sample.start;
            requestAnimationFrame(() => {
                sample.frame = performance.now() - sample.start;
                const channel = new MessageChannel();
                channel.port1.onmessage = () => {
                    sample.painted = performance.now() - sample.start;
                    sample.shown = document.querySelector("[data-testid='key-counts']").textContent;
                    window.__keystrokes.push(sample);
                };
                channel.port2.postMessage(0);
            });
        });
    });
    return true;
"#;

/// What the filter sees, keystroke by keystroke: each word typed then erased.
const TYPED_WORDS: [&str; 4] = ["device-0999", "device-1234", "-0123 device", "device-05"];

fn epoch_ms(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
        * 1000.0
}

fn num(value: &Value, field: &str) -> f64 {
    value[field]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {field:?} in {value}"))
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

/// Nearest-rank percentile.
fn percentile(values: &[f64], p: f64) -> f64 {
    assert!(!values.is_empty(), "no samples");
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// "15, 18, 17": times in whole milliseconds.
fn whole_ms(values: &[f64]) -> String {
    let values: Vec<String> = values.iter().map(|value| format!("{value:.0}")).collect();
    values.join(", ")
}

fn summary(values: &[f64]) -> String {
    format!(
        "median {:.1}, p95 {:.1}, min {:.1}, max {:.1} (n = {})",
        median(values),
        percentile(values, 95.0),
        values.iter().copied().fold(f64::INFINITY, f64::min),
        values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        values.len()
    )
}

/// Every process: pid → (parent pid, command name).
fn processes() -> HashMap<u32, (u32, String)> {
    let mut table = HashMap::new();
    for entry in fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid …": comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|field| field.parse().ok())
            .unwrap_or(0);
        table.insert(pid, (ppid, comm));
    }
    table
}

fn descendants(table: &HashMap<u32, (u32, String)>, root: u32) -> Vec<u32> {
    let mut found = vec![root];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        let mut children: Vec<u32> = table
            .iter()
            .filter(|(_, (ppid, _))| *ppid == parent)
            .map(|(pid, _)| *pid)
            .collect();
        children.sort_unstable();
        found.extend(children);
        index += 1;
    }
    found
}

/// A `kB` line of a /proc file, in KiB.
fn kib(path: &Path, field: &str) -> u64 {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Resident memory of the launched binary's process and its children (WebKit's web and
/// network processes).
#[derive(Debug, Clone)]
struct Memory {
    /// The binary's own process.
    main_rss: u64,
    /// The process and every descendant.
    tree_rss: u64,
    /// Proportional set size of the tree: shared pages counted once.
    tree_pss: u64,
    processes: Vec<String>,
}

fn memory_of(app: &App, application: &Path) -> Memory {
    let table = processes();
    let wanted = fs::canonicalize(application).expect("the launched binary exists");
    let main = descendants(&table, app.driver_pid())
        .into_iter()
        .find(|pid| {
            fs::read_link(format!("/proc/{pid}/exe")).ok().as_deref() == Some(wanted.as_path())
        })
        .unwrap_or_else(|| panic!("no process of {} under tauri-driver", wanted.display()));
    let tree = descendants(&table, main);
    let mut memory = Memory {
        main_rss: kib(&PathBuf::from(format!("/proc/{main}/status")), "VmRSS:"),
        tree_rss: 0,
        tree_pss: 0,
        processes: Vec::new(),
    };
    for pid in tree {
        let rss = kib(&PathBuf::from(format!("/proc/{pid}/status")), "VmRSS:");
        let pss = kib(&PathBuf::from(format!("/proc/{pid}/smaps_rollup")), "Pss:");
        memory.tree_rss += rss;
        memory.tree_pss += pss;
        let name = table
            .get(&pid)
            .map(|(_, comm)| comm.as_str())
            .unwrap_or("?");
        memory.processes.push(format!("{name} {} MiB", rss / 1024));
    }
    memory
}

/// A vault of `keys` keys, made once by the CLI (fast KDF) and copied for each launch.
struct Fixture {
    dir: tempfile::TempDir,
    /// How the keys page's counts line starts once every key is shown.
    counts: String,
}

impl Fixture {
    fn build(keys: usize) -> Fixture {
        let dir = new_workdir();
        let cli = Cli::new(&vault_path_in(&dir), PASSPHRASE);
        cli.init_fast_vault("fleet", 20_000);
        cli.ok(&["group", "create", "gates", "--scope", "devices:write"]);
        let names: Vec<String> = (1..=keys).map(|n| format!("device-{n:05}")).collect();
        cli.create_keys(&names, 2_500, &[]);
        let counts = match keys {
            1 => "Showing 1 of 1 key".to_string(),
            KEYS => "Showing 10,000 of 10,000 keys".to_string(),
            other => panic!("no counts line known for {other} keys"),
        };
        Fixture { dir, counts }
    }

    /// A working directory holding a copy of the vault, remembered in the OS keychain so the
    /// app opens straight onto the keys table, as it does for an administrator who chose
    /// "Remember on this computer".
    fn workdir(&self) -> tempfile::TempDir {
        let workdir = new_workdir();
        for entry in fs::read_dir(self.dir.path())
            .expect("read the fixture")
            .flatten()
        {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with("vault.db") {
                fs::copy(entry.path(), workdir.path().join(&name)).expect("copy the vault");
            }
        }
        Cli::new(&vault_path_in(&workdir), PASSPHRASE).ok(&["keychain", "remember"]);
        workdir
    }
}

async fn set_script_timeout(app: &App) {
    app.client
        .update_timeouts(TimeoutConfiguration::new(
            Some(Duration::from_secs(120)),
            None,
            None,
        ))
        .await
        .expect("set the script timeout");
}

struct EmptyRun {
    dcl: f64,
    fcp: Option<f64>,
    memory: Memory,
    /// Intervals between idle animation frames (ms): the display's frame clock.
    frames: Vec<f64>,
}

async fn run_empty_window(binary: &Path) -> EmptyRun {
    let app = App::launch_with(Launch::binary(
        binary,
        &[
            "--ignored",
            "--exact",
            "empty_tauri_window",
            "--test-threads=1",
        ],
    ))
    .await;
    set_script_timeout(&app).await;
    let requested = epoch_ms(app.session_requested_at);
    let times = app
        .client
        .execute_async(EMPTY_READY, vec![])
        .await
        .unwrap_or_else(|error| {
            panic!("the empty window's timings: {error}\n{}", app.driver_log())
        });
    assert!(
        times["text"]
            .as_str()
            .unwrap_or_default()
            .contains("empty Tauri window"),
        "not the empty window: {times}"
    );
    print_page_load(&app, "empty window", requested).await;
    tokio::time::sleep(SETTLE).await;
    let memory = memory_of(&app, binary);
    let frames = idle_frame_intervals(&app).await;
    app.close().await;
    EmptyRun {
        dcl: num(&times, "dcl") - requested,
        fcp: times["fcp"].as_f64().map(|fcp| fcp - requested),
        memory,
        frames,
    }
}

struct AppRun {
    dcl: f64,
    dom: f64,
    frame: f64,
    painted: f64,
    already: bool,
    memory: Memory,
    /// When this script started watching, the workspace appeared, the keys page appeared
    /// (ms from the request; NaN when it had appeared before the script started).
    script: f64,
    workspace: f64,
    keys_page: f64,
}

/// A phase's time, NaN when it had happened before the script could watch.
fn phase(times: &Value, name: &str) -> f64 {
    if times["phases"]["seenAtStart"].get(name).is_some() {
        return f64::NAN;
    }
    times["phases"][name].as_f64().unwrap_or(f64::NAN)
}

async fn launch_app(fixture: &Fixture) -> (App, AppRun) {
    launch_build(fixture, &support::app_binary()).await
}

/// `launch_app` with another build of the app (`compare_app_builds`).
async fn launch_build(fixture: &Fixture, binary: &Path) -> (App, AppRun) {
    let app = App::launch_with(Launch::binary(binary, &[]).in_workdir(fixture.workdir())).await;
    set_script_timeout(&app).await;
    let requested = epoch_ms(app.session_requested_at);
    let times = app
        .client
        .execute_async(APP_READY, vec![json!(fixture.counts)])
        .await
        .unwrap_or_else(|error| panic!("the app's timings: {error}\n{}", app.driver_log()));
    // The app's own marks (performance.mark "keyward:…"), from the request: where its start goes.
    let marks: Vec<String> = times["marks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|mark| {
            format!(
                "{} {:.0}",
                mark[0].as_str().unwrap_or("?"),
                mark[1].as_f64().unwrap_or(f64::NAN) - requested
            )
        })
        .collect();
    println!(
        "  app marks (\"{}…\"): {}",
        fixture.counts,
        marks.join(", ")
    );
    print_page_load(&app, "app", requested).await;
    tokio::time::sleep(SETTLE).await;
    let memory = memory_of(&app, binary);
    let run = AppRun {
        dcl: num(&times, "dcl") - requested,
        dom: num(&times, "dom") - requested,
        frame: num(&times, "frame") - requested,
        painted: num(&times, "painted") - requested,
        already: times["already"].as_bool().unwrap_or(true),
        memory,
        script: num(&times["phases"], "script") - requested,
        workspace: phase(&times, "workspace") - requested,
        keys_page: phase(&times, "keysPage") - requested,
    };
    (app, run)
}

fn empty_window_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KEYWARD_BENCH_EMPTY_WINDOW") {
        return PathBuf::from(path);
    }
    // Else the newest bench_empty_window test binary next to this one.
    let deps = std::env::current_exe()
        .expect("this test's path")
        .parent()
        .expect("the deps directory")
        .to_path_buf();
    fs::read_dir(&deps)
        .expect("read the deps directory")
        .flatten()
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with("bench_empty_window-") && !name.ends_with(".d")
        })
        .max_by_key(|entry| entry.metadata().and_then(|meta| meta.modified()).ok())
        .map(|entry| entry.path())
        .expect("build tests/bench_empty_window.rs (cargo test --workspace --tests --no-run)")
}

fn runs() -> usize {
    std::env::var("KEYWARD_BENCH_RUNS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(7)
}

/// Each word typed a character at a time, then erased a character at a time.
fn typed_values() -> Vec<String> {
    let mut values = Vec::new();
    for word in TYPED_WORDS {
        let chars: Vec<char> = word.chars().collect();
        for end in 1..=chars.len() {
            values.push(chars[..end].iter().collect());
        }
        for end in (0..chars.len()).rev() {
            values.push(chars[..end].iter().collect());
        }
    }
    values
}

/// Per keystroke, in ms: the scripted keystrokes of every measured launch (pooled), and the
/// words typed through WebDriver in the last one.
#[derive(Default)]
struct FilterFigures {
    scripted_dom: Vec<f64>,
    scripted_painted: Vec<f64>,
    scripted_next: Vec<f64>,
    /// Per launch, the p95 of its scripted keystrokes' repaint: how far one launch's figure
    /// strays from the pooled one.
    launch_p95: Vec<f64>,
    typed_dom: Vec<f64>,
    typed_painted: Vec<f64>,
}

/// The scripted keystrokes in one launch, added to `figures`; each printed when `print`.
async fn scripted_filter(app: &App, figures: &mut FilterFigures, print: bool) {
    let values = typed_values();
    let samples = app
        .client
        .execute_async(SCRIPTED_KEYSTROKES, vec![json!(values)])
        .await
        .expect("scripted keystrokes");
    let samples = samples.as_array().expect("a list of samples");
    assert_eq!(samples.len(), values.len(), "one sample per keystroke");
    // The update must have happened within the measured span: the counts changed with it.
    let last = &samples[samples.len() - 1];
    assert!(
        last["shown"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Showing 10,000 of 10,000"),
        "{last}"
    );
    let narrow = samples
        .iter()
        .find(|sample| sample["value"] == "device-0999")
        .expect("the sample of device-0999");
    assert!(
        narrow["shown"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Showing 10 of 10,000"),
        "the table had not updated when measured: {narrow}"
    );
    if print {
        for sample in samples {
            println!(
                "  keystroke {:?}: page updated {} ms, repainted {} ms, next frame {} ms, {}",
                sample["value"].as_str().unwrap_or_default(),
                sample["dom"],
                sample["painted"],
                sample["next"],
                sample["shown"].as_str().unwrap_or_default()
            );
        }
    }
    let painted: Vec<f64> = samples
        .iter()
        .map(|sample| num(sample, "painted"))
        .collect();
    figures.launch_p95.push(percentile(&painted, 95.0));
    figures.scripted_painted.extend(painted);
    figures
        .scripted_dom
        .extend(samples.iter().map(|sample| num(sample, "dom")));
    figures
        .scripted_next
        .extend(samples.iter().map(|sample| num(sample, "next")));
}

/// The same words typed through WebDriver, key by key, added to `figures`.
async fn typed_filter(app: &App, figures: &mut FilterFigures) {
    app.client
        .execute(WATCH_KEYSTROKES, vec![])
        .await
        .expect("watch keystrokes");
    let filter = app.field("Filter").await;
    let mut typed = 0;
    for word in TYPED_WORDS {
        for ch in word.chars() {
            filter.send_keys(&ch.to_string()).await.expect("type");
            typed += 1;
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        for _ in word.chars() {
            filter
                .send_keys(&fantoccini::key::Key::Backspace)
                .await
                .expect("erase");
            typed += 1;
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let watched = app
        .client
        .execute("return window.__keystrokes;", vec![])
        .await
        .expect("read the keystrokes");
    let watched = watched.as_array().expect("a list of keystrokes");
    assert_eq!(watched.len(), typed, "every keystroke was seen");
    for sample in watched {
        println!(
            "  typed {:?}: page updated {} ms, next frame {} ms, rendered {} ms, {}",
            sample["key"].as_str().unwrap_or_default(),
            sample["dom"],
            sample["frame"],
            sample["painted"],
            sample["shown"].as_str().unwrap_or_default()
        );
    }
    figures
        .typed_dom
        .extend(watched.iter().map(|sample| num(sample, "dom")));
    figures
        .typed_painted
        .extend(watched.iter().map(|sample| num(sample, "painted")));
}

/// What the keys page does with 10,000 records on load, redone in the page (ms, 5 times):
/// build each key's lower-cased search text as the page's index does, and sort the names
/// with the collator of the table's default sort (by name, numeric).
const FRONT_END_PIECES: &str = r#"
    const done = arguments[arguments.length - 1];
    (async () => {
        const keys = await window.__TAURI_INTERNALS__.invoke('list_keys', { account: 'fleet' });
        const collator = new Intl.Collator(undefined, { sensitivity: 'base', numeric: true });
        const index = [];
        const sort = [];
        for (let i = 0; i < 5; i++) {
            let start = performance.now();
            const search = keys.map((key) => [key.name, key.description ?? '', key.hint, key.groups.join(', '), key.created_by]
                .join('\n').toLowerCase());
            index.push(performance.now() - start);
            if (search.length !== keys.length) throw new Error('index');
            start = performance.now();
            keys.slice().sort((a, b) => collator.compare(a.name, b.name));
            sort.push(performance.now() - start);
        }
        done([['index 10,000 search texts', index], ['sort 10,000 keys by name (Intl.Collator, numeric)', sort]]);
    })().catch((error) => done({ error: String(error) }));
"#;

async fn front_end_pieces(app: &App) -> Vec<(String, Vec<f64>)> {
    let times = app
        .client
        .execute_async(FRONT_END_PIECES, vec![])
        .await
        .expect("time the front end's pieces");
    serde_json::from_value(times.clone()).unwrap_or_else(|_| panic!("front-end timings: {times}"))
}

/// The IPC round trips of the commands the app calls on its way to the keys table, as the
/// page sees them (ms, 5 calls each, in the order the app makes them), and `list_keys` (the
/// same keys, one object each) beside `list_key_columns` for comparison. Run last: it locks
/// the vault to time the unlock from the keychain.
const IPC_ROUND_TRIPS: &str = r#"
    const done = arguments[arguments.length - 1];
    const invoke = window.__TAURI_INTERNALS__.invoke;
    const time = async (command, args, check) => {
        const times = [];
        for (let i = 0; i < 5; i++) {
            if (command === 'unlock_from_keychain') await invoke('lock', {});
            const start = performance.now();
            const answer = await invoke(command, args);
            times.push(performance.now() - start);
            if (check && !check(answer)) throw new Error(`${command}: ${JSON.stringify(answer).slice(0, 200)}`);
        }
        return [command, times];
    };
    (async () => {
        const account = { account: 'fleet' };
        done([
            await time('vault_status', {}),
            await time('unlock_from_keychain', {}, (answer) => answer === true),
            await time('list_accounts', {}),
            await time('vault_summary', {}),
            await time('list_key_columns', account, (keys) => keys.id.length === 10000),
            await time('list_keys', account, (keys) => keys.length === 10000),
            await time('list_groups', account),
            await time('key_presets', {}),
        ]);
    })().catch((error) => done({ error: String(error) }));
"#;

async fn ipc_round_trips(app: &App) -> Vec<(String, Vec<f64>)> {
    let times = app
        .client
        .execute_async(IPC_ROUND_TRIPS, vec![])
        .await
        .expect("time the IPC calls");
    serde_json::from_value(times.clone()).unwrap_or_else(|_| panic!("IPC timings: {times}"))
}

/// Intervals between animation frames while the page is idle (ms): the frame clock the
/// repaint figures are read against.
async fn idle_frame_intervals(app: &App) -> Vec<f64> {
    let script = r#"
        const done = arguments[arguments.length - 1];
        const stamps = [];
        const tick = (now) => {
            stamps.push(now);
            if (stamps.length < 61) requestAnimationFrame(tick);
            else done(stamps.slice(1).map((stamp, i) => stamp - stamps[i]));
        };
        requestAnimationFrame(tick);
    "#;
    let intervals = app
        .client
        .execute_async(script, vec![])
        .await
        .expect("time idle frames");
    serde_json::from_value(intervals).expect("a list of intervals")
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
#[ignore = "benchmark: needs the built UI, tauri-driver and a display; run by scripts/bench-app.sh"]
async fn desktop_app_figures() {
    let runs = runs();
    let empty_binary = empty_window_binary();
    println!("load average at start: {}", load_average());
    println!("app: {}", support::app_binary().display());
    println!("empty window: {}", empty_binary.display());
    let fixture = Fixture::build(KEYS);
    let small = Fixture::build(1);

    let mut empty_runs = Vec::new();
    let mut app_runs = Vec::new();
    let mut small_runs = Vec::new();
    let mut filter = FilterFigures::default();
    let mut round_trips = Vec::new();
    let mut front_end = Vec::new();
    let mut frames = Vec::new();
    for index in 0..=runs {
        let empty = run_empty_window(&empty_binary).await;
        let (one_key, small_run) = launch_app(&small).await;
        one_key.close().await;
        let (app, run) = launch_app(&fixture).await;
        let label = if index == 0 { "warm-up" } else { "run" };
        println!(
            "{label} {index}: empty window DOMContentLoaded {:.0} ms, FCP {}, tree RSS {} MiB | app, 1 key: table in DOM {:.0} ms, tree RSS {} MiB | app, 10,000 keys: DOMContentLoaded {:.0} ms, table in DOM {:.0} ms{}, painted {:.0} ms, tree RSS {} MiB",
            empty.dcl,
            empty.fcp.map(|fcp| format!("{fcp:.0} ms")).unwrap_or_else(|| "n/a".into()),
            empty.memory.tree_rss / 1024,
            small_run.dom,
            small_run.memory.tree_rss / 1024,
            run.dcl,
            run.dom,
            if run.already { " (upper bound)" } else { "" },
            run.painted,
            run.memory.tree_rss / 1024,
        );
        if index == 1 {
            println!(
                "  empty window processes: {}",
                empty.memory.processes.join(", ")
            );
            println!("  app processes: {}", run.memory.processes.join(", "));
            let fonts = app
                .client
                .execute(FONTS_DRAWN, vec![])
                .await
                .expect("the fonts drawn");
            let fonts: Vec<&str> = fonts
                .as_array()
                .expect("a list of fonts")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            println!(
                "  fonts drawn on the keys screen: {} ({})",
                fonts.len(),
                fonts.join("; ")
            );
        }
        if index == runs {
            frames = idle_frame_intervals(&app).await;
        }
        if index > 0 {
            // Every measured launch: one launch's p95 is its 5th-worst keystroke of 86.
            scripted_filter(&app, &mut filter, index == runs).await;
        }
        if index == runs {
            typed_filter(&app, &mut filter).await;
            front_end = front_end_pieces(&app).await;
            round_trips = ipc_round_trips(&app).await;
        }
        app.close().await;
        if index > 0 {
            empty_runs.push(empty);
            app_runs.push(run);
            small_runs.push(small_run);
        }
    }

    let empty_dcl: Vec<f64> = empty_runs.iter().map(|run| run.dcl).collect();
    let empty_fcp: Vec<f64> = empty_runs.iter().filter_map(|run| run.fcp).collect();
    let app_dcl: Vec<f64> = app_runs.iter().map(|run| run.dcl).collect();
    let app_dom: Vec<f64> = app_runs.iter().map(|run| run.dom).collect();
    let app_frame: Vec<f64> = app_runs.iter().map(|run| run.frame).collect();
    let app_painted: Vec<f64> = app_runs.iter().map(|run| run.painted).collect();
    let upper_bounds = app_runs.iter().filter(|run| run.already).count();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let empty_main: Vec<f64> = empty_runs
        .iter()
        .map(|run| mib(run.memory.main_rss))
        .collect();
    let empty_tree: Vec<f64> = empty_runs
        .iter()
        .map(|run| mib(run.memory.tree_rss))
        .collect();
    let empty_pss: Vec<f64> = empty_runs
        .iter()
        .map(|run| mib(run.memory.tree_pss))
        .collect();
    let app_main: Vec<f64> = app_runs
        .iter()
        .map(|run| mib(run.memory.main_rss))
        .collect();
    let app_tree: Vec<f64> = app_runs
        .iter()
        .map(|run| mib(run.memory.tree_rss))
        .collect();
    let app_pss: Vec<f64> = app_runs
        .iter()
        .map(|run| mib(run.memory.tree_pss))
        .collect();
    let FilterFigures {
        scripted_dom,
        scripted_painted,
        scripted_next,
        typed_dom,
        launch_p95,
        typed_painted,
    } = filter;

    println!();
    println!("== Desktop app figures ({runs} runs after a warm-up, 10,000 keys; times in ms from the WebDriver session request) ==");
    println!(
        "cold start, empty window to DOMContentLoaded: {}",
        summary(&empty_dcl)
    );
    if !empty_fcp.is_empty() {
        println!(
            "cold start, empty window to first contentful paint: {}",
            summary(&empty_fcp)
        );
    }
    println!(
        "cold start, app to its DOMContentLoaded: {}",
        summary(&app_dcl)
    );
    println!(
        "cold start, app to the keys table (10,000 keys) in the DOM: {}{}",
        summary(&app_dom),
        if upper_bounds > 0 {
            format!(" ({upper_bounds} upper bounds)")
        } else {
            String::new()
        }
    );
    let small_dom: Vec<f64> = small_runs.iter().map(|run| run.dom).collect();
    let small_tree: Vec<f64> = small_runs
        .iter()
        .map(|run| run.memory.tree_rss as f64 / 1024.0)
        .collect();
    println!(
        "cold start, app over a 1-key vault to its keys table in the DOM: {}",
        summary(&small_dom)
    );
    println!(
        "  split of the medians: empty window {:.0} ms + app shell (1 key − empty) {:.0} ms + 10,000 keys (10,000 − 1 key) {:.0} ms",
        median(&empty_dcl),
        median(&small_dom) - median(&empty_dcl),
        median(&app_dom) - median(&small_dom)
    );
    for (label, runs) in [("1 key", &small_runs), ("10,000 keys", &app_runs)] {
        let known = |values: Vec<f64>| -> String {
            let values: Vec<f64> = values.into_iter().filter(|value| !value.is_nan()).collect();
            if values.is_empty() {
                "before the script could watch".to_string()
            } else {
                format!("{:.0} ms (n = {})", median(&values), values.len())
            }
        };
        println!(
            "  app, {label}, medians: DOMContentLoaded {:.0} ms, script watching from {:.0} ms, workspace shown {}, keys page shown {}, table in the DOM {:.0} ms",
            median(&runs.iter().map(|run| run.dcl).collect::<Vec<_>>()),
            median(&runs.iter().map(|run| run.script).collect::<Vec<_>>()),
            known(runs.iter().map(|run| run.workspace).collect()),
            known(runs.iter().map(|run| run.keys_page).collect()),
            median(&runs.iter().map(|run| run.dom).collect::<Vec<_>>()),
        );
    }
    println!("cold start, app to the next frame: {}", summary(&app_frame));
    println!(
        "cold start, app to that frame rendered: {}",
        summary(&app_painted)
    );
    println!(
        "RATIO cold start (table in DOM ÷ empty DOMContentLoaded, medians): {:.2}x  [budget <= 1.5x]",
        median(&app_dom) / median(&empty_dcl)
    );
    // Each round's launches follow one another: their ratio leaves out the machine's drift
    // over the run.
    let round_ratios: Vec<f64> = app_dom
        .iter()
        .zip(&empty_dcl)
        .map(|(app, empty)| app / empty)
        .collect();
    println!(
        "  the same, each round's own ratio: median {:.2}x, p25 {:.2}x, p75 {:.2}x",
        median(&round_ratios),
        percentile(&round_ratios, 25.0),
        percentile(&round_ratios, 75.0)
    );
    println!(
        "ratio cold start (table rendered ÷ empty DOMContentLoaded, medians): {:.2}x",
        median(&app_painted) / median(&empty_dcl)
    );
    println!(
        "filter keystroke, scripted at a frame's start, to the page updated: {}",
        summary(&scripted_dom)
    );
    println!(
        "FILTER keystroke, scripted at a frame's start, to the table repainted, every launch's keystrokes together: {}  [budget <= 16 ms]",
        summary(&scripted_painted)
    );
    println!(
        "  the same, p95 of each launch's {} keystrokes: {} ms",
        typed_values().len(),
        whole_ms(&launch_p95)
    );
    println!(
        "filter keystroke, scripted at a frame's start, to the following frame (the compositor done with the repaint): {}",
        summary(&scripted_next)
    );
    println!(
        "filter keystroke typed through WebDriver, keydown to the page updated: {}",
        summary(&typed_dom)
    );
    println!(
        "filter keystroke typed through WebDriver, keydown to the next frame rendered (vsync wait included): {}",
        summary(&typed_painted)
    );
    let empty_frames: Vec<f64> = empty_runs
        .iter()
        .flat_map(|run| run.frames.clone())
        .collect();
    println!(
        "idle frame interval, empty window: {}",
        summary(&empty_frames)
    );
    println!(
        "idle frame interval, app with 10,000 keys: {}",
        summary(&frames)
    );
    for (command, times) in &round_trips {
        println!("IPC round trip {command}: {}", summary(times));
    }
    for (piece, times) in &front_end {
        println!("front end, {piece}: {}", summary(times));
    }
    println!(
        "memory, empty window: main RSS {}; tree RSS {}; tree PSS {} (MiB)",
        summary(&empty_main),
        summary(&empty_tree),
        summary(&empty_pss)
    );
    println!(
        "memory, app with 10,000 keys: main RSS {}; tree RSS {}; tree PSS {} (MiB)",
        summary(&app_main),
        summary(&app_tree),
        summary(&app_pss)
    );
    println!(
        "RATIO memory (app ÷ empty window, medians): tree RSS {:.2}x, tree PSS {:.2}x, main process RSS {:.2}x",
        median(&app_tree) / median(&empty_tree),
        median(&app_pss) / median(&empty_pss),
        median(&app_main) / median(&empty_main)
    );
    println!(
        "memory, app with 1 key: tree RSS {} (MiB); 10,000 keys add {:.0} MiB",
        summary(&small_tree),
        median(&app_tree) - median(&small_tree)
    );
    println!("load average at end: {}", load_average());
}

/// Builds of the app compared in one run (`scripts/bench-app.sh --compare`): each launched
/// over the 10,000-key vault in turn, round after round (one warm-up round discarded), so
/// that the machine's drift between runs, larger here than most changes to the start, falls
/// on every build alike. Prints for each build the table in the DOM (from the session
/// request and from the page's DOMContentLoaded) and, against the first build, the median of
/// the differences within a round; and the filter's scripted keystrokes, timed in every
/// measured launch and pooled per build.
#[tokio::test]
#[ignore = "benchmark: needs builds of the app in KEYWARD_BENCH_COMPARE; run by scripts/bench-app.sh --compare"]
async fn compare_app_builds() {
    let builds: Vec<PathBuf> = std::env::var_os("KEYWARD_BENCH_COMPARE")
        .map(|list| std::env::split_paths(&list).collect())
        .unwrap_or_default();
    assert!(
        builds.len() >= 2,
        "KEYWARD_BENCH_COMPARE names at least two builds of the app, separated by ':'"
    );
    for build in &builds {
        assert!(build.is_file(), "no app build at {}", build.display());
    }
    let rounds = runs();
    println!("load average at start: {}", load_average());
    let fixture = Fixture::build(KEYS);
    // Per build: (table in the DOM from the request, from DOMContentLoaded), one per round,
    // and the filter's scripted keystrokes of every round.
    let mut times: Vec<Vec<(f64, f64)>> = vec![Vec::new(); builds.len()];
    let mut filters: Vec<FilterFigures> = builds.iter().map(|_| FilterFigures::default()).collect();
    for round in 0..=rounds {
        for ((build, samples), filter) in builds.iter().zip(&mut times).zip(&mut filters) {
            let (app, run) = launch_build(&fixture, build).await;
            if round > 0 {
                samples.push((run.dom, run.dom - run.dcl));
                scripted_filter(&app, filter, false).await;
            }
            app.close().await;
        }
    }
    println!(
        "\n== Builds compared ({rounds} rounds after a warm-up, 10,000 keys; ms from the WebDriver session request) =="
    );
    for (index, ((build, samples), filter)) in builds.iter().zip(&times).zip(&filters).enumerate() {
        let dom: Vec<f64> = samples.iter().map(|sample| sample.0).collect();
        let after_dcl: Vec<f64> = samples.iter().map(|sample| sample.1).collect();
        let against_first = if index == 0 {
            String::from("the reference")
        } else {
            let paired: Vec<f64> = samples
                .iter()
                .zip(&times[0])
                .map(|(sample, first)| sample.0 - first.0)
                .collect();
            format!(
                "{:+.0} ms against the first (median of the rounds' differences; p25 {:+.0}, p75 {:+.0})",
                median(&paired),
                percentile(&paired, 25.0),
                percentile(&paired, 75.0)
            )
        };
        println!(
            "BUILD {index} {}: table in the DOM {}; from DOMContentLoaded median {:.0} (p25 {:.0}, p75 {:.0}); {against_first}",
            build.display(),
            summary(&dom),
            median(&after_dcl),
            percentile(&after_dcl, 25.0),
            percentile(&after_dcl, 75.0),
        );
        println!(
            "  filter keystroke to the table repainted, every round's keystrokes together: {}; each launch's p95: {} ms",
            summary(&filter.scripted_painted),
            whole_ms(&filter.launch_p95)
        );
    }
    println!("load average at end: {}", load_average());
}

/// What a frame costs the page's thread, by what changes in it: each change is made straight
/// to the DOM at a frame's start, without the page's code, and timed to the end of that
/// frame's rendering as the filter's keystrokes are. A kind is undone at the next trial, so
/// every trial changes something. The kinds are what a filter keystroke changes.
const FRAME_COSTS: &str = r#"
    const [trials] = arguments;
    const done = arguments[arguments.length - 1];
    const input = document.getElementById('key-filter-text');
    const counts = document.querySelector("[data-testid='key-counts']");
    const tbody = document.querySelector("table[role='grid'] tbody");
    const extent = document.querySelector('.viewport > .extent');
    if (!extent) throw new Error("no .extent in the keys table's viewport");
    if (!tbody.querySelector('td.c-name')) throw new Error('no rows in the keys table');
    const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
    const afterRendering = () => new Promise((resolve) => {
        const channel = new MessageChannel();
        channel.port1.onmessage = resolve;
        channel.port2.postMessage(0);
    });
    // Even trials add a character (or 36 px), odd ones take it away.
    let grow = true;
    const text = (node) => { node.data = grow ? node.data + 'x' : node.data.slice(0, -1); };
    const cells = (selector) => () => {
        for (const cell of tbody.querySelectorAll(selector)) text(cell.firstChild);
    };
    const taller = (element) => {
        element.style.height = `${element.getBoundingClientRect().height + (grow ? 36 : -36)}px`;
    };
    const kinds = {
        'nothing': () => {},
        'the rows\' attributes (id, data-key-id)': () => {
            for (const row of tbody.querySelectorAll('tr')) {
                row.id = grow ? `${row.id}x` : row.id.slice(0, -1);
                row.dataset.keyId = grow ? `${row.dataset.keyId}x` : row.dataset.keyId.slice(0, -1);
            }
        },
        'the filter field\'s text': () => { input.value = grow ? `${input.value}x` : input.value.slice(0, -1); },
        'the counts line\'s text': () => text(counts.firstChild),
        'one name cell\'s text': () => text(tbody.querySelector('td.c-name').firstChild),
        'every name cell\'s text': cells('td.c-name'),
        'every name and key cell\'s text': cells('td.c-name, td.c-key'),
        'every cell\'s text': cells('td'),
        'the scroll height (an empty box\'s height)': () => taller(extent),
        'the rows\' body\'s height': () => taller(tbody),
    };
    (async () => {
        const costs = {};
        for (let trial = 0; trial < trials; trial++) {
            grow = trial % 2 === 0;
            for (const [kind, change] of Object.entries(kinds)) {
                await frame();
                await frame();
                const cost = await new Promise((resolve) => requestAnimationFrame(() => {
                    const start = performance.now();
                    change();
                    afterRendering().then(() => resolve(performance.now() - start));
                }));
                (costs[kind] ??= []).push(cost);
            }
        }
        done(Object.entries(costs));
    })();
"#;

/// `scripts/bench-app.sh --frame-costs`: the cost of a frame by what changed in it (see
/// `FRAME_COSTS`), each kind timed 20 times in each of KEYWARD_BENCH_RUNS launches over
/// 10,000 keys. It tells what part of a filter keystroke is the web view's fixed cost of a
/// frame that changes anything and what part grows with what is redrawn.
#[tokio::test]
#[ignore = "a tool: run by scripts/bench-app.sh --frame-costs"]
async fn frame_costs() {
    let fixture = Fixture::build(KEYS);
    let mut costs: Vec<(String, Vec<f64>)> = Vec::new();
    for _ in 0..runs() {
        let (app, _) = launch_app(&fixture).await;
        let launch = app
            .client
            .execute_async(FRAME_COSTS, vec![json!(20)])
            .await
            .expect("time the frames");
        // [kind, [ms, …]] in the order of FRAME_COSTS' kinds, the same in every launch.
        let kinds = launch.as_array().expect("costs by kind");
        for (index, kind) in kinds.iter().enumerate() {
            if costs.len() == index {
                costs.push((kind[0].as_str().expect("a kind").to_string(), Vec::new()));
            }
            let values = kind[1].as_array().expect("a list of costs");
            costs[index]
                .1
                .extend(values.iter().map(|value| value.as_f64().expect("a time")));
        }
        app.close().await;
    }
    println!("A frame's cost to the page's thread, from the change to the frame rendered (ms), by what changed:");
    for (kind, values) in &costs {
        println!("  {kind}: {}", summary(values));
    }
}
