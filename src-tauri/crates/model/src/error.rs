//! What breaking a rule reports: bad input, or a request a rule refuses.
//! Messages say what to do instead and never hold a secret.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input is not acceptable as typed (a name too long, an unknown method…).
    #[error("{0}")]
    InvalidInput(String),
    /// Well formed, but a rule refuses it (allow-unbind on a READ key).
    #[error("{0}")]
    Refused(String),
    /// The OS random generator failed.
    #[error("the OS random generator failed: {0}")]
    Random(String),
}

impl Error {
    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::InvalidInput(message.into())
    }
}
