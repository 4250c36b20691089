//! The OS CSPRNG, the only source of randomness for keys, salts and secrets.

use crate::{Error, Result};

pub fn fill(buffer: &mut [u8]) -> Result<()> {
    getrandom::getrandom(buffer).map_err(|err| Error::Random(err.to_string()))
}
