//! The simulator's OAuth 2.0 settings: the registered device-grant clients and how the OAuth
//! service behaves (device-code lifetime, poll interval, `slow_down`, refresh-token rotation and
//! lifetimes), from code, the `simulator` flags or the `[oauth]` table of a TOML config:
//!
//! ```toml
//! [oauth]
//! device_code_ttl = "15m"      # expires_in of a device code (live: 900 s)
//! interval = "5s"              # poll interval the device-code answer asks for (live: 5 s)
//! pending_status = 400         # HTTP status of authorization_pending / slow_down (400 or 403)
//! enforce_interval = false     # slow_down to a client polling faster than the interval
//! slow_down_polls = 0          # answer the first N polls of each code with slow_down
//! echo_non_rotatable = true    # a non-rotatable refresh repeats refresh_token (else omits it)
//! rotation_grace = "0s"        # how long a rotated refresh token still works (0: never again)
//! access_token_ttl = "35m"     # default: the tenant's token_ttl (a token-ttl fault wins)
//!
//! [[oauth.clients]]
//! client_id = "0123456789abcdef0123456789abcdef"
//! approve = "after=2"          # "after=N" polls, "deny", or "manual" (tests approve by handle)
//! rotatable = true             # new refresh token on every refresh; the old one is refused
//! refresh_token_ttl = "43000s" # rotatable default 43,000 s; non-rotatable never expires
//! user = "demo@example.com"    # who approves codes (default: the first user with a password)
//! ```

use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::units::parse_duration;

/// The default lifetime of rotatable refresh tokens: 43,000 s, Anaplan's documented default.
pub const DEFAULT_ROTATABLE_REFRESH_TTL: Duration = Duration::from_secs(43_000);

/// How the simulated user answers a device code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approval {
    /// Approved once this many polls got `authorization_pending` (the default is 2).
    AfterPolls(u32),
    /// Refused: the next poll gets `access_denied`.
    Deny,
    /// Never by itself: a test approves with
    /// [`SimulatorHandle::approve_device_code`](crate::simulator::SimulatorHandle::approve_device_code).
    Manual,
}

impl std::str::FromStr for Approval {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "deny" => Ok(Approval::Deny),
            "manual" => Ok(Approval::Manual),
            other => match other.strip_prefix("after=").map(str::parse::<u32>) {
                Some(Ok(n)) => Ok(Approval::AfterPolls(n)),
                _ => Err(Error::usage(format!(
                    "approve {other:?}: expected deny, manual or after=N"
                ))),
            },
        }
    }
}

/// A registered device-grant client.
#[derive(Clone, Debug)]
pub struct OAuthClientConfig {
    /// The client id (live ones are 32 lowercase hex digits; any text without spaces works).
    pub client_id: String,
    /// How device codes are answered.
    pub approve: Approval,
    /// Rotatable refresh tokens (a new one on each refresh, the old one refused).
    pub rotatable: bool,
    /// Refresh-token lifetime; `None` never expires.
    pub refresh_token_ttl: Option<Duration>,
    /// The user who approves; `None`: the first user with a password.
    pub user: Option<String>,
}

impl OAuthClientConfig {
    /// A client approved after the second poll, with rotatable refresh tokens of the default
    /// lifetime.
    pub fn device(client_id: impl Into<String>) -> Self {
        OAuthClientConfig {
            client_id: client_id.into(),
            approve: Approval::AfterPolls(2),
            rotatable: true,
            refresh_token_ttl: Some(DEFAULT_ROTATABLE_REFRESH_TTL),
            user: None,
        }
    }

    /// The same client with non-rotatable refresh tokens (which never expire).
    #[must_use]
    pub fn non_rotatable(mut self) -> Self {
        self.rotatable = false;
        self.refresh_token_ttl = None;
        self
    }
}

/// The OAuth service's behaviour and clients.
#[derive(Clone, Debug)]
pub struct OAuthConfig {
    /// Registered clients (none: every OAuth call answers as for an unknown client).
    pub clients: Vec<OAuthClientConfig>,
    /// `expires_in` of device codes.
    pub device_code_ttl: Duration,
    /// `interval` of device codes (sent in seconds, fractional when under one).
    pub interval: Duration,
    /// Status of `authorization_pending` and `slow_down` (400 per RFC 8628; unconfirmed live).
    pub pending_status: u16,
    /// Answer `slow_down` to polls faster than the code's interval.
    pub enforce_interval: bool,
    /// Answer the first N polls of each code with `slow_down`.
    pub slow_down_polls: u32,
    /// A non-rotatable refresh answer repeats `refresh_token` (else leaves it out).
    pub echo_non_rotatable: bool,
    /// How long a rotated refresh token keeps working (zero: refused at once).
    pub rotation_grace: Duration,
    /// Lifetime of access tokens; `None`: the tenant's token lifetime.
    pub access_token_ttl: Option<Duration>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        OAuthConfig {
            clients: Vec::new(),
            device_code_ttl: Duration::from_mins(15),
            interval: Duration::from_secs(5),
            pending_status: 400,
            enforce_interval: false,
            slow_down_polls: 0,
            echo_non_rotatable: true,
            rotation_grace: Duration::ZERO,
            access_token_ttl: None,
        }
    }
}

impl OAuthConfig {
    /// The client with this id.
    pub fn client(&self, id: &str) -> Option<&OAuthClientConfig> {
        self.clients.iter().find(|c| c.client_id == id)
    }

    /// Checks ids, statuses and intervals.
    pub fn validate(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for c in &self.clients {
            if c.client_id.is_empty() || c.client_id.chars().any(char::is_whitespace) {
                return Err(Error::usage(format!(
                    "OAuth client id {:?} must be non-empty text without spaces",
                    c.client_id
                )));
            }
            if !seen.insert(c.client_id.as_str()) {
                return Err(Error::usage(format!(
                    "OAuth client {} is listed twice",
                    c.client_id
                )));
            }
        }
        if !(400..500).contains(&self.pending_status) {
            return Err(Error::usage("oauth.pending_status must be a 4xx status"));
        }
        Ok(())
    }
}

/// The `[oauth]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOAuth {
    device_code_ttl: Option<String>,
    interval: Option<String>,
    pending_status: Option<u16>,
    enforce_interval: Option<bool>,
    slow_down_polls: Option<u32>,
    echo_non_rotatable: Option<bool>,
    rotation_grace: Option<String>,
    access_token_ttl: Option<String>,
    #[serde(default)]
    clients: Vec<RawClient>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    client_id: String,
    approve: Option<String>,
    rotatable: Option<bool>,
    refresh_token_ttl: Option<String>,
    user: Option<String>,
}

fn duration(key: &str, text: &str) -> Result<Duration> {
    parse_duration(text).map_err(|e| Error::usage(format!("oauth.{key}: {e}")))
}

impl RawOAuth {
    /// The settings, defaults filled in.
    pub(crate) fn into_config(self) -> Result<OAuthConfig> {
        let mut c = OAuthConfig::default();
        if let Some(t) = &self.device_code_ttl {
            c.device_code_ttl = duration("device_code_ttl", t)?;
        }
        if let Some(t) = &self.interval {
            c.interval = duration("interval", t)?;
        }
        if let Some(s) = self.pending_status {
            c.pending_status = s;
        }
        c.enforce_interval = self.enforce_interval.unwrap_or(c.enforce_interval);
        c.slow_down_polls = self.slow_down_polls.unwrap_or(0);
        c.echo_non_rotatable = self.echo_non_rotatable.unwrap_or(c.echo_non_rotatable);
        if let Some(t) = &self.rotation_grace {
            c.rotation_grace = duration("rotation_grace", t)?;
        }
        if let Some(t) = &self.access_token_ttl {
            c.access_token_ttl = Some(duration("access_token_ttl", t)?);
        }
        for raw in self.clients {
            let mut client = OAuthClientConfig::device(raw.client_id);
            if let Some(a) = &raw.approve {
                client.approve = a.parse()?;
            }
            if raw.rotatable == Some(false) {
                client = client.non_rotatable();
            }
            if let Some(t) = &raw.refresh_token_ttl {
                client.refresh_token_ttl = Some(duration("clients.refresh_token_ttl", t)?);
            }
            client.user = raw.user;
            c.clients.push(client);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvals_parse() {
        assert_eq!("deny".parse::<Approval>().unwrap(), Approval::Deny);
        assert_eq!(
            "after=0".parse::<Approval>().unwrap(),
            Approval::AfterPolls(0)
        );
        assert_eq!("manual".parse::<Approval>().unwrap(), Approval::Manual);
        assert!("later".parse::<Approval>().is_err());
    }

    #[test]
    fn toml_table_reads_with_defaults() {
        let raw: RawOAuth = toml::from_str(
            "interval = \"1s\"\n[[clients]]\nclient_id = \"abc\"\napprove = \"deny\"\nrotatable = false\n",
        )
        .unwrap();
        let c = raw.into_config().unwrap();
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(c.device_code_ttl, Duration::from_mins(15));
        let client = c.client("abc").unwrap();
        assert_eq!(client.approve, Approval::Deny);
        assert!(!client.rotatable && client.refresh_token_ttl.is_none());
        c.validate().unwrap();
    }
}
