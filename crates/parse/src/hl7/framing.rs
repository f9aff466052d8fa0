//! Framing, ours rather than hl7-parser's (no batch support, silent truncation, fails on preamble
//! bytes: ARCHITECTURE.md, HL7 v2): a file's bytes → text → messages made of segments, with line numbers.

use encoding_rs::{Encoding, WINDOWS_1252};
use std::borrow::Cow;

/// The default charset of the tests (the configuration's default is the same, `hl7.default_charset`):
/// Windows-1252 is a superset of the printable ISO-8859-1 that most such exports are in.
#[cfg(test)]
pub(super) const DEFAULT_CHARSET: &Encoding = WINDOWS_1252;

/// The file's bytes as text. A UTF-8 BOM and MLLP bytes are dropped.
///
/// - Valid UTF-8 is read as UTF-8, whatever MSH-18 says (a file that is valid UTF-8 and
///   declares `8859/1` is almost always mislabelled; pure ASCII is the same in both).
/// - Otherwise MSH-18 of the first MSH, read from the raw bytes (it is ASCII), names the charset
///   ([`charset`]); a charset it does not name or we do not know is `default`.
pub(super) fn decode_text<'b>(bytes: &'b [u8], default: &'static Encoding) -> Cow<'b, str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => {
            let declared = declared_charset(bytes).and_then(charset);
            declared.unwrap_or(default).decode_without_bom_handling(bytes).0
        }
    };
    if text.contains(MLLP) { Cow::Owned(text.replace(MLLP, "")) } else { text }
}

/// The charset an MSH-18 value (table 0211) names, if we know it. `ASCII` is read with the
/// default charset: non-ASCII bytes in an "ASCII" file are the default's. `8859/1` is read as
/// Windows-1252, which agrees with ISO-8859-1 on every printable character (as browsers do: 0x80–0x9F
/// are C1 controls in ISO-8859-1, never text, and Windows-1252 punctuation in practice). Declared
/// UTF-8 that is not valid UTF-8 keeps its declaration: the invalid bytes become U+FFFD.
fn charset(name: &str) -> Option<&'static Encoding> {
    let name = name.trim().to_ascii_uppercase();
    let latin = |part: &str| Encoding::for_label(format!("iso-8859-{part}").as_bytes());
    match name.as_str() {
        "UNICODE UTF-8" | "UTF-8" | "UTF8" | "UNICODE UTF8" | "ISO IR192" => Some(encoding_rs::UTF_8),
        "8859/1" | "ISO IR100" | "ISO-8859-1" => Some(WINDOWS_1252),
        "GB 18030-2000" | "GB18030" => Some(encoding_rs::GB18030),
        "BIG-5" | "BIG5" => Some(encoding_rs::BIG5),
        "KS X 1001" => Some(encoding_rs::EUC_KR),
        _ => name.strip_prefix("8859/").and_then(latin),
    }
}

/// MSH-18 (first component of the first repetition) of the first MSH segment, read from the raw
/// bytes with the separators that MSH declares.
fn declared_charset(bytes: &[u8]) -> Option<&str> {
    let start = (0..bytes.len()).find(|&i| {
        bytes[i..].starts_with(b"MSH") && (i == 0 || matches!(bytes[i - 1], b'\r' | b'\n' | 0x0B | b' ' | b'\t'))
    })?;
    let segment = &bytes[start..];
    let segment = &segment[..segment.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(segment.len())];
    let field = *segment.get(3)?;
    // `MSH|…` split on `|` gives MSH, MSH-2, MSH-3…: MSH-n is at n - 1.
    let msh18 = segment.split(|&b| b == field).nth(17)?;
    let mut stops = segment.get(4..6).unwrap_or_default().to_vec();
    stops.retain(|&b| b != field);
    let value = msh18.split(|b| stops.contains(b)).next()?;
    std::str::from_utf8(value).ok().map(str::trim).filter(|v| !v.is_empty())
}

/// MLLP start- and end-of-block bytes, which some exports keep around each message.
const MLLP: [char; 2] = ['\u{0B}', '\u{1C}'];

/// A file split into batch header/trailer segments and messages.
#[derive(Debug, Default)]
pub(super) struct Framed<'t> {
    /// FHS, BHS, BTS and FTS segments, in file order.
    pub batch: Vec<Segment>,
    /// Runs of segments, each started by an MSH — or, outside any message, by another segment.
    pub messages: Vec<FramedMessage<'t>>,
}

#[derive(Debug)]
pub(super) struct Segment {
    /// 1-based line of the file where the segment starts.
    pub line: usize,
    /// The segment, with any hard-wrapped continuation lines appended.
    pub text: String,
}

impl Segment {
    /// Field `n` (from 2) of a header segment — MSH, FHS or BHS — first component, as written.
    /// Such a segment declares its own separators: field in the 4th character, component in the 5th.
    pub fn header_field(&self, n: usize) -> Option<&str> {
        let mut declared = self.text.chars().skip(3);
        let field = declared.next()?;
        let component = declared.next().filter(|&c| c != field);
        let value = self.text.split(field).nth(n.checked_sub(1)?)?;
        let value = component.and_then(|c| value.split(c).next()).unwrap_or(value);
        (!value.is_empty()).then_some(value)
    }
}

#[derive(Debug)]
pub(super) struct FramedMessage<'t> {
    pub segments: Vec<Segment>,
    /// The lines as they appeared in the file (MLLP bytes removed).
    pub lines: Vec<&'t str>,
    /// The field separator segment lines must use to be read as segments.
    separator: char,
}

impl FramedMessage<'_> {
    /// 1-based line of the file where the message starts.
    pub fn line(&self) -> usize {
        self.segments.first().map_or(1, |s| s.line)
    }

    /// Whether it starts with an MSH; segments outside any message do not.
    pub fn has_msh(&self) -> bool {
        self.segments.first().is_some_and(|s| starts_with_id(&s.text, "MSH"))
    }

    /// The message as it appeared, lines joined with `\r`.
    pub fn raw(&self) -> String {
        self.lines.join("\r")
    }
}

impl Framed<'_> {
    /// Whether the batch envelope holds: every FHS closed by an FTS, every BHS by a BTS (when
    /// `trailers` are required), and the message counts the BTS segments declare (BTS-1) adding up
    /// to the messages found. A file cut short loses its trailers; its last message may be cut
    /// mid-value, so none of it may be trusted.
    pub fn check_envelope(&self, trailers: bool) -> Result<(), String> {
        let count = |id: &str| self.batch.iter().filter(|s| starts_with_id(&s.text, id)).count();
        let (fhs, fts, bhs, bts) = (count("FHS"), count("FTS"), count("BHS"), count("BTS"));
        if !trailers {
            // Only what a BTS declares is checked.
        } else if fhs > fts {
            return Err(format!("{fhs} FHS but {fts} FTS (file trailer) segment(s)"));
        } else if bhs > bts {
            return Err(format!("{bhs} BHS but {bts} BTS (batch trailer) segment(s)"));
        }
        let declared: Option<usize> = self
            .batch
            .iter()
            .filter(|s| starts_with_id(&s.text, "BTS"))
            .map(|s| {
                s.text.get(4..).and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<usize>().ok())
            })
            .sum();
        let found = self.messages.len();
        match declared {
            Some(declared) if bts > 0 && declared != found => {
                Err(format!("BTS-1 counts {declared} message(s) but the file holds {found}"))
            }
            _ => Ok(()),
        }
    }
}

/// Split into lines on CR, LF or CRLF, skip blank lines, and group segments into messages: each
/// MSH starts one; FHS/BHS/BTS/FTS end one and belong to none. Lines are numbered as split, so a
/// CR-only file counts one line per segment.
///
/// A line that does not start with a segment id (three capital letters or digits followed by the
/// message's field separator, or alone) continues the previous segment: an exporter or mail
/// gateway hard-wrapped a long segment, and the line is appended to it as it is, without a
/// separator, so the segment reads as before the wrap.
pub(super) fn frame(text: &str) -> Framed<'_> {
    let mut framed = Framed::default();
    // What a continuation line continues.
    let mut open = Open::Nothing;
    for (number, line) in lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        // Leading whitespace of the file is not part of the first segment.
        let line = if matches!(open, Open::Nothing) { line.trim_start() } else { line };
        let segment = Segment { line: number, text: line.to_owned() };
        if ["FHS", "BHS", "BTS", "FTS"].iter().any(|id| starts_with_id(line, id)) {
            framed.batch.push(segment);
            open = Open::Batch;
            continue;
        }
        let after_id = segment_id_then(line);
        // Inside a message a segment id must be followed by its field separator; elsewhere by
        // anything that could be one.
        let is_segment = |separator: Option<char>| match after_id {
            Some(None) => true,
            Some(Some(c)) => separator.map_or(!c.is_ascii_alphanumeric(), |s| c == s),
            None => false,
        };
        match (&open, framed.messages.last_mut()) {
            (Open::Message, Some(message)) if !starts_with_id(line, "MSH") => {
                message.lines.push(line);
                if is_segment(Some(message.separator)) {
                    message.segments.push(segment);
                } else if let Some(last) = message.segments.last_mut() {
                    last.text.push_str(line);
                }
            }
            (Open::Batch, _) if !is_segment(None) => {
                if let Some(last) = framed.batch.last_mut() {
                    last.text.push_str(line);
                }
            }
            _ => {
                let separator = if starts_with_id(line, "MSH") { line.chars().nth(3) } else { after_id.flatten() };
                framed.messages.push(FramedMessage {
                    segments: vec![segment],
                    lines: vec![line],
                    separator: separator.unwrap_or('|'),
                });
                open = Open::Message;
            }
        }
    }
    framed
}

enum Open {
    Nothing,
    Batch,
    Message,
}

/// Lines split on `\r\n`, `\r` or `\n`, numbered from 1.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = text;
    let mut number = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        number += 1;
        let (line, next) = match rest.find(['\r', '\n']) {
            Some(end) if rest[end..].starts_with("\r\n") => (&rest[..end], &rest[end + 2..]),
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, ""),
        };
        rest = next;
        Some((number, line))
    })
}

/// `line` starts with `id`, followed by the end of the line or a character that cannot continue
/// a segment id (the field separator).
fn starts_with_id(line: &str, id: &str) -> bool {
    line.strip_prefix(id).is_some_and(|rest| rest.chars().next().is_none_or(|c| !c.is_ascii_alphanumeric()))
}

/// For a line starting with a segment id (three capital letters or digits), the character after
/// it (`None` at the end of the line); `None` when the line does not start with one.
fn segment_id_then(line: &str) -> Option<Option<char>> {
    let id = line.get(..3)?;
    id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()).then(|| line[3..].chars().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each message as (first line, segment texts).
    fn messages(text: &str) -> Vec<(usize, Vec<String>)> {
        frame(text).messages.iter().map(|m| (m.line(), m.segments.iter().map(|s| s.text.clone()).collect())).collect()
    }

    const A: &str = "MSH|^~\\&|A||||||ADT^A01|1";
    const B: &str = "MSH|^~\\&|B||||||ADT^A01|2";

    #[test]
    fn cr_lf_crlf_and_mixed_terminators_split_alike() {
        let expected = vec![(1, vec![A.to_owned(), "PID|1".into()]), (3, vec![B.to_owned(), "PID|2".into()])];
        for sep in ["\r", "\n", "\r\n"] {
            let text = [A, "PID|1", B, "PID|2"].join(sep) + sep;
            assert_eq!(messages(&text), expected, "{sep:?}");
        }
        assert_eq!(messages(&format!("{A}\rPID|1\n{B}\r\nPID|2")), expected);
    }

    #[test]
    fn bom_mllp_leading_whitespace_and_blank_lines_are_skipped_keeping_line_numbers() {
        let bytes = format!("\u{FEFF}\n \u{0B}{A}\r\n\r\nPID|1\u{1C}\r\u{0B}{B}\r \t\rPID|2\u{1C}\r\n");
        let text = decode_text(bytes.as_bytes(), DEFAULT_CHARSET);
        assert_eq!(
            messages(&text),
            vec![(2, vec![A.to_owned(), "PID|1".into()]), (5, vec![B.to_owned(), "PID|2".into()])]
        );
    }

    fn decoded(bytes: &[u8]) -> Cow<'_, str> {
        decode_text(bytes, DEFAULT_CHARSET)
    }

    #[test]
    fn windows_1252_bytes_are_decoded() {
        assert_eq!(decoded(b"PID|1||||M\xfcller^Jos\xe9"), "PID|1||||Müller^José");
        assert_eq!(decoded("PID|1||||Müller".as_bytes()), "PID|1||||Müller");
        let ascii =
            [format!("MSH|^~\\&{}ASCII\rPID|1||||", "|".repeat(16)).into_bytes(), b"\x93Al\x94".to_vec()].concat();
        assert!(decoded(&ascii).ends_with("ASCII\rPID|1||||“Al”"));
    }

    #[test]
    fn msh18_names_the_charset_of_a_file_that_is_not_utf8() {
        // MSH-18 is the 17th field after MSH-2.
        let msh = |charset: &str| format!("MSH|^~\\&{}{charset}\r", "|".repeat(16)).into_bytes();
        let with = |charset: &str, tail: &[u8]| [msh(charset), tail.to_vec()].concat();
        // ISO-8859-1, by its HL7 name and by its DICOM-style name, with a second repetition.
        assert!(decoded(&with("8859/1", b"PID|1||||Ren\xe9e")).ends_with("Renée"));
        assert!(decoded(&with("ISO IR100~ISO IR87", b"PID|1||||Ren\xe9e")).ends_with("Renée"));
        // ISO-8859-2 and -7 differ from Windows-1252 in the upper half.
        assert!(decoded(&with("8859/2", b"PID|1||||\xb3\xf3d\xbc")).ends_with("łódź"));
        assert!(decoded(&with("8859/7", b"PID|1||||\xc1\xe8\xde\xed\xe1")).ends_with("Αθήνα"));
        // Declared UTF-8 with a stray byte: the declaration holds, the byte becomes U+FFFD.
        assert!(decoded(&with("UNICODE UTF-8", b"PID|1||||Jos\xc3\xa9 \xff")).ends_with("José \u{FFFD}"));
        // Unknown or undeclared: the default.
        assert!(decoded(&with("KLINGON", b"PID|1||||Ren\xe9e")).ends_with("Renée"));
        assert!(decoded(&with("", b"PID|1||||Ren\xe9e")).ends_with("Renée"));
        // A valid UTF-8 file is UTF-8 even when it declares Latin-1.
        assert!(decoded(&with("8859/1", "PID|1||||Renée".as_bytes())).ends_with("Renée"));
        // The first MSH after a batch header and MLLP bytes; custom separators.
        let batch = [b"\xEF\xBB\xBFFHS|^~\\&\r\x0b".to_vec(), msh("8859/2"), b"PID|1||||\xb3".to_vec()].concat();
        assert!(decoded(&batch).ends_with("PID|1||||ł"));
        let custom = [format!("MSH$%~\\&{}8859/2%x$\rPID$", "$".repeat(16)).into_bytes(), vec![0xb3]].concat();
        assert!(decoded(&custom).ends_with("PID$ł"));
        assert_eq!(declared_charset(b"MSH|^~\\&|a"), None);
        assert_eq!(declared_charset(&[b"X".to_vec(), msh("8859/1")].concat()), None);
        assert_eq!(declared_charset(&msh("8859/1")), Some("8859/1"));
    }

    #[test]
    fn batch_segments_end_messages_and_belong_to_none() {
        let text =
            format!("FHS|^~\\&|||||20261124050000\rBHS|^~\\&\r{A}\rPID|1\rBTS|1\rBHS|^~\\&\r{B}\rBTS|1\rFTS|2\r");
        let framed = frame(&text);
        let ids: Vec<&str> = framed.batch.iter().map(|s| s.text.get(..3).unwrap_or_default()).collect();
        assert_eq!(ids, ["FHS", "BHS", "BTS", "BHS", "BTS", "FTS"]);
        assert_eq!(framed.batch.first().and_then(|fhs| fhs.header_field(7)), Some("20261124050000"));
        assert_eq!(messages(&text), vec![(3, vec![A.to_owned(), "PID|1".into()]), (7, vec![B.to_owned()])]);
    }

    #[test]
    fn wrapped_lines_continue_the_previous_segment() {
        let text = format!("{A}\rOBX|1|TX|NOTE||first half of a long \rline, second half\r|||F\rZZZ\rPID|1");
        let framed = frame(&text);
        let message = framed.messages.first().expect("one message");
        let segments: Vec<&str> = message.segments.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(segments, [A, "OBX|1|TX|NOTE||first half of a long line, second half|||F", "ZZZ", "PID|1"]);
        let lines: Vec<usize> = message.segments.iter().map(|s| s.line).collect();
        assert_eq!(lines, [1, 2, 5, 6]);
        assert_eq!(message.raw(), text);
    }

    #[test]
    fn a_segment_id_must_use_the_message_field_separator() {
        let text = "MSH$%~\\&$A\rPID$1\rABC|not a segment here";
        assert_eq!(messages(text), vec![(1, vec!["MSH$%~\\&$A".into(), "PID$1ABC|not a segment here".into()])]);
    }

    #[test]
    fn segments_outside_any_message_form_their_own_group() {
        let framed = frame("BHS|^~\\&\rEVN|A04\rPID|1\rBTS|1\rtext line");
        let groups: Vec<(usize, bool, usize)> =
            framed.messages.iter().map(|m| (m.line(), m.has_msh(), m.segments.len())).collect();
        assert_eq!(groups, [(2, false, 2)]);
        assert_eq!(framed.batch.last().map(|s| s.text.as_str()), Some("BTS|1text line"));
    }

    #[test]
    fn header_fields_use_the_segment_own_separators() {
        let bhs = Segment { line: 1, text: "BHS:-+?*:::::20231208-0500:x".into() };
        assert_eq!(bhs.header_field(7), Some("20231208"));
        let msh = Segment { line: 1, text: A.to_owned() };
        assert_eq!((msh.header_field(9), msh.header_field(10), msh.header_field(11)), (Some("ADT"), Some("1"), None));
    }
}
