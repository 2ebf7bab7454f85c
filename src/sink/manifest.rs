//! Manifests: a small JSON document kept with the data (next to the file in replace mode,
//! inside the dataset prefix in append mode), read and replaced whole. What it says is the
//! caller's business (`jobs`); this module only knows where it lives and how to store it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};

use super::dataset::list_parts;
use super::errors::store_error;
use super::local::dataset_store;
use super::options::WriteMode;
use super::{Destination, Target};
use crate::error::{DestinationError, Error, Result};
use crate::local_file::LocalOutput;

/// Name of the manifest inside an append-mode dataset prefix. It starts with `_`, so readers
/// (Spark, DuckDB globs on `*.parquet`) and the dataset check skip it.
const MANIFEST_NAME: &str = "_manifest.json";
/// Added to a replace-mode file's name to name its manifest: `sales.parquet.manifest.json`.
const MANIFEST_SUFFIX: &str = ".manifest.json";

impl Destination {
    /// Where this destination's manifest lives: next to the file in replace mode
    /// (`NAME.manifest.json`), `_manifest.json` inside the dataset prefix in append mode.
    pub fn manifest_location(&self) -> String {
        match &self.target {
            Target::Local { path, .. } => self.local_manifest(path).display().to_string(),
            Target::Store(s) => format!("{}{}", s.base, self.store_manifest(&s.key)),
        }
    }

    fn local_manifest(&self, path: &Path) -> PathBuf {
        match self.mode {
            WriteMode::Append => path.join(MANIFEST_NAME),
            WriteMode::Replace => {
                let mut name = path.file_name().unwrap_or_default().to_os_string();
                name.push(MANIFEST_SUFFIX);
                path.with_file_name(name)
            }
        }
    }

    fn store_manifest(&self, key: &StorePath) -> StorePath {
        match self.mode {
            WriteMode::Append if key.as_ref().is_empty() => StorePath::from(MANIFEST_NAME),
            WriteMode::Append => key.clone().join(MANIFEST_NAME),
            WriteMode::Replace => StorePath::from(format!("{}{MANIFEST_SUFFIX}", key.as_ref())),
        }
    }

    /// The manifest's bytes, or `None` when there is none yet.
    pub async fn read_manifest(&self) -> Result<Option<Bytes>> {
        match &self.target {
            Target::Local { path, .. } => {
                let file = self.local_manifest(path);
                match tokio::fs::read(&file).await {
                    Ok(b) => Ok(Some(Bytes::from(b))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => {
                        let shown = file.display().to_string();
                        let message = format!("cannot read the manifest {shown}: {e}");
                        Err(DestinationError::io(shown, message, e).into())
                    }
                }
            }
            Target::Store(s) => {
                let object = self.store_manifest(&s.key);
                let got = match s.store.get(&object).await {
                    Ok(r) => r.bytes().await,
                    Err(e) => Err(e),
                };
                match got {
                    Ok(b) => Ok(Some(b)),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => {
                        let location = format!("{}{object}", s.base);
                        Err(store_error(
                            &location,
                            &format!("reading the manifest {location}"),
                            e,
                            "",
                        ))
                    }
                }
            }
        }
    }

    /// Writes the manifest, replacing the previous one atomically (a temporary file renamed
    /// into place, or one PUT), and returns its location. Call it after the data is written,
    /// so that a manifest never describes data that is not there.
    pub async fn write_manifest(&self, data: Bytes) -> Result<String> {
        match &self.target {
            Target::Local { path, .. } => {
                let file = self.local_manifest(path);
                let shown = file.display().to_string();
                let target = file.clone();
                tokio::task::spawn_blocking(move || -> Result<()> {
                    let LocalOutput {
                        mut file,
                        mut pending,
                    } = LocalOutput::open(&target, false)?;
                    let written = std::io::Write::write_all(&mut file, &data)
                        .and_then(|()| pending.sync(&file))
                        .and_then(|()| pending.commit(false));
                    written.map_err(|e| {
                        let shown = target.display().to_string();
                        let message = format!("cannot write the manifest {shown}: {e}");
                        DestinationError::io(shown, message, e).into()
                    })
                })
                .await
                .map_err(|e| Error::Internal(format!("the manifest writer failed: {e}")))??;
                Ok(shown)
            }
            Target::Store(s) => {
                let object = self.store_manifest(&s.key);
                let location = format!("{}{object}", s.base);
                if let Err(e) = s.store.put(&object, data.into()).await {
                    return Err(store_error(
                        &location,
                        &format!("writing the manifest {location}"),
                        e,
                        "",
                    ));
                }
                Ok(location)
            }
        }
    }

    /// True when there is data at the destination: the file (replace mode), or at least one
    /// part of the dataset (append mode).
    pub async fn data_exists(&self) -> Result<bool> {
        let (store, prefix, shown): (Arc<dyn ObjectStore>, StorePath, String) = match &self.target {
            Target::Local { path, .. } => match self.mode {
                WriteMode::Replace => return Ok(path.is_file()),
                WriteMode::Append if !path.is_dir() => return Ok(false),
                WriteMode::Append => (
                    dataset_store(path)?,
                    StorePath::default(),
                    path.display().to_string(),
                ),
            },
            Target::Store(s) => {
                let shown = s.location();
                if self.mode == WriteMode::Replace {
                    return match s.store.head(&s.key).await {
                        Ok(_) => Ok(true),
                        Err(object_store::Error::NotFound { .. }) => Ok(false),
                        Err(e) => Err(store_error(&shown, &format!("checking {shown}"), e, "")),
                    };
                }
                (Arc::clone(&s.store), s.key.clone(), shown)
            }
        };
        match list_parts(&store, &prefix).await {
            Ok(parts) => Ok(!parts.is_empty()),
            Err(e) => Err(store_error(
                &shown,
                &format!("listing the dataset {shown}"),
                e,
                "",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::tests::{opts, s3};

    #[test]
    fn manifests_sit_next_to_the_file_or_inside_the_dataset() {
        let cases: &[(&str, WriteMode, &str)] = &[
            (
                "out/sales.parquet",
                WriteMode::Replace,
                "out/sales.parquet.manifest.json",
            ),
            ("out/sales", WriteMode::Append, "out/sales/_manifest.json"),
            (
                "s3://bucket/a/sales.parquet",
                WriteMode::Replace,
                "s3://bucket/a/sales.parquet.manifest.json",
            ),
            (
                "s3://bucket/a/ds/",
                WriteMode::Append,
                "s3://bucket/a/ds/_manifest.json",
            ),
            (
                "s3://bucket/",
                WriteMode::Append,
                "s3://bucket/_manifest.json",
            ),
        ];
        for (output, mode, want) in cases {
            let mut o = if output.starts_with("s3") {
                s3(output)
            } else {
                opts(output)
            };
            o.mode = *mode;
            let d = Destination::from_options(&o).unwrap();
            assert_eq!(d.manifest_location(), *want, "{output}");
        }
    }

    #[tokio::test]
    async fn a_local_manifest_is_written_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.parquet");
        let d = Destination::parse(file.to_str().unwrap()).unwrap();
        assert_eq!(d.read_manifest().await.unwrap(), None);
        assert!(!d.data_exists().await.unwrap());
        let at = d
            .write_manifest(Bytes::from_static(b"{\"a\":1}"))
            .await
            .unwrap();
        assert_eq!(
            at,
            dir.path()
                .join("x.parquet.manifest.json")
                .display()
                .to_string()
        );
        d.write_manifest(Bytes::from_static(b"{\"a\":2}"))
            .await
            .unwrap();
        assert_eq!(
            d.read_manifest().await.unwrap().as_deref(),
            Some(&b"{\"a\":2}"[..])
        );
        // Only the manifest is there: no temporary file left behind, and still no data.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["x.parquet.manifest.json".to_owned()]);
        assert!(!d.data_exists().await.unwrap());
        std::fs::write(&file, b"PAR1").unwrap();
        assert!(d.data_exists().await.unwrap());

        // Append mode: the manifest is not a part, and parts make data.
        let ds = dir.path().join("ds");
        std::fs::create_dir(&ds).unwrap();
        let mut o = opts(ds.to_str().unwrap());
        o.mode = WriteMode::Append;
        let d = Destination::from_options(&o).unwrap();
        d.write_manifest(Bytes::from_static(b"{}")).await.unwrap();
        assert!(!d.data_exists().await.unwrap());
        std::fs::write(ds.join("part-1.parquet"), b"PAR1").unwrap();
        assert!(d.data_exists().await.unwrap());
    }
}
