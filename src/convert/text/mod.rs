//! Text: bytes in any supported encoding to UTF-8 ([`transcode`]), then CSV records as text
//! columns ([`decode`]).

pub mod decode;
pub mod transcode;
