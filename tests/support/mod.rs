//! Plumbing shared by the end-to-end tests: tauri-driver started with the app's environment,
//! a WebDriver session on the real debug binary, helpers that find things the way a person
//! does (by label and by name), and a clean stop.
//!
//! tauri-driver listens on fixed ports, so E2E tests run one at a time (`--test-threads=1`).

// Each test binary compiles this module and may use only part of it.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tempfile::TempDir;

const WEBDRIVER_PORT: u16 = 4444;
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
const DRIVER_STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Long enough for argon2 (64 MiB) on a loaded 2-core CI machine.
const UI_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// The real app under test, with a vault path of its own in a temporary directory.
pub struct App {
    pub client: Client,
    /// `KEYWARD_VAULT` as the app sees it; no file exists there at launch.
    pub vault_path: PathBuf,
    // Dropped in this order: the driver stops before its log and the vault are deleted.
    driver: TauriDriver,
    _workdir: TempDir,
}

impl App {
    /// Starts tauri-driver, which starts the app, and opens a WebDriver session on it.
    pub async fn launch() -> App {
        let workdir = tempfile::tempdir().expect("create a temporary directory for the test");
        let vault_path = workdir.path().join("vault.db");
        let envs = [
            ("KEYWARD_VAULT", vault_path.clone().into_os_string()),
            // X11 even on a Wayland desktop, so the native window can be inspected.
            ("GDK_BACKEND", OsString::from("x11")),
        ];
        let driver = TauriDriver::start(&envs, &workdir.path().join("tauri-driver.log"));

        let application = env!("CARGO_BIN_EXE_keyward-desktop");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "tauri:options".into(),
            json!({ "application": application }),
        );
        let client = ClientBuilder::native()
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{WEBDRIVER_PORT}"))
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "open a WebDriver session on {application}: {error}\n{}",
                    driver.log()
                )
            });

        App {
            client,
            vault_path,
            driver,
            _workdir: workdir,
        }
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

    async fn text_of(&self, css: &str) -> Option<String> {
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
    fn start(envs: &[(&str, OsString)], log_path: &Path) -> TauriDriver {
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
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + DRIVER_STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.process.try_wait() {
                return;
            }
            thread::sleep(POLL);
        }
        eprintln!(
            "tauri-driver (pid {pid}) did not stop within {DRIVER_STOP_TIMEOUT:?} of SIGTERM"
        );
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
