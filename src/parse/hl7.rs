//! HL7 v2 (placeholder while the parser is written).
use super::ParseOptions;
use crate::model::ParsedFile;

pub fn looks_like_hl7(bytes: &[u8]) -> bool {
    let _ = bytes;
    false
}

pub fn parse(bytes: &[u8], options: &ParseOptions) -> ParsedFile {
    let _ = (bytes, options);
    ParsedFile::default()
}
