//! The app's log file, `keyward.log` in the platform's log directory (on Linux
//! `~/.local/share/dev.keyward.desktop/logs`): what happened to the session — start, unlock,
//! lock and why, refused commands, the desktop's signals — for an administrator or support to
//! read. Every line passes the CLI's redaction (`keyward_core::redact`), and nothing secret is
//! ever handed to it: no argument of a command is logged. The file is rotated when it passes
//! `MAX_BYTES` (`keyward.log.1` … `.3` kept). Until `open` is called (and in unit tests that
//! do not call it) lines go nowhere.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub const FILE_NAME: &str = "keyward.log";
const MAX_BYTES: u64 = 1024 * 1024;
const KEEP: usize = 3;

struct LogFile {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
}

static LOG: OnceLock<Mutex<LogFile>> = OnceLock::new();

/// Opens (creating, owner-only) `dir/keyward.log` for the rest of the process.
pub fn open(dir: &Path) -> std::io::Result<PathBuf> {
    open_with_limit(dir, MAX_BYTES)
}

fn open_with_limit(dir: &Path, max_bytes: u64) -> std::io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let path = dir.join(FILE_NAME);
    let log = LogFile::open(path.clone(), max_bytes)?;
    // A second call (tests) keeps the first file.
    let _ = LOG.set(Mutex::new(log));
    Ok(path)
}

impl LogFile {
    fn open(path: PathBuf, max_bytes: u64) -> std::io::Result<LogFile> {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path)?;
        let written = file.metadata()?.len();
        Ok(LogFile {
            path,
            file,
            written,
            max_bytes,
        })
    }

    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        if self.written + line.len() as u64 > self.max_bytes && self.written > 0 {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.written += line.len() as u64;
        Ok(())
    }

    /// keyward.log → .1 → .2 → .3; the oldest falls off.
    fn rotate(&mut self) -> std::io::Result<()> {
        for n in (1..KEEP).rev() {
            let from = rotated(&self.path, n);
            if from.exists() {
                fs::rename(&from, rotated(&self.path, n + 1))?;
            }
        }
        fs::rename(&self.path, rotated(&self.path, 1))?;
        *self = LogFile::open(self.path.clone(), self.max_bytes)?;
        Ok(())
    }
}

fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn write(level: &str, message: &str) {
    let Some(log) = LOG.get() else {
        return;
    };
    let at = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    let message = keyward_core::key_format::redact(message).replace('\n', " ");
    let line = format!("{at} {level} {message}\n");
    let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
    // A log that cannot be written must not stop the app.
    let _ = log.write_line(&line);
}

pub fn info(message: &str) {
    write("INFO", message);
}

pub fn warn(message: &str) {
    write("WARN", message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_is_rotated_keeping_three_and_lines_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let mut log = LogFile::open(path.clone(), 100).unwrap();
        for n in 0..20 {
            log.write_line(&format!("line {n:02} of forty bytes or so......\n"))
                .unwrap();
        }
        let names: Vec<bool> = (1..=4).map(|n| rotated(&path, n).exists()).collect();
        assert_eq!(names, [true, true, true, false], "three old files kept");
        assert!(fs::metadata(&path).unwrap().len() <= 100);
        let newest = fs::read_to_string(&path).unwrap();
        assert!(
            newest.ends_with("line 19 of forty bytes or so......\n"),
            "{newest}"
        );

        // The process-wide log: redacted, one line per message.
        let opened = open_with_limit(dir.path(), MAX_BYTES).unwrap();
        warn("refused kw_4Xh2mG7Zq9LbT0cVw3NrYp8sKd1FjAe6HuQoIzB5Cn2Ld8Pq\nsecond line");
        let text = fs::read_to_string(opened).unwrap();
        let last = text.lines().last().unwrap();
        assert!(
            last.ends_with(" WARN refused <redacted> second line"),
            "{last}"
        );
    }
}
