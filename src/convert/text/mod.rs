//! Text: bytes in any supported encoding to UTF-8 ([`transcode`]), then CSV records as text
//! columns ([`decode`]), both driven by the one [`TextReader`] ([`reader`]), which also places
//! every error in the raw input.

pub(crate) mod decode;
pub(crate) mod reader;
pub(crate) mod transcode;

pub use decode::TextBatch;
pub use reader::{CsvOptions, TextReader, read_all};
pub use transcode::InputEncoding;
