//! The engine through its library API: splitting the input anywhere changes nothing.

use anaplan_parquet::convert::{self, EngineOptions, InputEncoding, RunContext};
use anaplan_parquet::sink::Destination;
use anaplan_parquet::source::MemorySource;
use bytes::Bytes;
use proptest::prelude::*;

use crate::support::{Table, tempdir};

/// Converts `input` cut at `cuts` and returns every column as text, plus the schema.
fn convert_pieces(
    input: &[u8],
    cuts: &[usize],
    options: &EngineOptions,
) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let mut pieces = Vec::new();
    let mut prev = 0;
    let mut cuts = cuts.to_vec();
    cuts.sort_unstable();
    for c in cuts.into_iter().chain(std::iter::once(input.len())) {
        let c = c.min(input.len());
        if c > prev {
            pieces.push(Bytes::copy_from_slice(&input[prev..c]));
            prev = c;
        }
    }
    let dir = tempdir();
    let out = dir.path().join("o.parquet");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let source = MemorySource::new("memory", pieces);
        let dest = Destination::parse(out.to_str().unwrap()).unwrap();
        convert::convert(&source, &dest, options, &RunContext::default())
            .await
            .expect("converts");
    });
    let t = Table::read(&out);
    let cols = t.names().iter().map(|n| t.strings(n)).collect();
    (t.types(), cols)
}

const TRICKY: &str = "\u{feff}Versions,\"Line Items\",Region,Value\r\n\
Actual,Comment,Zürich,\"said \"\"hi\"\"\r\non two lines\"\r\n\
Actual,Revenue,São Paulo,150000\r\n\
\"Budget\",\"Units\",\"東京 😀\",\"42\"\r\n\
Budget,Active,,true\r\n\
Forecast,Margin %,\"a,b\",-0.125\r\n\
Forecast,Blank,x,\r\n\
Forecast,Launch,y,2024-01-15";

#[test]
fn every_split_point_gives_the_same_file() {
    let options = EngineOptions::default();
    let whole = convert_pieces(TRICKY.as_bytes(), &[], &options);
    assert_eq!(
        whole.1[3][0].as_deref(),
        Some("said \"hi\"\r\non two lines")
    );
    assert!(whole.0.contains(&"Value_number: Float64".to_owned()));
    for i in 0..=TRICKY.len() {
        assert_eq!(
            convert_pieces(TRICKY.as_bytes(), &[i], &options),
            whole,
            "cut at {i}"
        );
    }
}

#[test]
fn utf16_split_at_odd_bytes_gives_the_same_file() {
    let text = TRICKY.trim_start_matches('\u{feff}');
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let mut options = EngineOptions::default();
    options.csv.encoding = InputEncoding::Utf16Le;
    let whole = convert_pieces(&bytes, &[], &options);
    let utf8 = convert_pieces(text.as_bytes(), &[], &EngineOptions::default());
    assert_eq!(whole, utf8);
    for i in (0..bytes.len()).step_by(7) {
        assert_eq!(
            convert_pieces(&bytes, &[i, i + 1], &options),
            whole,
            "cut at {i}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_splits_give_the_same_file(cuts in prop::collection::vec(0usize..TRICKY.len(), 1..8)) {
        let options = EngineOptions::default();
        let whole = convert_pieces(TRICKY.as_bytes(), &[], &options);
        prop_assert_eq!(convert_pieces(TRICKY.as_bytes(), &cuts, &options), whole);
    }
}

/// Rows of long unique texts: the inference sample stops at its byte bound (not after 100,000
/// rows held in memory), and row groups stay near `--row-group-bytes` rather than a whole batch
/// past it.
#[test]
fn long_texts_bound_the_sample_and_the_row_groups_by_bytes() {
    use base64::Engine as _;
    let mut rng = fastrand::Rng::with_seed(5);
    let mut input = String::from("Key,Text\n");
    let rows = 14_000;
    let mut noise = vec![0u8; 2_250];
    for i in 0..rows {
        // Unique random text: 3,000 characters that do not compress much.
        rng.fill(&mut noise);
        input.push_str(&format!("K{i},"));
        base64::engine::general_purpose::STANDARD.encode_string(&noise, &mut input);
        input.push('\n');
    }
    assert!(input.len() > convert::MAX_SAMPLE_BYTES + (4 << 20));
    let mut options = EngineOptions::default();
    options.parquet.row_group_bytes = 4 << 20;
    let dir = tempdir();
    let out = dir.path().join("wide.parquet");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let summary = rt.block_on(async {
        let source = MemorySource::new("memory", vec![Bytes::from(input)]);
        let dest = Destination::parse(out.to_str().unwrap()).unwrap();
        convert::convert(&source, &dest, &options, &RunContext::default())
            .await
            .expect("converts")
    });
    assert_eq!(summary.rows, rows);
    let sampled: u64 = summary.decisions[0]
        .strip_prefix("types inferred from the first ")
        .and_then(|s| s.strip_suffix(" rows"))
        .unwrap_or_else(|| panic!("{:?}", summary.decisions))
        .parse()
        .unwrap();
    assert!(
        sampled < rows && sampled * 3_000 <= convert::MAX_SAMPLE_BYTES as u64 + (1 << 20) * 3,
        "sampled {sampled} rows"
    );
    let file = parquet::file::serialized_reader::SerializedFileReader::new(
        std::fs::File::open(&out).unwrap(),
    )
    .unwrap();
    let groups = parquet::file::reader::FileReader::metadata(&file)
        .row_groups()
        .to_vec();
    assert!(groups.len() >= 8, "{} row groups", groups.len());
    for g in &groups {
        // The bound is on the writer's estimate; a page's worth over it is fine.
        assert!(
            g.compressed_size() <= (4 << 20) + (1 << 20),
            "a row group of {} bytes",
            g.compressed_size()
        );
    }
}
