//! Test support: the built binary, sample files, temp dirs, reading Parquet back.
//! (The in-process simulator and S3 server helpers live in their own files.)

#![allow(dead_code)]

pub mod azurite;
pub mod s3;
pub mod sim;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;

/// The binary under test.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"));
    c.env_remove("RUST_LOG");
    c
}

/// Runs a command and returns its output (stdout, stderr, status).
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the binary runs")
}

/// Text of stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Text of stdout.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A file of `sample_data/`.
pub fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample_data")
        .join(name)
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Names of the entries of a directory, sorted.
pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A Parquet file read back whole.
pub struct Table {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub metadata: Vec<(String, String)>,
}

impl Table {
    /// Reads a Parquet file.
    pub fn read(path: &Path) -> Table {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).expect("open"))
            .expect("a Parquet file");
        let schema = reader.schema().clone();
        let batches: Vec<RecordBatch> = reader
            .build()
            .expect("reader")
            .collect::<Result<_, _>>()
            .expect("batches");
        let file = SerializedFileReader::new(File::open(path).expect("open")).expect("parquet");
        let metadata = file
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .map(|kv| {
                kv.iter()
                    .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        Table {
            schema,
            batches,
            metadata,
        }
    }

    /// Reads Parquet bytes.
    pub fn from_bytes(bytes: bytes::Bytes) -> Table {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).expect("a Parquet file");
        let schema = reader.schema().clone();
        let batches = reader
            .build()
            .expect("reader")
            .collect::<Result<_, _>>()
            .expect("batches");
        Table {
            schema,
            batches,
            metadata: Vec::new(),
        }
    }

    /// Total rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Column names.
    pub fn names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// (name, Arrow type) of every column, as `name: Type`.
    pub fn types(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| format!("{}: {}", f.name(), f.data_type()))
            .collect()
    }

    /// All values of a column, concatenated.
    pub fn column(&self, name: &str) -> Vec<ArrayRef> {
        let idx = self.schema.index_of(name).unwrap_or_else(|_| {
            panic!("no column {name:?} in {:?}", self.names());
        });
        self.batches.iter().map(|b| b.column(idx).clone()).collect()
    }

    /// A column's values formatted as text (None for null).
    pub fn strings(&self, name: &str) -> Vec<Option<String>> {
        let opts = FormatOptions::default();
        let mut out = Vec::new();
        for arr in self.column(name) {
            let f = ArrayFormatter::try_new(arr.as_ref(), &opts).expect("formatter");
            for i in 0..arr.len() {
                out.push(arr.is_valid(i).then(|| f.value(i).to_string()));
            }
        }
        out
    }

    /// Metadata value by key.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// `Some(s)` for non-empty strings, `None` for "".
pub fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// A list of `opt`s.
pub fn opts(v: &[&str]) -> Vec<Option<String>> {
    v.iter().map(|s| opt(s)).collect()
}
