//! The OS CSPRNG, the only source of randomness for keys, salts and secrets.

use crate::{Error, Result};

pub(crate) fn fill(buffer: &mut [u8]) -> Result<()> {
    getrandom::getrandom(buffer)
        .map_err(|err| Error::Storage(format!("the OS random generator failed: {err}")))
}
