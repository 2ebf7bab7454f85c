//! The token file: where a refresh token lives between runs, and the rules that keep it.
//!
//! - **Format**: JSON `{"client_id", "refresh_token", "saved_at"}` as `login` writes it, or a
//!   bare token (the first line of the file, e.g. a mounted secret). A rotated token is
//!   written back in the format it was read in.
//! - **Private**: created 0600 (its folder 0700 when `login` creates it). A file that group or
//!   others can access is refused, as a jobs file holding a password is.
//! - **Replaced atomically**: a new token goes to a temporary file beside the old one (same
//!   mode), is flushed to disk, and renamed over it; the folder is then synced. A crash at any
//!   point leaves either the old file or the new one, whole.
//! - **One refresher at a time**: refreshing holds an exclusive `flock` on a lock file beside
//!   it (`NAME.lock`), and reads the token only once it holds the lock, so a process that
//!   waited uses the token the other one just saved. The lock is on a separate file because
//!   the token file itself is replaced by rename: a lock on it would stay on the old inode.
//!   Where the lock file cannot be created (a read-only folder), refreshing goes on unlocked.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::secret::Secret;

/// A refresh token read from a token file.
#[derive(Clone, Debug)]
pub(crate) struct StoredToken {
    /// The client the token was issued to (`None` for a bare token).
    pub client_id: Option<String>,
    pub refresh_token: Secret,
    /// Read from a bare token file (written back bare).
    pub bare: bool,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct FileJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    refresh_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    saved_at: Option<String>,
}

/// The default token file of a client: `$XDG_CONFIG_HOME/anaplan-parquet/oauth-ID.json`, else
/// `~/.config/anaplan-parquet/oauth-ID.json`.
pub fn default_path(client_id: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf> {
    let base = match (env("XDG_CONFIG_HOME"), env("HOME")) {
        (Some(x), _) if Path::new(&x).is_absolute() => PathBuf::from(x),
        (_, Some(home)) => Path::new(&home).join(".config"),
        _ => {
            return Err(Error::usage(
                "no place for the token file: set --token-file (or HOME or XDG_CONFIG_HOME)",
            ));
        }
    };
    let safe: String = client_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(base
        .join("anaplan-parquet")
        .join(format!("oauth-{safe}.json")))
}

/// Refuses a token file that group or others can access.
fn check_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            let mode = m.permissions().mode() & 0o777;
            #[allow(clippy::verbose_bit_mask)] // "no bit for group or others" reads best as a mask
            if mode & 0o077 != 0 {
                return Err(Error::usage(format!(
                    "the token file {} can be read by other users of this machine (mode {mode:o}): \
                     `chmod 600` it",
                    path.display()
                )));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Reads a token file (refusing one others can read). A missing file says to run `login`.
pub(crate) fn read(path: &Path, client_id: &str) -> Result<StoredToken> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::usage(format!(
                "no refresh token at {}: run `anaplan-parquet login --oauth-client-id {client_id}` \
                 first (or set --token-file or ANAPLAN_REFRESH_TOKEN)",
                path.display()
            )));
        }
        Err(e) => {
            return Err(Error::usage(format!(
                "cannot read the token file {}: {e}",
                path.display()
            )));
        }
    };
    check_private(path)?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        // Never quote the file in a message: it holds the token.
        let parsed: FileJson = serde_json::from_str(trimmed).map_err(|e| {
            Error::usage(format!(
                "the token file {} is not a token file (JSON error at line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        if parsed.refresh_token.is_empty() {
            return Err(empty(path, client_id));
        }
        return Ok(StoredToken {
            client_id: parsed.client_id,
            refresh_token: Secret::new(parsed.refresh_token),
            bare: false,
        });
    }
    let line = text.lines().next().unwrap_or_default().trim();
    if line.is_empty() {
        return Err(empty(path, client_id));
    }
    Ok(StoredToken {
        client_id: None,
        refresh_token: Secret::new(line),
        bare: true,
    })
}

fn empty(path: &Path, client_id: &str) -> Error {
    Error::usage(format!(
        "the token file {} holds no refresh token: run `anaplan-parquet login --oauth-client-id \
         {client_id}`",
        path.display()
    ))
}

/// Writes `token` to `path` atomically: a private temporary file beside it (the old file's
/// mode, else 0600), synced, renamed over it, then the folder synced.
pub(crate) fn write(path: &Path, client_id: &str, token: &Secret, bare: bool) -> Result<()> {
    let fail = |e: std::io::Error| {
        Error::local_io(
            format!("cannot save the refresh token to {}", path.display()),
            e,
        )
    };
    let dir = crate::local_file::parent_dir(path);
    let text = if bare {
        format!("{}\n", token.expose())
    } else {
        let json = FileJson {
            client_id: Some(client_id.to_owned()),
            refresh_token: token.expose().to_owned(),
            saved_at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        };
        let mut s = serde_json::to_string_pretty(&json)
            .map_err(|e| Error::Internal(format!("cannot encode the token file: {e}")))?;
        s.push('\n');
        s
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".anaplan-parquet-token.").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_or(0o600, |m| m.permissions().mode() & 0o600);
        builder.permissions(std::fs::Permissions::from_mode(mode.max(0o400)));
    }
    let mut tmp = builder.tempfile_in(&dir).map_err(fail)?;
    tmp.write_all(text.as_bytes()).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Creates the folder of a token file (0700) when missing.
pub(crate) fn create_dir(path: &Path) -> Result<()> {
    let dir = crate::local_file::parent_dir(path);
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&dir)
        .map_err(|e| Error::local_io(format!("cannot create {}", dir.display()), e))
}

/// The lock file beside a token file.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

/// Takes the token file's lock (waiting for another process to finish refreshing). `None`
/// where the lock file cannot be made (a read-only folder): refreshing goes on unlocked.
pub(crate) async fn lock(path: &Path) -> Option<File> {
    let lock = lock_path(path);
    let taken = tokio::task::spawn_blocking(move || -> std::io::Result<File> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&lock)?;
        file.lock()?;
        Ok(file)
    })
    .await;
    match taken {
        Ok(Ok(file)) => Some(file),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "cannot lock the token file; refreshing without the lock");
            None
        }
        Err(e) => {
            tracing::debug!(error = %e, "cannot lock the token file; refreshing without the lock");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_private_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("t.json");
        create_dir(&path).unwrap();
        write(&path, "cid", &Secret::new("r1"), false).unwrap();
        let t = read(&path, "cid").unwrap();
        assert_eq!(t.refresh_token.expose(), "r1");
        assert_eq!(t.client_id.as_deref(), Some("cid"));
        write(&path, "cid", &Secret::new("r2"), false).unwrap();
        assert_eq!(read(&path, "cid").unwrap().refresh_token.expose(), "r2");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dir_mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(dir_mode, 0o700);
        }
        // Nothing but the token file is left beside it.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn bare_tokens_stay_bare_and_readable_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "bare-token-value\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = read(&path, "cid").unwrap_err().to_string();
            assert!(
                e.contains("chmod 600") && !e.contains("bare-token-value"),
                "{e}"
            );
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let t = read(&path, "cid").unwrap();
        assert!(t.bare && t.client_id.is_none());
        write(&path, "cid", &Secret::new("next"), true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "next\n");
        let missing = read(&dir.path().join("nope"), "cid")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("login --oauth-client-id cid"), "{missing}");
        std::fs::write(&path, "{\"refresh_token\": \"abc\"").unwrap();
        let bad = read(&path, "cid").unwrap_err().to_string();
        assert!(!bad.contains("abc"), "{bad}");
    }

    #[test]
    fn default_path_follows_xdg() {
        let env = |k: &str| match k {
            "XDG_CONFIG_HOME" => Some("/x/cfg".to_owned()),
            "HOME" => Some("/home/u".to_owned()),
            _ => None,
        };
        assert_eq!(
            default_path("ab/c", &env).unwrap(),
            Path::new("/x/cfg/anaplan-parquet/oauth-ab_c.json")
        );
        let home = |k: &str| (k == "HOME").then(|| "/home/u".to_owned());
        assert_eq!(
            default_path("abc", &home).unwrap(),
            Path::new("/home/u/.config/anaplan-parquet/oauth-abc.json")
        );
    }
}
