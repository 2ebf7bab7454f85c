//! The one rule for every local file the tool writes (the Parquet output, `--keep-csv`,
//! manifests, `generate`'s CSV) and for its own temporary files (spools).
//!
//! What an output path names decides how it is written ([`LocalOutput::open`]):
//!
//! | at the path | how it is written |
//! |---|---|
//! | nothing, or a regular file | a temporary file beside it, renamed over it when complete |
//! | a symlink (or a chain of them) | its final target, as above; the link itself stays |
//! | a character device or a FIFO | directly: no temporary file, no rename (`-o /dev/null`) |
//! | a directory, socket, block device | refused, before anything is written (exit 6) |
//!
//! Two paths are the same file ([`same_file`]) when they have the same device and inode (so
//! `./x` and `/abs/x`, a symlink and its target, two hard links all match) or, when neither
//! exists yet, when they resolve to the same directory and name. A character device is a
//! stream, not a file whose content could be lost, so it is never "the same file".
//!
//! Temporary files carry the tool's mark in their names (`.NAME.anaplan-parquet-XXXXXX.partial`
//! beside an output, `anaplan-parquet-spool.XXXXXX` in the temporary directory) and are
//! locked (`flock`) for as long as their run holds them. A run that was killed (SIGKILL, power
//! loss) cannot remove its own; the next run that makes a temporary file in the same
//! directory removes every marked file that nobody holds and that is older than
//! [`STALE_AFTER`], and nothing else.

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{DestinationError, DestinationErrorKind, Error, Result};

/// Between a temporary file's creation and its lock there is a moment when it is unlocked:
/// a file this recent is never removed, even when nobody holds it.
pub(crate) const STALE_AFTER: Duration = Duration::from_mins(1);
/// Marks a temporary file beside an output: `.NAME` + this + 6 random characters + `.partial`.
const OUTPUT_MARK: &str = ".anaplan-parquet-";
const OUTPUT_SUFFIX: &str = ".partial";
/// Names a spool file in the temporary directory: this + 6 random characters.
const SPOOL_PREFIX: &str = "anaplan-parquet-spool.";
/// Random characters `tempfile` puts in a name.
const RANDOM_LEN: usize = 6;
/// Symlinks followed before giving up (as the kernel's `ELOOP`).
const MAX_LINKS: usize = 40;

/// What an output path names, and so how it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LocalTarget {
    /// Nothing, or a regular file, at this path (the end of any symlinks): replaced atomically.
    Replace(PathBuf),
    /// A character device or a FIFO: written directly.
    Through(PathBuf, Stream),
}

/// The kinds of file written through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    CharDevice,
    Fifo,
}

/// Decides how `path` is written (see the module's table). Only a directory, socket or block
/// device (or a symlink to one, or a loop of links) is refused, naming the path.
pub(crate) fn resolve(path: &Path) -> Result<LocalTarget> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(LocalTarget::Replace(path.to_path_buf()));
        }
        Err(e) => return Err(cannot_write(path, e)),
    };
    if meta.file_type().is_symlink() {
        // `stat` follows every kind of link, the kernel's magic ones too (/dev/stdout).
        match std::fs::metadata(path) {
            Ok(target) => {
                if let Some(stream) = stream_kind(&target) {
                    return Ok(LocalTarget::Through(path.to_path_buf(), stream));
                }
                if !target.is_file() {
                    return Err(refused(
                        path,
                        &format!("a symlink to {}", kind_name(&target)),
                    ));
                }
            }
            // A link to nothing: its target is created, as a shell's `>` would.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(cannot_write(path, e)),
        }
        return Ok(LocalTarget::Replace(follow_links(path)?));
    }
    if meta.is_file() {
        return Ok(LocalTarget::Replace(path.to_path_buf()));
    }
    match stream_kind(&meta) {
        Some(stream) => Ok(LocalTarget::Through(path.to_path_buf(), stream)),
        None => Err(refused(path, kind_name(&meta))),
    }
}

/// The end of the chain of symlinks starting at `path` (which may not exist).
fn follow_links(path: &Path) -> Result<PathBuf> {
    let mut at = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                let next = std::fs::read_link(&at).map_err(|e| cannot_write(path, e))?;
                // A relative link is relative to the directory it is in.
                at = parent_dir(&at).join(next);
            }
            _ => return Ok(at),
        }
    }
    Err(refused(path, "a loop of symlinks"))
}

fn stream_kind(meta: &Metadata) -> Option<Stream> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_char_device() {
            return Some(Stream::CharDevice);
        }
        if t.is_fifo() {
            return Some(Stream::Fifo);
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    None
}

fn kind_name(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symlink"
    } else {
        "neither a regular file nor a device"
    }
}

fn refused(path: &Path, what: &str) -> Error {
    let shown = path.display().to_string();
    DestinationError::new(
        DestinationErrorKind::Io,
        shown.clone(),
        format!(
            "cannot write {shown}: it is {what}; an output must be a regular file (replaced), a \
             symlink to one (its target replaced), a character device or a FIFO (written to)"
        ),
    )
    .into()
}

fn cannot_write(path: &Path, e: io::Error) -> Error {
    let shown = path.display().to_string();
    let message = format!("cannot write {shown}: {e}");
    DestinationError::io(shown, message, e).into()
}

/// The directory `path` is in (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

// ---- identity ---------------------------------------------------------------------------------

/// True when `a` and `b` name the same file (see the module's notes); a character device
/// never does.
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(ma), Ok(mb)) => same_inode(&ma, &mb) && stream_kind(&ma) != Some(Stream::CharDevice),
        (Err(_), Err(_)) => match (where_it_would_be(a), where_it_would_be(b)) {
            (Some(pa), Some(pb)) => pa == pb,
            _ => false,
        },
        // One exists and the other does not.
        _ => false,
    }
}

#[cfg(unix)]
fn same_inode(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_inode(_: &Metadata, _: &Metadata) -> bool {
    false
}

/// Where a file that does not exist yet would be created: its link's end, in its canonical
/// directory.
fn where_it_would_be(path: &Path) -> Option<PathBuf> {
    let end = follow_links(path).ok()?;
    let dir = std::fs::canonicalize(parent_dir(&end)).ok()?;
    Some(dir.join(end.file_name()?))
}

// ---- writing ----------------------------------------------------------------------------------

/// An output file open for writing by the rule: the file to write to, and how to publish it.
#[derive(Debug)]
pub(crate) struct LocalOutput {
    pub(crate) file: File,
    pub(crate) pending: Pending,
}

/// What remains after writing: renaming the temporary file into place, or nothing (written
/// through). Dropped uncommitted, it removes the temporary file.
#[derive(Debug)]
pub(crate) struct Pending {
    /// `None` when written through, or once committed or discarded.
    temp: Option<tempfile::TempPath>,
    /// Where the file ends up (the end of any symlinks).
    target: PathBuf,
    stream: Option<Stream>,
    /// Directories to create, outermost first, just before the rename.
    new_dirs: Vec<PathBuf>,
}

impl LocalOutput {
    /// Opens `path` for writing (see the module's table). With `create_dirs`, missing
    /// directories on the way to `path` are created only by [`Pending::commit`], and the
    /// temporary file waits in the nearest existing one: a failed run leaves no new, empty
    /// directory behind. Opening a FIFO waits for its reader.
    pub(crate) fn open(path: &Path, create_dirs: bool) -> Result<LocalOutput> {
        match resolve(path)? {
            LocalTarget::Through(device, stream) => {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&device)
                    .map_err(|e| cannot_write(path, e))?;
                Ok(LocalOutput {
                    file,
                    pending: Pending {
                        temp: None,
                        target: device,
                        stream: Some(stream),
                        new_dirs: Vec::new(),
                    },
                })
            }
            LocalTarget::Replace(target) => {
                let mut dir = parent_dir(&target);
                let mut new_dirs = Vec::new();
                if create_dirs {
                    while !dir.is_dir() && !dir.exists() {
                        new_dirs.push(dir.clone());
                        dir = parent_dir(&dir);
                        if new_dirs.len() > MAX_LINKS {
                            break;
                        }
                    }
                    new_dirs.reverse();
                }
                let name = target
                    .file_name()
                    .map_or_else(|| "output".into(), OsStr::to_string_lossy);
                let tmp = temp_file_in(&dir, &format!(".{name}{OUTPUT_MARK}"), OUTPUT_SUFFIX)
                    .map_err(|e| cannot_write(path, e))?;
                let (file, temp) = tmp.into_parts();
                Ok(LocalOutput {
                    file,
                    pending: Pending {
                        temp: Some(temp),
                        target,
                        stream: None,
                        new_dirs,
                    },
                })
            }
        }
    }
}

impl Pending {
    /// The file the bytes go to in the end.
    pub(crate) fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary file, while there is one.
    pub(crate) fn temp(&self) -> Option<&Path> {
        self.temp.as_deref()
    }

    /// The device or FIFO written through, if that is what it is.
    pub(crate) fn stream(&self) -> Option<Stream> {
        self.stream
    }

    /// Makes the bytes written durable: `fsync` for a file (a device or FIFO has nothing to
    /// sync).
    pub(crate) fn sync(&self, file: &File) -> io::Result<()> {
        match self.stream {
            Some(_) => Ok(()),
            None => file.sync_all(),
        }
    }

    /// Publishes the file: renames the temporary file over the target (with `no_clobber`,
    /// only when nothing is there: else an `AlreadyExists` error), creating the directories
    /// it waited for. Written through, there is nothing to do. On error the temporary file
    /// and the directories are removed.
    pub(crate) fn commit(&mut self, no_clobber: bool) -> io::Result<()> {
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
        for dir in &self.new_dirs {
            if let Err(e) = std::fs::create_dir(dir)
                && e.kind() != io::ErrorKind::AlreadyExists
            {
                drop(temp);
                self.remove_new_dirs();
                return Err(e);
            }
        }
        let persisted = if no_clobber {
            temp.persist_noclobber(&self.target)
        } else {
            temp.persist(&self.target)
        };
        if let Err(e) = persisted {
            drop(e.path);
            self.remove_new_dirs();
            return Err(e.error);
        }
        self.new_dirs.clear();
        sync_parent(&self.target);
        Ok(())
    }

    /// Removes the temporary file (written through, the bytes already went out).
    pub(crate) fn discard(&mut self) -> io::Result<()> {
        match self.temp.take() {
            Some(temp) => temp.close(),
            None => Ok(()),
        }
    }

    /// Removes the directories this output created, innermost first, if still empty (another
    /// run may be using them).
    fn remove_new_dirs(&mut self) {
        for dir in self.new_dirs.drain(..).rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Makes a rename durable (best effort; not supported everywhere).
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(parent_dir(path)) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = path;
}

// ---- the tool's own temporary files -----------------------------------------------------------

/// A spool file in `dir` (the temporary directory), private (0600), locked.
pub(crate) fn spool_file(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    sweep(dir);
    let tmp = tempfile::Builder::new()
        .prefix(SPOOL_PREFIX)
        .rand_bytes(RANDOM_LEN)
        .tempfile_in(dir)?;
    lock(tmp.as_file());
    Ok(tmp)
}

/// A marked, locked temporary file in `dir`, after removing stale ones there.
///
/// `tempfile` creates files with mode 0600; an output is created 0666 less the umask, as any
/// other program's output would be, so that the readers of a shared directory can open it.
fn temp_file_in(dir: &Path, prefix: &str, suffix: &str) -> io::Result<tempfile::NamedTempFile> {
    sweep(dir);
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(suffix).rand_bytes(RANDOM_LEN);
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let tmp = builder.tempfile_in(dir)?;
    lock(tmp.as_file());
    Ok(tmp)
}

/// Holds an exclusive lock on a temporary file for as long as it is open. Where the file
/// system has no locks, the file is simply never removed by another run.
fn lock(file: &File) {
    if let Err(e) = file.try_lock() {
        tracing::debug!(error = %e, "cannot lock a temporary file");
    }
}

/// True for the names this module gives temporary files, and no other.
fn is_marked(name: &str) -> bool {
    let random_ok = |s: &str| s.len() == RANDOM_LEN && s.chars().all(|c| c.is_ascii_alphanumeric());
    if let Some(rest) = name.strip_prefix(SPOOL_PREFIX) {
        return random_ok(rest);
    }
    let Some(rest) = name.strip_suffix(OUTPUT_SUFFIX) else {
        return false;
    };
    match rest.rsplit_once(OUTPUT_MARK) {
        Some((before, random)) => before.len() > 1 && name.starts_with('.') && random_ok(random),
        None => false,
    }
}

/// Removes the temporary files a killed run left in `dir`: marked names only, regular files
/// only, older than [`STALE_AFTER`], and only those whose lock can be taken (nobody holds
/// them). Best effort: a failure only leaves a file where it was.
fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_marked) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if !meta.is_file() || !old {
            continue;
        }
        let Ok(file) = File::open(&path) else {
            continue;
        };
        if file.try_lock().is_ok() {
            // Still holding the lock, so no run can be writing it.
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::info!(path = %path.display(), "removed a stale temporary file"),
                Err(e) => tracing::debug!(path = %path.display(), error = %e, "cannot remove"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_names_are_marked() {
        for (name, ours) in [
            (".out.parquet.anaplan-parquet-aB3dE9.partial", true),
            (".x.anaplan-parquet-000000.partial", true),
            ("anaplan-parquet-spool.Zz09aQ", true),
            (".out.parquet.aB3dE9.partial", false),
            (".anaplan-parquet-aB3dE9.partial", false),
            ("out.parquet.anaplan-parquet-aB3dE9.partial", false),
            (".out.parquet.anaplan-parquet-aB3dE.partial", false),
            (".out.parquet.anaplan-parquet-aB3-E9.partial", false),
            ("anaplan-parquet-spool.Zz09aQ.csv", false),
            ("anaplan-parquet-spool.", false),
            ("out.parquet", false),
        ] {
            assert_eq!(is_marked(name), ours, "{name}");
        }
    }

    #[test]
    fn paths_resolve_to_what_they_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let missing = dir.path().join("missing");
        assert_eq!(resolve(&file).unwrap(), LocalTarget::Replace(file.clone()));
        assert_eq!(
            resolve(&missing).unwrap(),
            LocalTarget::Replace(missing.clone())
        );
        #[cfg(unix)]
        {
            let link = dir.path().join("link");
            let link2 = dir.path().join("link2");
            std::os::unix::fs::symlink("f", &link).unwrap();
            std::os::unix::fs::symlink(&link, &link2).unwrap();
            assert_eq!(resolve(&link2).unwrap(), LocalTarget::Replace(file.clone()));
            let dangling = dir.path().join("dangling");
            std::os::unix::fs::symlink("missing", &dangling).unwrap();
            assert_eq!(resolve(&dangling).unwrap(), LocalTarget::Replace(missing));
            let to_dir = dir.path().join("to_dir");
            std::os::unix::fs::symlink(dir.path(), &to_dir).unwrap();
            let e = resolve(&to_dir).unwrap_err().to_string();
            assert!(e.contains("a symlink to a directory"), "{e}");
            let a = dir.path().join("a");
            std::os::unix::fs::symlink("b", &a).unwrap();
            std::os::unix::fs::symlink("a", dir.path().join("b")).unwrap();
            assert!(resolve(&a).is_err());
        }
        let e = resolve(dir.path()).unwrap_err();
        assert_eq!(e.exit_class().code(), 6);
        assert!(e.to_string().contains("it is a directory"), "{e}");
    }

    #[test]
    fn identity_is_the_file_not_the_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.csv");
        std::fs::write(&file, b"x").unwrap();
        let dotted = dir.path().join(".").join("f.csv");
        assert!(same_file(&file, &dotted));
        let hard = dir.path().join("hard.csv");
        std::fs::hard_link(&file, &hard).unwrap();
        assert!(same_file(&file, &hard));
        assert!(!same_file(&file, &dir.path().join("other.csv")));
        let missing = dir.path().join("new.parquet");
        assert!(same_file(
            &missing,
            &dir.path().join(".").join("new.parquet")
        ));
        assert!(!same_file(&missing, &dir.path().join("new2.parquet")));
    }

    #[test]
    fn a_stale_unlocked_temporary_file_is_swept_and_a_held_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - Duration::from_hours(1);
        let stale = dir.path().join(".o.parquet.anaplan-parquet-abcdef.partial");
        let foreign = dir.path().join(".o.parquet.abcdef.partial");
        for p in [&stale, &foreign] {
            let f = File::create(p).unwrap();
            f.set_modified(old).unwrap();
        }
        // A file a live run holds.
        let held = temp_file_in(dir.path(), ".h.anaplan-parquet-", ".partial").unwrap();
        held.as_file().set_modified(old).unwrap();
        let fresh = temp_file_in(dir.path(), ".n.anaplan-parquet-", ".partial").unwrap();
        assert!(!stale.exists());
        assert!(foreign.exists());
        assert!(held.path().exists());
        assert!(fresh.path().exists());
    }
}
