//! Sync tokens: 256 random bits in Keyward's key format with the `kwsync`
//! prefix (so a leaked token is recognisable and a typo is caught), shown once;
//! the store keeps only the SHA-256 and the hint.

use keyward_model::{key_format, SecretString};

use crate::store::{Result, Store, StoreError, TokenInfo};

pub const TOKEN_PREFIX: &str = "kwsync";

pub struct NewToken {
    pub info: TokenInfo,
    pub token: SecretString,
}

/// A token for one desktop of `account_name` (`label` says which).
pub async fn create(store: &dyn Store, account_name: &str, label: &str) -> Result<NewToken> {
    let generated =
        key_format::generate(TOKEN_PREFIX).map_err(|err| StoreError::Storage(err.to_string()))?;
    let info = store
        .create_token(account_name, label, &generated.verifier, &generated.hint)
        .await?;
    Ok(NewToken {
        info,
        token: generated.secret,
    })
}
