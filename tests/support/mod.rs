//! Plumbing shared by the end-to-end tests: tauri-driver started with the app's environment,
//! a WebDriver session on the real debug binary, helpers that find things the way a person
//! does (by label and by name), and a clean stop. Also the `keyward` CLI on the app's vault
//! and the X clipboard, to check from outside what the app did.
//!
//! tauri-driver listens on fixed ports, so E2E tests run one at a time (`--test-threads=1`).

// Each test binary compiles this module and may use only part of it.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use fantoccini::elements::Element;
use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tempfile::TempDir;

const WEBDRIVER_PORT: u16 = 4444;
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
const DRIVER_STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Long enough for argon2 (64 MiB) on a loaded 2-core CI machine.
const UI_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// What tauri-driver starts: the app (by default) or another Tauri binary, in a working
/// directory whose `vault.db` is `KEYWARD_VAULT`.
pub struct Launch {
    application: PathBuf,
    args: Vec<String>,
    workdir: Option<TempDir>,
    envs: Vec<(String, OsString)>,
}

impl Launch {
    /// The real app, with no vault at `KEYWARD_VAULT` unless `in_workdir` brings one.
    pub fn app() -> Launch {
        Launch::binary(app_binary(), &[])
    }

    /// Another Tauri binary (the benchmarks' empty window), with these arguments.
    pub fn binary(application: impl Into<PathBuf>, args: &[&str]) -> Launch {
        Launch {
            application: application.into(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            workdir: None,
            envs: Vec::new(),
        }
    }

    /// Runs in `workdir` (see `new_workdir`), where a test may have prepared a vault.
    pub fn in_workdir(mut self, workdir: TempDir) -> Launch {
        self.workdir = Some(workdir);
        self
    }

    pub fn env(mut self, name: &str, value: impl Into<OsString>) -> Launch {
        self.envs.push((name.to_string(), value.into()));
        self
    }
}

/// How many processes run the program at `application` (by its path: an installed Keyward
/// of the developer's is not counted).
pub fn processes_running(application: &Path) -> usize {
    let wanted = application
        .canonicalize()
        .unwrap_or_else(|_| application.to_path_buf());
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.parse::<u32>().is_ok())
                && std::fs::read_link(entry.path().join("exe")).is_ok_and(|exe| exe == wanted)
        })
        .count()
}

/// Waits (at most 20 s) until no process runs `application`.
fn wait_until_no_process_named(application: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_running(application) > 0 {
        assert!(
            Instant::now() < deadline,
            "{} from an earlier launch is still running after 20 s",
            application.display()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// A fresh working directory for one launch; its vault is at `vault_path_in(&dir)`.
pub fn new_workdir() -> TempDir {
    tempfile::tempdir().expect("create a temporary directory for the test")
}

/// Where the app looks for its vault when launched in `workdir`.
pub fn vault_path_in(workdir: &TempDir) -> PathBuf {
    workdir.path().join("vault.db")
}

/// The debug build of the app that cargo built next to this test.
pub fn app_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keyward-desktop"))
}

/// The real app under test, with a vault path of its own in a temporary directory.
pub struct App {
    pub client: Client,
    /// `KEYWARD_VAULT` as the app sees it; no file exists there at launch unless prepared.
    pub vault_path: PathBuf,
    /// When the WebDriver session (and so the app's process) was asked for.
    pub session_requested_at: SystemTime,
    // Dropped in this order: the driver stops before its log and the vault are deleted.
    driver: TauriDriver,
    _workdir: TempDir,
}

impl App {
    /// Starts tauri-driver, which starts the app, and opens a WebDriver session on it.
    pub async fn launch() -> App {
        App::launch_with(Launch::app()).await
    }

    pub async fn launch_with(launch: Launch) -> App {
        let Launch {
            application,
            args,
            workdir,
            envs: extra_envs,
        } = launch;
        let workdir = workdir.unwrap_or_else(new_workdir);
        let vault_path = vault_path_in(&workdir);
        let mut envs = vec![
            (
                "KEYWARD_VAULT".to_string(),
                vault_path.clone().into_os_string(),
            ),
            // X11 even on a Wayland desktop, so the native window can be inspected.
            ("GDK_BACKEND".to_string(), OsString::from("x11")),
            // The launch's own log and window state (a test that wants them kept across
            // launches passes its own): one test's window size never reaches the next.
            (
                "XDG_CONFIG_HOME".to_string(),
                workdir.path().join("config").into_os_string(),
            ),
            (
                "XDG_DATA_HOME".to_string(),
                workdir.path().join("data").into_os_string(),
            ),
        ];
        envs.extend(extra_envs);
        // The app is single-instance: a launch while the previous test's app is still going
        // away would hand over to it and exit, and WebKitWebDriver would wait for it forever.
        wait_until_no_process_named(&application);
        let driver = TauriDriver::start(&envs, &workdir.path().join("tauri-driver.log"));

        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "tauri:options".into(),
            json!({ "application": application, "args": args }),
        );
        let session_requested_at = SystemTime::now();
        let client = ClientBuilder::native()
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{WEBDRIVER_PORT}"))
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "open a WebDriver session on {}: {error}\n{}",
                    application.display(),
                    driver.log()
                )
            });

        App {
            client,
            vault_path,
            session_requested_at,
            driver,
            _workdir: workdir,
        }
    }

    /// The `keyward` CLI on this app's vault, unlocking it with `passphrase`.
    pub fn cli(&self, passphrase: &str) -> Cli {
        Cli::new(&self.vault_path, passphrase)
    }

    /// The pid of tauri-driver, whose descendants are WebKitWebDriver and the app.
    pub fn driver_pid(&self) -> u32 {
        self.driver.process.id()
    }

    /// tauri-driver's log, with the app's own output.
    pub fn driver_log(&self) -> String {
        self.driver.log()
    }

    /// Ends the WebDriver session, which closes the app, then stops tauri-driver.
    pub async fn close(self) {
        let App {
            client,
            driver,
            _workdir,
            ..
        } = self;
        client.close().await.expect("end the WebDriver session");
        drop(driver);
    }

    /// The input that a `<label>` with exactly this text labels.
    pub async fn field(&self, label: &str) -> Element {
        let xpath = format!("//label[normalize-space(.)='{label}']");
        let label_element = self
            .wait_for(Locator::XPath(&xpath), &format!("the label {label:?}"))
            .await;
        let id = label_element
            .attr("for")
            .await
            .expect("read the label's `for`")
            .unwrap_or_else(|| panic!("the label {label:?} names no field"));
        self.client
            .find(Locator::Id(&id))
            .await
            .unwrap_or_else(|error| panic!("the field labelled {label:?} (#{id}): {error}"))
    }

    /// The button whose text is exactly `name`, once it is on screen.
    pub async fn button(&self, name: &str) -> Element {
        let xpath = format!("//button[normalize-space(.)='{name}']");
        self.wait_for(Locator::XPath(&xpath), &format!("the button {name:?}"))
            .await
    }

    /// Clicks the button whose text is exactly `name` once it is on screen and enabled.
    pub async fn click(&self, name: &str) {
        let button = self.button(name).await;
        self.wait_enabled(&button, name).await;
        button
            .click()
            .await
            .unwrap_or_else(|error| panic!("click {name:?}: {error}"));
    }

    /// The open dialog (`role="dialog"` or `"alertdialog"`) titled `title`.
    pub async fn dialog(&self, title: &str) -> Element {
        let xpath = format!(
            "//*[(@role='dialog' or @role='alertdialog') and @aria-modal='true']\
             [.//h2[normalize-space(.)='{title}']]"
        );
        self.wait_for(Locator::XPath(&xpath), &format!("the dialog {title:?}"))
            .await
    }

    /// Waits until no dialog titled `title` is open.
    pub async fn wait_dialog_closed(&self, title: &str) {
        let xpath = format!(
            "//*[(@role='dialog' or @role='alertdialog') and @aria-modal='true']\
             [.//h2[normalize-space(.)='{title}']]"
        );
        self.wait_gone(&xpath, &format!("the dialog {title:?} to close"))
            .await;
    }

    /// The page button of the top bar ("Keys", "Groups", "Settings", "Audit log").
    pub async fn go_to(&self, page: &str) {
        let xpath = format!("//nav[@aria-label='Pages']//button[normalize-space(.)='{page}']");
        self.wait_for(Locator::XPath(&xpath), &format!("the page button {page:?}"))
            .await
            .click()
            .await
            .unwrap_or_else(|error| panic!("go to the page {page:?}: {error}"));
    }

    /// Waits until nothing matches `xpath`.
    pub async fn wait_gone(&self, xpath: &str, what: &str) {
        let deadline = Instant::now() + UI_TIMEOUT;
        loop {
            let found = self
                .client
                .find_all(Locator::XPath(xpath))
                .await
                .expect("query the page");
            if found.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                self.driver.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `element` (a button, a field) is enabled.
    pub async fn wait_enabled(&self, element: &Element, what: &str) {
        let deadline = Instant::now() + UI_TIMEOUT;
        while !element
            .is_enabled()
            .await
            .unwrap_or_else(|error| panic!("is {what:?} enabled: {error}"))
        {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what:?} to be enabled\n{}",
                self.driver.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Clears the field labelled `label` and types `text` into it.
    pub async fn fill(&self, label: &str, text: &str) {
        let field = self.field(label).await;
        self.wait_enabled(&field, label).await;
        if text.is_empty() {
            // WebDriver's clear empties the field without an `input` event, which the page
            // would not notice; select everything and delete it as a person does.
            let keys = format!("{}a{}{}", &*Key::Control, &*Key::Null, &*Key::Backspace);
            field
                .send_keys(&keys)
                .await
                .unwrap_or_else(|error| panic!("empty {label:?}: {error}"));
            return;
        }
        field
            .clear()
            .await
            .unwrap_or_else(|error| panic!("clear {label:?}: {error}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|error| panic!("type into {label:?}: {error}"));
    }

    /// The current value of a field (a property: what page source does not show).
    pub async fn value_of(&self, field: &Element) -> String {
        field
            .prop("value")
            .await
            .expect("read the field's value")
            .unwrap_or_default()
    }

    /// Where `text` appears in the page: its HTML, the values of its fields, its visible
    /// text, the window title. Empty when nowhere.
    pub async fn places_showing(&self, text: &str) -> Vec<String> {
        let mut places = Vec::new();
        let source = self.client.source().await.expect("read the page source");
        if source.contains(text) {
            places.push("the page source".to_string());
        }
        let script = r#"
            const [needle] = arguments;
            const places = [];
            if (document.documentElement.outerHTML.includes(needle)) places.push('the HTML');
            if (document.body.innerText.includes(needle)) places.push('the visible text');
            if (document.title.includes(needle)) places.push('the title');
            for (const field of document.querySelectorAll('input, textarea, select')) {
                if (String(field.value).includes(needle)) places.push(`the field #${field.id}`);
            }
            return places;
        "#;
        let found = self
            .client
            .execute(script, vec![json!(text)])
            .await
            .expect("search the page");
        places.extend(
            found
                .as_array()
                .expect("a list of places")
                .iter()
                .map(|place| place.as_str().unwrap_or_default().to_string()),
        );
        places
    }

    /// The keys table's rows as text, cell by cell, as rendered now (only the rows in view:
    /// the table is virtualised).
    pub async fn key_rows(&self) -> Vec<Vec<String>> {
        let script = r#"
            return [...document.querySelectorAll("table[role='grid'] tbody tr[data-key-id]")]
                .map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent.trim()));
        "#;
        let rows = self
            .client
            .execute(script, vec![])
            .await
            .expect("read the keys table");
        serde_json::from_value(rows).expect("rows of cells")
    }

    /// The row of the keys table whose Name cell is `name`.
    pub async fn key_row(&self, name: &str) -> Element {
        let xpath = format!(
            "//table[@role='grid']/tbody/tr[@data-key-id][td[1][normalize-space(.)='{name}']]"
        );
        self.wait_for(
            Locator::XPath(&xpath),
            &format!("the key {name:?} in the table"),
        )
        .await
    }

    pub async fn wait_for(&self, locator: Locator<'_>, what: &str) -> Element {
        self.client
            .wait()
            .at_most(UI_TIMEOUT)
            .every(POLL)
            .for_element(locator)
            .await
            .unwrap_or_else(|error| panic!("waiting for {what}: {error}\n{}", self.driver.log()))
    }

    /// Whether anything matches `css` right now.
    pub async fn is_shown(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("query the page")
            .is_empty()
    }

    /// Waits until the element matching `css` has text that satisfies `wanted`; returns it.
    pub async fn wait_for_text(
        &self,
        css: &str,
        what: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + UI_TIMEOUT;
        let mut last_seen = None;
        loop {
            match self.text_of(css).await {
                Some(text) if wanted(&text) => return text,
                Some(text) => last_seen = Some(text),
                None => {}
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what} in {css}; last text seen: {last_seen:?}\n{}",
                    self.driver.log()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn text_of(&self, css: &str) -> Option<String> {
        let element = match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(error) if is_gone(&error) => return None,
            Err(error) => panic!("find {css}: {error}"),
        };
        match element.text().await {
            Ok(text) => Some(text.trim().to_string()),
            Err(error) if is_gone(&error) => None,
            Err(error) => panic!("read the text of {css}: {error}"),
        }
    }

    /// The titles of the app's native top-level windows, as the X server knows them.
    pub fn native_window_titles(&self) -> Vec<String> {
        let output = Command::new("xwininfo")
            .args(["-root", "-tree"])
            .output()
            .expect("run xwininfo (package x11-utils)");
        assert!(
            output.status.success(),
            "xwininfo failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // Lines look like: 0x200003 "Keyward": ("keyward-desktop" "Keyward-desktop")  960x680+0+0
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| line.contains("(\"keyward-desktop\""))
            .filter_map(|line| {
                line.split_once(" \"")?
                    .1
                    .split_once("\": (")
                    .map(|(title, _)| title.to_string())
            })
            .collect()
    }
}

/// The element is not (or no longer) on the page: worth looking again.
fn is_gone(error: &CmdError) -> bool {
    matches!(error, CmdError::Standard(w)
        if matches!(w.error, ErrorStatus::NoSuchElement | ErrorStatus::StaleElementReference))
}

/// A running tauri-driver. Its output goes to a file, never to the test's own pipes: a
/// WebKitWebDriver outliving it would otherwise keep them open and hang the run.
struct TauriDriver {
    process: Child,
    log_path: PathBuf,
}

impl TauriDriver {
    fn start(envs: &[(String, OsString)], log_path: &Path) -> TauriDriver {
        assert!(
            TcpStream::connect(("127.0.0.1", WEBDRIVER_PORT)).is_err(),
            "port {WEBDRIVER_PORT} is already in use: is another tauri-driver running?"
        );
        let log = File::create(log_path).expect("create the tauri-driver log");
        let program = tauri_driver_program();
        let process = Command::new(&program)
            .envs(envs.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("share the log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "start {}: {error} (install it with scripts/install-deps.sh)",
                    program.display()
                )
            });
        let mut driver = TauriDriver {
            process,
            log_path: log_path.to_path_buf(),
        };
        driver.wait_until_listening();
        driver
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + DRIVER_START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", WEBDRIVER_PORT)).is_err() {
            if let Ok(Some(status)) = self.process.try_wait() {
                panic!("tauri-driver exited at start ({status})\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "tauri-driver did not listen on port {WEBDRIVER_PORT}\n{}",
                self.log()
            );
            thread::sleep(POLL);
        }
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        format!("--- tauri-driver and app output ---\n{text}--- end ---")
    }

    /// SIGTERM lets tauri-driver stop WebKitWebDriver and the app; SIGKILL would orphan them.
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.process.try_wait() {
            return;
        }
        let pid = libc::pid_t::try_from(self.process.id()).expect("a pid fits pid_t");
        // What the driver started (WebKitWebDriver, the app): a test that failed before ending
        // its session leaves the app running, and the app is single-instance.
        let started = descendants_of(self.process.id());
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + DRIVER_STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.process.try_wait() {
                end_processes(&started);
                return;
            }
            thread::sleep(POLL);
        }
        eprintln!(
            "tauri-driver (pid {pid}) did not stop within {DRIVER_STOP_TIMEOUT:?} of SIGTERM"
        );
    }
}

/// The processes below `root` (children, their children...), as /proc shows them now.
fn descendants_of(root: u32) -> Vec<(u32, String)> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so read after its last ')'.
        let Some((comm, rest)) = stat
            .split_once(" (")
            .and_then(|(_, rest)| rest.rsplit_once(") "))
        else {
            continue;
        };
        if let Some(ppid) = rest
            .split_whitespace()
            .nth(1)
            .and_then(|ppid| ppid.parse::<u32>().ok())
        {
            parents.push((pid, ppid, comm.to_string()));
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, ppid, comm) in &parents {
            if *ppid == parent {
                found.push((*pid, comm.clone()));
                frontier.push(*pid);
            }
        }
    }
    found
}

/// SIGTERM to those of `processes` still running with the same name (so a reused pid is spared),
/// then a wait of up to 10 s for them to go.
fn end_processes(processes: &[(u32, String)]) {
    let alive = |pid: u32, comm: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.contains(&format!("({comm})")) && !stat.contains(") Z "))
    };
    for (pid, comm) in processes {
        if alive(*pid, comm) {
            if let Ok(pid) = libc::pid_t::try_from(*pid) {
                // SAFETY: kill(2) on a process this test's driver started, checked alive above.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes.iter().any(|(pid, comm)| alive(*pid, comm)) && Instant::now() < deadline {
        thread::sleep(POLL);
    }
}

impl Drop for TauriDriver {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!("{}", self.log());
        }
    }
}

/// `$TAURI_DRIVER`, else `tauri-driver` on PATH, else the one `cargo install` put in cargo's bin.
fn tauri_driver_program() -> PathBuf {
    if let Some(program) = std::env::var_os("TAURI_DRIVER") {
        return PathBuf::from(program);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("tauri-driver"))
        .find(|candidate| candidate.is_file());
    let in_cargo_home = || {
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))?;
        Some(cargo_home.join("bin").join("tauri-driver"))
    };
    on_path
        .or_else(in_cargo_home)
        .unwrap_or_else(|| PathBuf::from("tauri-driver"))
}

/// The `keyward` CLI on a vault, unlocked with a passphrase through `$KEYWARD_PASSPHRASE`.
pub struct Cli {
    vault: PathBuf,
    passphrase: String,
    actor: String,
}

/// What a CLI run left: its exit code and its output.
#[derive(Debug)]
pub struct CliRun {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

impl Cli {
    pub fn new(vault: &Path, passphrase: &str) -> Cli {
        Cli {
            vault: vault.to_path_buf(),
            passphrase: passphrase.to_string(),
            actor: "e2e-cli".to_string(),
        }
    }

    /// The same CLI, recording `actor` as "created by" and in the audit log.
    pub fn as_actor(&self, actor: &str) -> Cli {
        Cli {
            vault: self.vault.clone(),
            passphrase: self.passphrase.clone(),
            actor: actor.to_string(),
        }
    }

    /// `target/debug/keyward`, next to the app (`cargo build -p keyward-cli`; the workspace's
    /// test build makes it too, for the CLI's own tests).
    pub fn program() -> PathBuf {
        let program = app_binary().with_file_name("keyward");
        assert!(
            program.is_file(),
            "no CLI at {}: build it with `cargo build -p keyward-cli`",
            program.display()
        );
        program
    }

    /// Runs `keyward ARGS` with `stdin` on its standard input.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> CliRun {
        let mut child = Command::new(Cli::program())
            .args(args)
            .env("KEYWARD_VAULT", &self.vault)
            .env("KEYWARD_PASSPHRASE", &self.passphrase)
            .env("KEYWARD_ACTOR", &self.actor)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the keyward CLI");
        let mut input = child.stdin.take().expect("the CLI's stdin");
        if let Some(text) = stdin {
            input
                .write_all(text.as_bytes())
                .expect("write to the CLI's stdin");
        }
        drop(input);
        let output = child.wait_with_output().expect("wait for the keyward CLI");
        CliRun {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `keyward ARGS` and insists it succeeds; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args, None);
        assert!(
            run.status.success(),
            "keyward {}: {}\n{}{}",
            args.join(" "),
            run.status,
            run.stdout,
            run.stderr
        );
        run.stdout
    }

    /// Runs `keyward --json ARGS`, insists it succeeds and parses what it prints.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let stdout = self.ok(&with_json);
        serde_json::from_str(&stdout).unwrap_or_else(|error| {
            panic!("keyward {}: not JSON ({error}): {stdout}", args.join(" "))
        })
    }

    /// A vault that opens fast (argon2 at 8 MiB, 1 pass) with one account of `key_limit` keys.
    pub fn init_fast_vault(&self, account: &str, key_limit: u32) {
        self.ok(&["init", "--kdf-memory-mib", "19", "--kdf-passes", "2"]);
        self.ok(&[
            "account",
            "create",
            account,
            "--key-limit",
            &key_limit.to_string(),
        ]);
    }

    /// Creates keys named `names` in batches of at most `batch` (one transaction each);
    /// returns the (name, key) pairs the CLI printed, once.
    pub fn create_keys(
        &self,
        names: &[String],
        batch: usize,
        extra: &[&str],
    ) -> Vec<(String, String)> {
        let dir = tempfile::tempdir().expect("a directory for the names files");
        let mut created = Vec::with_capacity(names.len());
        for (index, chunk) in names.chunks(batch).enumerate() {
            let file = dir.path().join(format!("names-{index}.txt"));
            std::fs::write(&file, chunk.join("\n")).expect("write the names file");
            let file = file.to_str().expect("a UTF-8 path").to_string();
            let mut args = vec!["key", "create", "--names-from", file.as_str()];
            args.extend_from_slice(extra);
            let stdout = self.ok(&args);
            created.extend(stdout.lines().filter_map(|line| {
                let (name, key) = line.split_once('\t')?;
                Some((name.to_string(), key.to_string()))
            }));
        }
        assert_eq!(
            created.len(),
            names.len(),
            "the CLI printed one key per name"
        );
        created
    }
}

/// The text on the X clipboard (`xclip -selection clipboard -o`), or `None` when it holds
/// none — nothing owns it, or its owner offers no text. Needs the owner to be running.
pub fn clipboard_text() -> Option<String> {
    let mut child = Command::new("xclip")
        .args(["-selection", "clipboard", "-o"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run xclip (package xclip)");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for xclip") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("xclip did not answer within 10 s: the clipboard's owner is stuck");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    child
        .stdout
        .take()
        .expect("xclip's stdout")
        .read_to_string(&mut text)
        .expect("read xclip's output");
    (status.success() && !text.is_empty()).then_some(text)
}
