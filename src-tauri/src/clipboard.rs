//! Copying secrets to the system clipboard from Rust, so a key never passes through the web
//! view. One thread owns the clipboard for the app's lifetime — on X11 the content lives only
//! as long as its owner — and clears a copy after the delay, on lock and on quit, but only
//! while the clipboard still holds that copy: what the administrator copied since is theirs.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use keyward_core::SecretString;

use crate::error::CommandError;
use crate::events::Events;
use crate::views::{ClipboardClearReason, CopyReceipt};

/// The few clipboard operations the guard needs; `arboard` in the app, a fake in tests.
pub trait ClipboardBackend {
    /// Puts `text` on the clipboard, marked to stay out of clipboard history and monitoring.
    fn set_secret(&mut self, text: &str) -> Result<(), String>;
    /// The clipboard's text; `None` when it holds no text (empty, an image...).
    fn text(&mut self) -> Result<Option<SecretString>, String>;
    fn clear(&mut self) -> Result<(), String>;
}

impl<B: ClipboardBackend + ?Sized> ClipboardBackend for Box<B> {
    fn set_secret(&mut self, text: &str) -> Result<(), String> {
        (**self).set_secret(text)
    }

    fn text(&mut self) -> Result<Option<SecretString>, String> {
        (**self).text()
    }

    fn clear(&mut self) -> Result<(), String> {
        (**self).clear()
    }
}

/// A copy waiting to be cleared.
struct Pending {
    text: SecretString,
    deadline: Instant,
}

/// The rules, without threads or a display: what a copy, a deadline or a lock does.
pub struct ClipboardGuard<B> {
    backend: B,
    pending: Option<Pending>,
}

impl<B: ClipboardBackend> ClipboardGuard<B> {
    pub fn new(backend: B) -> Self {
        ClipboardGuard {
            backend,
            pending: None,
        }
    }

    /// Copies `text`; it is cleared at `deadline` unless something else replaced it by then.
    /// A new copy takes over the previous one's countdown.
    pub fn copy(&mut self, text: SecretString, deadline: Instant) -> Result<(), String> {
        self.backend.set_secret(text.expose())?;
        self.pending = Some(Pending { text, deadline });
        Ok(())
    }

    /// When the pending copy is due to be cleared.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending.as_ref().map(|pending| pending.deadline)
    }

    /// Ends the pending copy if its deadline has passed.
    pub fn expire(&mut self, now: Instant) -> Option<ClipboardClearReason> {
        match self.deadline() {
            Some(deadline) if deadline <= now => Some(self.release(ClipboardClearReason::Expired)),
            _ => None,
        }
    }

    /// Ends the pending copy now: clears the clipboard if it still holds the copy. Returns
    /// `reason`, or `Overwritten` when the clipboard held something else; `None` when no
    /// copy was pending.
    pub fn release_now(&mut self, reason: ClipboardClearReason) -> Option<ClipboardClearReason> {
        self.pending.as_ref()?;
        Some(self.release(reason))
    }

    fn release(&mut self, reason: ClipboardClearReason) -> ClipboardClearReason {
        let Some(pending) = self.pending.take() else {
            return reason;
        };
        let still_ours = match self.backend.text() {
            Ok(current) => current.is_some_and(|current| current.expose() == pending.text.expose()),
            // Unreadable: a key may still be there, so clearing is the safe side.
            Err(_) => true,
        };
        if !still_ours {
            return ClipboardClearReason::Overwritten;
        }
        // A failed clear leaves nothing better to do; the content goes with the app at the latest.
        let _ = self.backend.clear();
        reason
    }
}

enum Request {
    Copy {
        text: SecretString,
        delay: Duration,
        done: Sender<Result<(), String>>,
    },
    Release {
        reason: ClipboardClearReason,
        done: Sender<()>,
    },
}

/// The handle the session keeps: requests go to the clipboard thread, which owns the
/// clipboard (and so keeps serving its content on X11) until the app quits.
pub struct Clipboard {
    requests: Mutex<Sender<Request>>,
}

impl std::fmt::Debug for Clipboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clipboard")
    }
}

/// How long `release` waits for the clipboard thread (on quit the app must not hang).
const RELEASE_WAIT: Duration = Duration::from_secs(2);

impl Clipboard {
    /// The system clipboard through `arboard`, opened on first use (so a missing display
    /// surfaces as an error on copy, not at startup).
    pub fn system(events: Arc<Events>) -> Self {
        Clipboard::spawn(events, || {
            SystemClipboard::open()
                .map(|clipboard| Box::new(clipboard) as Box<dyn ClipboardBackend>)
        })
    }

    /// A clipboard thread over the backend `open` makes; `open` is retried until it succeeds.
    pub fn spawn<F>(events: Arc<Events>, open: F) -> Self
    where
        F: FnMut() -> Result<Box<dyn ClipboardBackend>, String> + Send + 'static,
    {
        let (requests, inbox) = mpsc::channel();
        thread::Builder::new()
            .name("clipboard".into())
            .spawn(move || serve(inbox, open, &events))
            .expect("the OS can start a thread");
        Clipboard {
            requests: Mutex::new(requests),
        }
    }

    fn send(&self, request: Request) -> Result<(), CommandError> {
        let requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        requests
            .send(request)
            .map_err(|_| CommandError::Internal("the clipboard thread has stopped".into()))
    }

    /// Copies `text` and clears it after `delay` if the clipboard still holds it then.
    pub fn copy(&self, text: SecretString, delay: Duration) -> Result<CopyReceipt, CommandError> {
        let (done, result) = mpsc::channel();
        self.send(Request::Copy { text, delay, done })?;
        result
            .recv()
            .map_err(|_| CommandError::Internal("the clipboard thread has stopped".into()))?
            .map_err(CommandError::Clipboard)?;
        let seconds = delay.as_secs_f64().ceil() as u32;
        Ok(CopyReceipt {
            clears_in_seconds: seconds,
        })
    }

    /// Ends a pending copy now (lock, quit), clearing it if the clipboard still holds it.
    /// Waits until that is done, at most a moment.
    pub fn release(&self, reason: ClipboardClearReason) {
        let (done, finished) = mpsc::channel();
        if self.send(Request::Release { reason, done }).is_ok() {
            let _ = finished.recv_timeout(RELEASE_WAIT);
        }
    }
}

fn serve<F>(inbox: Receiver<Request>, mut open: F, events: &Events)
where
    F: FnMut() -> Result<Box<dyn ClipboardBackend>, String>,
{
    let mut guard: Option<ClipboardGuard<Box<dyn ClipboardBackend>>> = None;
    loop {
        let deadline = guard.as_ref().and_then(ClipboardGuard::deadline);
        let request = match deadline {
            Some(deadline) => {
                inbox.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            }
            None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match request {
            Ok(Request::Copy { text, delay, done }) => {
                let copied = match &mut guard {
                    Some(guard) => guard.copy(text, Instant::now() + delay),
                    None => open().and_then(|backend| {
                        let opened = guard.insert(ClipboardGuard::new(backend));
                        opened.copy(text, Instant::now() + delay)
                    }),
                };
                let _ = done.send(copied);
            }
            Ok(Request::Release { reason, done }) => {
                if let Some(reason) = guard.as_mut().and_then(|guard| guard.release_now(reason)) {
                    events.clipboard_cleared(reason);
                }
                let _ = done.send(());
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Some(reason) = guard
                    .as_mut()
                    .and_then(|guard| guard.expire(Instant::now()))
                {
                    events.clipboard_cleared(reason);
                }
            }
            // The session is gone (the app quits): clear what is still ours, then let go.
            Err(RecvTimeoutError::Disconnected) => {
                if let Some(guard) = guard.as_mut() {
                    guard.release_now(ClipboardClearReason::Locked);
                }
                return;
            }
        }
    }
}

/// The system clipboard through `arboard`.
pub struct SystemClipboard(arboard::Clipboard);

impl SystemClipboard {
    pub fn open() -> Result<Self, String> {
        arboard::Clipboard::new()
            .map(SystemClipboard)
            .map_err(|error| error.to_string())
    }
}

impl ClipboardBackend for SystemClipboard {
    fn set_secret(&mut self, text: &str) -> Result<(), String> {
        let set = self.0.set();
        #[cfg(target_os = "linux")]
        let set = arboard::SetExtLinux::exclude_from_history(set);
        #[cfg(target_os = "windows")]
        let set = arboard::SetExtWindows::exclude_from_monitoring(set);
        #[cfg(target_os = "macos")]
        let set = arboard::SetExtApple::exclude_from_history(set);
        set.text(text).map_err(|error| error.to_string())
    }

    fn text(&mut self) -> Result<Option<SecretString>, String> {
        match self.0.get_text() {
            Ok(text) => Ok(Some(SecretString::new(text))),
            Err(arboard::Error::ContentNotAvailable) => Ok(None),
            Err(error) => Err(error.to_string()),
        }
    }

    fn clear(&mut self) -> Result<(), String> {
        self.0.clear().map_err(|error| error.to_string())
    }
}

#[cfg(test)]
pub mod testing {
    use super::*;

    /// An in-memory clipboard that other programs can write to (`overwrite`).
    #[derive(Clone, Default)]
    pub struct FakeClipboard(pub Arc<Mutex<FakeState>>);

    #[derive(Default)]
    pub struct FakeState {
        pub text: Option<String>,
        pub clears: usize,
        pub unreadable: bool,
    }

    impl FakeClipboard {
        pub fn text(&self) -> Option<String> {
            self.0.lock().unwrap().text.clone()
        }

        /// Another program copies something.
        pub fn overwrite(&self, text: &str) {
            self.0.lock().unwrap().text = Some(text.to_string());
        }

        pub fn clears(&self) -> usize {
            self.0.lock().unwrap().clears
        }
    }

    impl ClipboardBackend for FakeClipboard {
        fn set_secret(&mut self, text: &str) -> Result<(), String> {
            self.0.lock().unwrap().text = Some(text.to_string());
            Ok(())
        }

        fn text(&mut self) -> Result<Option<SecretString>, String> {
            let state = self.0.lock().unwrap();
            if state.unreadable {
                return Err("the owner did not answer".into());
            }
            Ok(state.text.clone().map(SecretString::new))
        }

        fn clear(&mut self) -> Result<(), String> {
            let mut state = self.0.lock().unwrap();
            state.text = None;
            state.clears += 1;
            Ok(())
        }
    }

    /// A clipboard thread over `fake`.
    pub fn fake_clipboard(events: Arc<Events>, fake: &FakeClipboard) -> Clipboard {
        let fake = fake.clone();
        Clipboard::spawn(events, move || {
            Ok(Box::new(fake.clone()) as Box<dyn ClipboardBackend>)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::events::Recorder;
    use serde_json::json;

    const KEY: &str = "kw_secretsecretsecret";

    fn guard() -> (ClipboardGuard<FakeClipboard>, FakeClipboard) {
        let fake = FakeClipboard::default();
        (ClipboardGuard::new(fake.clone()), fake)
    }

    #[test]
    fn a_copy_is_cleared_at_its_deadline_if_the_clipboard_still_holds_it() {
        let (mut guard, fake) = guard();
        let start = Instant::now();
        guard
            .copy(SecretString::from(KEY), start + Duration::from_secs(30))
            .unwrap();
        assert_eq!(fake.text().as_deref(), Some(KEY));

        assert_eq!(
            guard.expire(start + Duration::from_secs(29)),
            None,
            "not yet"
        );
        assert_eq!(fake.text().as_deref(), Some(KEY));
        assert_eq!(
            guard.expire(start + Duration::from_secs(30)),
            Some(ClipboardClearReason::Expired)
        );
        assert_eq!(fake.text(), None);
        assert_eq!(guard.deadline(), None, "nothing is pending any more");
    }

    #[test]
    fn what_the_administrator_copied_since_is_left_alone() {
        let (mut guard, fake) = guard();
        let start = Instant::now();
        guard.copy(SecretString::from(KEY), start).unwrap();
        fake.overwrite("a shopping list");

        assert_eq!(guard.expire(start), Some(ClipboardClearReason::Overwritten));
        assert_eq!(fake.text().as_deref(), Some("a shopping list"));
        assert_eq!(fake.clears(), 0);
    }

    #[test]
    fn an_empty_clipboard_is_not_cleared_again_but_an_unreadable_one_is() {
        let (mut guard, fake) = guard();
        guard.copy(SecretString::from(KEY), Instant::now()).unwrap();
        fake.0.lock().unwrap().text = None;
        assert_eq!(
            guard.release_now(ClipboardClearReason::Locked),
            Some(ClipboardClearReason::Overwritten)
        );
        assert_eq!(fake.clears(), 0);

        guard.copy(SecretString::from(KEY), Instant::now()).unwrap();
        fake.0.lock().unwrap().unreadable = true;
        assert_eq!(
            guard.release_now(ClipboardClearReason::Locked),
            Some(ClipboardClearReason::Locked)
        );
        assert_eq!(fake.clears(), 1, "a key may still be there: cleared");
    }

    #[test]
    fn lock_clears_a_pending_copy_at_once_and_nothing_when_none_is_pending() {
        let (mut guard, fake) = guard();
        assert_eq!(guard.release_now(ClipboardClearReason::Locked), None);
        guard
            .copy(
                SecretString::from(KEY),
                Instant::now() + Duration::from_secs(30),
            )
            .unwrap();
        assert_eq!(
            guard.release_now(ClipboardClearReason::Locked),
            Some(ClipboardClearReason::Locked)
        );
        assert_eq!(fake.text(), None);
        assert_eq!(
            guard.release_now(ClipboardClearReason::Locked),
            None,
            "released once"
        );
    }

    #[test]
    fn a_new_copy_takes_over_the_countdown() {
        let (mut guard, fake) = guard();
        let start = Instant::now();
        guard
            .copy(SecretString::from("first"), start + Duration::from_secs(5))
            .unwrap();
        guard
            .copy(
                SecretString::from("second"),
                start + Duration::from_secs(30),
            )
            .unwrap();
        assert_eq!(guard.expire(start + Duration::from_secs(5)), None);
        assert_eq!(fake.text().as_deref(), Some("second"));
        assert_eq!(
            guard.expire(start + Duration::from_secs(30)),
            Some(ClipboardClearReason::Expired)
        );
    }

    fn wait_for(mut done: impl FnMut() -> bool) {
        let until = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < until, "timed out");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_clipboard_thread_clears_after_the_delay_and_says_so() {
        let events = Events::new();
        let recorder = Recorder::default();
        events.connect(recorder.clone());
        let fake = FakeClipboard::default();
        let clipboard = fake_clipboard(events, &fake);

        let receipt = clipboard
            .copy(SecretString::from(KEY), Duration::from_millis(50))
            .unwrap();
        assert_eq!(
            receipt,
            CopyReceipt {
                clears_in_seconds: 1
            }
        );
        assert_eq!(fake.text().as_deref(), Some(KEY));
        wait_for(|| fake.text().is_none());
        wait_for(|| !recorder.events().is_empty());
        assert_eq!(
            recorder.events(),
            vec![json!({ "event": "clipboard-cleared", "payload": { "reason": "expired" } })]
        );
    }

    #[test]
    fn release_clears_at_once_and_dropping_the_handle_clears_too() {
        let events = Events::new();
        let fake = FakeClipboard::default();
        let clipboard = fake_clipboard(Arc::clone(&events), &fake);
        clipboard
            .copy(SecretString::from(KEY), Duration::from_secs(60))
            .unwrap();
        clipboard.release(ClipboardClearReason::Locked);
        assert_eq!(fake.text(), None);

        clipboard
            .copy(SecretString::from(KEY), Duration::from_secs(60))
            .unwrap();
        drop(clipboard);
        wait_for(|| fake.text().is_none());
    }

    fn xclip(args: &[&str]) -> Option<String> {
        let output = std::process::Command::new("xclip")
            .args(["-selection", "clipboard"])
            .args(args)
            .output()
            .unwrap();
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The real clipboard, read by another program while this one owns it. Needs an X
    /// display and xclip: `scripts/e2e-session.sh cargo test -p keyward-desktop --lib
    /// system_clipboard -- --ignored` (the E2E tests check it again through the app).
    #[test]
    #[ignore = "needs an X display and xclip"]
    fn system_clipboard_serves_the_copy_marked_for_no_history_then_clears_it_unless_replaced() {
        let events = Events::new();
        let recorder = Recorder::default();
        events.connect(recorder.clone());
        let clipboard = Clipboard::system(events);

        clipboard
            .copy(SecretString::from(KEY), Duration::from_secs(1))
            .unwrap();
        assert_eq!(
            xclip(&["-o"]).as_deref(),
            Some(KEY),
            "another program reads the copy"
        );
        let targets = xclip(&["-t", "TARGETS", "-o"]).unwrap_or_default();
        assert!(
            targets.contains("x-kde-passwordManagerHint"),
            "marked for no history: {targets}"
        );
        wait_for(|| !recorder.events().is_empty());
        assert_ne!(
            xclip(&["-o"]).as_deref(),
            Some(KEY),
            "cleared after the delay"
        );

        clipboard
            .copy(SecretString::from(KEY), Duration::from_secs(1))
            .unwrap();
        let mut other = std::process::Command::new("xclip")
            .args(["-selection", "clipboard", "-i", "-loops", "2"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut other.stdin.take().unwrap(), b"a shopping list").unwrap();
        other.wait().unwrap();
        wait_for(|| recorder.events().len() == 2);
        assert_eq!(
            recorder.events()[1],
            json!({ "event": "clipboard-cleared", "payload": { "reason": "overwritten" } })
        );
        assert_eq!(
            xclip(&["-o"]).as_deref(),
            Some("a shopping list"),
            "what the administrator copied stays"
        );
    }

    #[test]
    fn a_clipboard_that_cannot_open_is_an_error_and_is_tried_again() {
        let attempts = Arc::new(Mutex::new(0));
        let counter = Arc::clone(&attempts);
        let fake = FakeClipboard::default();
        let backend = fake.clone();
        let clipboard = Clipboard::spawn(Events::new(), move || {
            let mut attempts = counter.lock().unwrap();
            *attempts += 1;
            match *attempts {
                1 => Err("no display".to_string()),
                _ => Ok(Box::new(backend.clone()) as Box<dyn ClipboardBackend>),
            }
        });
        let error = clipboard
            .copy(SecretString::from(KEY), Duration::from_secs(5))
            .unwrap_err();
        assert_eq!(error, CommandError::Clipboard("no display".into()));
        clipboard
            .copy(SecretString::from(KEY), Duration::from_secs(5))
            .unwrap();
        assert_eq!(fake.text().as_deref(), Some(KEY));
    }
}
