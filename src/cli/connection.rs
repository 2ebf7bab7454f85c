//! Connection options shared by every command that talks to Anaplan (URLs, credentials).
