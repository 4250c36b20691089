//! `keyward`: the command line over Keyward's vault, for scripting fleets and
//! for checking the project from outside. Exit codes: 0 done (and VALID),
//! 1 a verification that is not VALID, 2 bad input / not found / refused,
//! 3 a vault problem (missing, wrong passphrase, damaged).

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
        Failure { code: 2, message: message.into() }
    }

    pub fn vault(message: impl Into<String>) -> Failure {
        Failure { code: 3, message: message.into() }
    }

    /// A check that ran and said no (verification, audit verify).
    pub fn negative() -> Failure {
        Failure { code: 1, message: String::new() }
    }
}

impl From<keyward_core::Error> for Failure {
    fn from(err: keyward_core::Error) -> Failure {
        let code = if err.kind().is_vault_problem() { 3 } else { 2 };
        Failure { code, message: err.to_string() }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
            let code = if matches!(err.kind(), DisplayHelp | DisplayVersion) { 0 } else { 2 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("keyward: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}
