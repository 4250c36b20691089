//! `keyward`: the command line over Keyward's vault, for scripting fleets and
//! for checking the project from outside. Exit codes: 0 done (and VALID),
//! 1 a verification that is not VALID, 2 bad input / not found / refused,
//! 3 a vault problem (missing, wrong passphrase, damaged), 4 the remote could
//! not be reached (the changes stay queued for the next sync).

mod args;
mod commands;
mod output;
mod unlock;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;

/// A failed command: the message for stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn input(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    pub fn vault(message: impl Into<String>) -> Failure {
        Failure {
            code: 3,
            message: message.into(),
        }
    }

    /// The remote could not be reached; nothing was lost.
    pub fn unreachable(message: impl Into<String>) -> Failure {
        Failure {
            code: 4,
            message: message.into(),
        }
    }

    /// A check that ran and said no (verification, audit verify).
    pub fn negative() -> Failure {
        Failure {
            code: 1,
            message: String::new(),
        }
    }
}

impl From<keyward_core::Error> for Failure {
    fn from(err: keyward_core::Error) -> Failure {
        let code = if err.kind().is_vault_problem() { 3 } else { 2 };
        let mut message = err.to_string();
        // The core's messages are worded for every front end; add the command here.
        match &err {
            keyward_core::Error::KeyLimitReached { account, .. } => {
                message.push_str(&format!(" (keyward account set {account:?} --key-limit N)"));
            }
            keyward_core::Error::GroupInUse { .. } => message.push_str(" with --force"),
            keyward_core::Error::NotFound {
                what: "remote of account",
                ..
            } => message.push_str(" — set one with `keyward remote set URL`"),
            keyward_core::Error::VaultMissing(_) => {
                message.push_str(" — create one with `keyward init`, or pass --vault PATH")
            }
            keyward_core::Error::AccountNeeded => message.push_str(" with --account NAME"),
            keyward_core::Error::PlainHttpRefused { .. } => message.push_str(" (--insecure)"),
            _ => {}
        }
        Failure { code, message }
    }
}

impl From<keyward_core::RuleError> for Failure {
    fn from(err: keyward_core::RuleError) -> Failure {
        Failure::from(keyward_core::Error::from(err))
    }
}

/// clap's error as one line, without echoing anything that looks like a key
/// (a key pasted as an argument by mistake must not reach stderr).
fn usage_error(err: &clap::Error) -> String {
    let rendered = err.to_string();
    let message: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .filter(|line| !line.is_empty() && !line.starts_with("tip:"))
        .collect();
    let joined = message.join(" ");
    let first = joined.strip_prefix("error: ").unwrap_or(&joined);
    keyward_core::key_format::redact(&format!("{first} — see `keyward --help`"))
}

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`keyward key list | head -1`) instead of failing on a broken pipe.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
            if matches!(err.kind(), DisplayHelp | DisplayVersion) {
                let _ = err.print();
                return ExitCode::SUCCESS;
            }
            eprintln!("keyward: {}", usage_error(&err));
            return ExitCode::from(2);
        }
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                // Whatever a message repeats of what was typed, never a key.
                eprintln!(
                    "keyward: {}",
                    keyward_core::key_format::redact(&failure.message)
                );
            }
            ExitCode::from(failure.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn usage_errors_are_one_line_and_never_echo_a_key() {
        let key = "kw_4Xh2mG7Zq9LbT0cVw3NrYp8sKd1FjAe6HuQoIzB5Cn2Ld8Pq";
        let err = Cli::try_parse_from(["keyward", "key", "verify", key]).unwrap_err();
        let line = usage_error(&err);
        assert!(!line.contains(&key[3..]), "{line}");
        assert!(!line.contains('\n'));
        assert!(line.contains("<redacted>"));
    }
}
