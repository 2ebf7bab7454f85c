//! Who signs in with OAuth: the client id, the OAuth service, and where the refresh token is.

use std::path::PathBuf;

use crate::secret::Secret;

/// Where the refresh token comes from.
#[derive(Clone, Debug)]
pub enum RefreshSource {
    /// A token file, read (and rewritten when rotated) under its lock.
    File(PathBuf),
    /// The token itself (`ANAPLAN_REFRESH_TOKEN`); a rotated one lives in memory only.
    Value(Secret),
}

/// OAuth device-grant credentials. `Debug` is derived: a token held here is a [`Secret`].
#[derive(Clone, Debug)]
pub struct OAuthCredentials {
    /// The OAuth client id (not a secret).
    pub client_id: String,
    /// The OAuth service's base URL.
    pub oauth_url: String,
    /// Where the refresh token is.
    pub source: RefreshSource,
}
