//! The OAuth service's live state: device codes waiting for approval, refresh tokens (with
//! their rotation and revocation), and a hold that parks refresh answers so a test can kill
//! a client between the server's rotation and the client's save.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// A device code handed out by `/oauth/device/code`.
#[derive(Clone, Debug)]
pub(crate) struct DeviceCode {
    pub client_id: String,
    pub user_code: String,
    pub expires_at: Instant,
    /// Polls so far.
    pub polls: u32,
    /// When the last poll came.
    pub last_poll: Option<Instant>,
    /// The interval the client must keep (raised by 5 s on each `slow_down`, RFC 8628).
    pub interval: Duration,
    /// Approved by the handle (manual approval).
    pub approved: bool,
    /// Tokens issued: the code is spent.
    pub used: bool,
}

/// A refresh token issued by the OAuth service.
#[derive(Clone, Debug)]
pub(crate) struct RefreshToken {
    pub client_id: String,
    pub username: String,
    pub expires_at: Option<SystemTime>,
    /// When it was replaced by a newer one (rotatable clients).
    pub rotated_at: Option<SystemTime>,
    pub revoked: bool,
}

/// Where a refresh answer is parked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshHold {
    /// Parked after the server rotated the token and before it answers: a client killed now
    /// never receives the new token.
    AfterRotation,
}

/// Everything the OAuth endpoints remember.
#[derive(Debug)]
pub(crate) struct OAuthState {
    /// By device code.
    pub device_codes: HashMap<String, DeviceCode>,
    /// By token value.
    pub refresh_tokens: HashMap<String, RefreshToken>,
    /// Access token values issued (they live in the tenant's token table).
    pub access_tokens: Vec<String>,
    pub counters: OAuthCounters,
    pub hold: Option<RefreshHold>,
    /// Bumped to let parked refresh answers go (a receiver made before the bump sees it).
    pub release: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for OAuthState {
    fn default() -> Self {
        OAuthState {
            device_codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: Vec::new(),
            counters: OAuthCounters::default(),
            hold: None,
            release: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }
}

/// What the OAuth service did, for tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OAuthCounters {
    /// Device codes handed out.
    pub device_codes: u64,
    /// Polls answered (any outcome).
    pub polls: u64,
    /// Polls that came sooner than the code's interval allowed.
    pub polls_too_fast: u64,
    /// `slow_down` answers.
    pub slow_downs: u64,
    /// Device codes exchanged for tokens.
    pub device_grants: u64,
    /// Successful refresh-token exchanges.
    pub refreshes: u64,
    /// Refresh exchanges refused (`invalid_grant`).
    pub refused_refreshes: u64,
    /// Refresh tokens replaced by a new one.
    pub rotations: u64,
    /// Revocation calls that revoked a token.
    pub revocations: u64,
    /// Refresh answers parked by the hold so far.
    pub held: u64,
}
