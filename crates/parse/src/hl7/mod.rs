//! HL7 v2 files → normalized records, pure (no I/O) and never panicking.
//!
//! Data flows through one small module per concern: `framing` (bytes → text in the charset MSH-18
//! names → messages, batch segments, line numbers) → `delims` (MSH-1/MSH-2) → `message`
//! (hl7-parser's segment/field tree of one cleaned message, values decoded by `escape`, empty told
//! from the null `""`) → `map` (records, one module per message family; times read by `ts`).
//! hl7-parser does the navigation only; ARCHITECTURE.md (HL7 v2) says why the rest is ours.

mod delims;
mod escape;
mod framing;
mod map;
mod message;
mod ts;

use super::ParseOptions;
use chrono::{DateTime, Utc};
use delims::Delimiters;
use framing::{Framed, FramedMessage};
use ingest_core::model::{FieldWarning, ParsedFile, ParsedMessage, Reject};
use ingest_core::time::Zone;
use message::Seg;

/// Whether the bytes start like an HL7 v2 file: after an optional UTF-8 BOM, MLLP start bytes and
/// whitespace, `MSH`, `FHS` or `BHS` followed by a field separator.
pub fn looks_like_hl7(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes.iter().position(|&b| b != 0x0B && !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let head = bytes.get(start..).unwrap_or_default();
    [b"MSH", b"FHS", b"BHS"].iter().any(|id| head.starts_with(*id)) && head.get(3).is_some_and(u8::is_ascii_punctuation)
}

/// Parse a whole file: each message becomes a [`ParsedMessage`] or a [`Reject`]; one bad message
/// never hides the others.
/// `Err` when the batch envelope does not hold (see `Framed::check_envelope`): nothing of the file
/// is taken.
pub fn parse(bytes: &[u8], options: &ParseOptions) -> Result<ParsedFile, String> {
    let text = framing::decode_text(bytes, options.default_charset);
    let framed = framing::frame(&text);
    framed.check_envelope(options.require_batch_trailers)?;
    let mut file = ParsedFile {
        exported_at: exported_at(&framed, &options.zone),
        export_time_note: offset_disagreement(&framed, &options.zone),
        ..ParsedFile::default()
    };
    for (i, framed_message) in framed.messages.iter().enumerate() {
        let index = i + 1;
        let control_id = framed_message
            .segments
            .first()
            .filter(|_| framed_message.has_msh())
            .and_then(|msh| msh.header_field(10))
            .map(str::to_owned);
        let mapped = read(framed_message, control_id.as_deref(), options).and_then(|mapped| {
            if !mapped.used && rejects_type(&options.reject_types, &mapped.message_type) {
                let reason = format!(
                    "message type {} is not used by the snapshot, and hl7.reject_types makes it a reject",
                    mapped.message_type
                );
                return Err(Fault::at("MSH-9", reason));
            }
            Ok(mapped)
        });
        match mapped {
            Ok(mapped) if !mapped.used => {
                *file.not_used.entry(mapped.message_type.clone()).or_default() += 1;
                file.messages.push(ParsedMessage {
                    index,
                    control_id,
                    message_type: mapped.message_type,
                    records: Vec::new(),
                });
            }
            Ok(mapped) => {
                file.warnings.extend(mapped.warnings.into_iter().map(|fault| FieldWarning {
                    index,
                    line: framed_message.line(),
                    control_id: control_id.clone(),
                    field: fault.segment,
                    reason: fault.reason,
                }));
                file.messages.push(ParsedMessage {
                    index,
                    control_id,
                    message_type: mapped.message_type,
                    records: mapped.records,
                });
            }
            Err(fault) => file.rejects.push(Reject {
                index,
                line: framed_message.line(),
                control_id,
                segment: fault.segment,
                reason: fault.reason,
                raw: framed_message.raw(),
            }),
        }
    }
    Ok(file)
}

/// Whether `hl7.reject_types` names this message type (`VXU` names every VXU trigger).
fn rejects_type(reject_types: &[String], message_type: &str) -> bool {
    let kind = message_type.split('^').next().unwrap_or(message_type);
    reject_types.iter().any(|t| t == message_type || t == kind)
}

/// Only the export time the file's header declares (see [`ParsedFile::exported_at`]), without
/// mapping any message.
pub fn header_exported_at(bytes: &[u8], options: &ParseOptions) -> Option<(DateTime<Utc>, &'static str)> {
    exported_at(&framing::frame(&framing::decode_text(bytes, options.default_charset)), &options.zone)
}

/// The most segments one message may have. hl7-parser's tree costs about 5 KB per segment (a
/// message of 100,000 short OBX segments, 1.9 MB, took 500 MB), so this bounds a message at about
/// 50 MB; a 10,000-line note is some 200 pages, far beyond any export seen.
const MAX_SEGMENTS: usize = 10_000;

/// One framed message through delimiters, hl7-parser and the mapping.
fn read(framed: &FramedMessage<'_>, control_id: Option<&str>, options: &ParseOptions) -> Result<map::Mapped, Fault> {
    if !framed.has_msh() {
        return Err(Fault::at("MSH", "segments outside any message (no MSH segment starts them)"));
    }
    if framed.segments.len() > MAX_SEGMENTS {
        let reason =
            format!("{} segments in one message; more than {MAX_SEGMENTS} are not read", framed.segments.len());
        return Err(Fault::new(reason));
    }
    let texts: Vec<&str> = framed.segments.iter().map(|s| s.text.as_str()).collect();
    let delimiters = Delimiters::from_msh(texts.first().copied().unwrap_or_default())?;
    let input = message::crate_input(&texts, &delimiters)?;
    let tree =
        hl7_parser::Message::parse_with_lenient_newlines(&input, true).map_err(|e| Fault::new(parser_failure(&e)))?;
    message::check_complete(tree.segments.len(), texts.len())?;
    let segments: Vec<Seg<'_>> = tree.segments.iter().map(|s| Seg::new(s, &delimiters)).collect();
    map::map(&segments, control_id, options)
}

/// hl7-parser's error without the fragment of the message it quotes (PHI).
fn parser_failure(e: &hl7_parser::parser::ParseError) -> String {
    match e {
        hl7_parser::parser::ParseError::FailedToParse { position, .. } => {
            format!("hl7-parser could not read the message (at character {position})")
        }
        hl7_parser::parser::ParseError::IncompleteInput(_) => {
            "hl7-parser could not read the message: it ends early".into()
        }
    }
}

/// FHS-7, else BHS-7, else MSH-7 of the first message — the first of them that is a valid time.
fn exported_at(framed: &Framed<'_>, zone: &Zone) -> Option<(DateTime<Utc>, &'static str)> {
    let batch = |id: &str| {
        framed
            .batch
            .iter()
            .filter(|s| s.text.starts_with(id))
            .find_map(|s| ts::instant(s.header_field(7)?, zone).ok().flatten())
    };
    let first_msh = framed.messages.iter().find(|m| m.has_msh()).and_then(|m| m.segments.first());
    batch("FHS")
        .map(|t| (t, "FHS-7"))
        .or_else(|| batch("BHS").map(|t| (t, "BHS-7")))
        .or_else(|| Some((ts::instant(first_msh?.header_field(7)?, zone).ok()??, "MSH-7")))
}

/// The UTC offset written at the end of an HL7 time (`-0600`), if any.
fn written_offset(field: &str) -> Option<&str> {
    let field = field.trim();
    let at = field.rfind(['+', '-'])?;
    let offset = &field[at..];
    (at >= 4 && offset.len() == 5 && offset[1..].bytes().all(|b| b.is_ascii_digit())).then_some(offset)
}

/// When the export time's field has no UTC offset (so it was read in `time_zone`) but one of the
/// file's own MSH-7 carries an offset that differs from that zone's at that message's time, the
/// export time is likely hours off: say so, with both offsets.
fn offset_disagreement(framed: &Framed<'_>, zone: &Zone) -> Option<String> {
    let headers = |id: &'static str| {
        framed
            .batch
            .iter()
            .chain(framed.messages.iter().flat_map(|m| m.segments.first()))
            .filter(move |s| s.text.starts_with(id))
    };
    let valid = |f: &&str| ts::instant(f, zone).ok().flatten().is_some();
    // The field `exported_at` took: the first of FHS-7, BHS-7, MSH-7 that is a valid time.
    let (origin, field) = ["FHS", "BHS", "MSH"]
        .into_iter()
        .find_map(|id| headers(id).filter_map(|s| s.header_field(7)).find(valid).map(|f| (id, f)))?;
    if written_offset(field).is_some() {
        return None;
    }
    let read_as = zone.format(ts::instant(field, zone).ok()??, "%z");
    let carried = headers("MSH").filter_map(|s| s.header_field(7)).find_map(|f| {
        let carried = written_offset(f)?;
        let at = ts::instant(f, zone).ok()??;
        (zone.format(at, "%z") != carried).then_some(carried)
    })?;
    Some(format!(
        "{origin}-7 {field} has no UTC offset and was read in time_zone {zone} ({read_as}), but the file's MSH-7 \
         carry {carried}: the export time is probably off by the difference; set time_zone to the EHR's zone"
    ))
}

/// Why one message is rejected: the segment (and field) at fault when known, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fault {
    segment: Option<String>,
    reason: String,
}

impl Fault {
    fn at(segment: &str, reason: impl Into<String>) -> Fault {
        Fault { segment: Some(segment.to_owned()), reason: reason.into() }
    }

    fn new(reason: impl Into<String>) -> Fault {
        Fault { segment: None, reason: reason.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_core::model::Record;
    use ingest_core::time::rfc3339;
    use proptest::prelude::*;

    fn options() -> ParseOptions {
        ParseOptions { zone: Zone::parse("America/Chicago").expect("zone"), ..ParseOptions::default() }
    }

    fn parse_text(text: &str) -> ParsedFile {
        parse(text.as_bytes(), &options()).expect("the envelope holds")
    }

    const ADT: &str =
        "MSH|^~\\&|EHR|GENHOSP|||20261124050000||ADT^A04|CTL1|P|2.5\rPID|1||7654321^^^GENHOSP^MR||Testpatient^Alex";

    #[test]
    fn hl7_is_recognised_after_bom_mllp_and_whitespace() {
        for yes in ["MSH|^~\\&|", "\u{FEFF}\u{0B}\r\n  MSH|^", "FHS|^~\\&", "BHS:-+?*", "MSH$%~\\&$"] {
            assert!(looks_like_hl7(yes.as_bytes()), "{yes:?}");
        }
        for no in ["", "MSH", "MSHX|", "PID|1", "mrn,name\n", "%PDF-1.7", "\u{FEFF}"] {
            assert!(!looks_like_hl7(no.as_bytes()), "{no:?}");
        }
    }

    #[test]
    fn exported_at_prefers_fhs_then_bhs_then_the_first_msh() {
        let exported = |text: &str| parse_text(text).exported_at.map(|(t, origin)| (rfc3339(t), origin));
        let fhs = "FHS|^~\\&|||||202611240455-0500\r";
        let bhs = "BHS|^~\\&|||||20261124045630\r";
        assert_eq!(exported(&format!("{fhs}{bhs}{ADT}\rBTS|1\rFTS|1")), Some(("2026-11-24T09:55:00Z".into(), "FHS-7")));
        assert_eq!(exported(&format!("{bhs}{ADT}\rBTS|1")), Some(("2026-11-24T10:56:30Z".into(), "BHS-7")));
        assert_eq!(
            exported(&format!("FHS|^~\\&|||||not a time\r{ADT}\rFTS|1")),
            Some(("2026-11-24T11:00:00Z".into(), "MSH-7"))
        );
        assert_eq!(exported("MSH|^~\\&|EHR||||\rPID|1"), None);
    }

    #[test]
    fn a_header_time_without_an_offset_against_messages_with_another_is_noted() {
        let file = "FHS|^~\\&|||||20261124050000\rMSH|^~\\&|EHR|GENHOSP|||20261124050000-0600||ADT^A04|C1|P|2.5\rPID|1||M1\rFTS|1";
        let in_utc = ParseOptions { zone: Zone::parse("UTC").expect("zone"), ..ParseOptions::default() };
        let note = parse(file.as_bytes(), &in_utc).expect("parsed").export_time_note.expect("a note");
        assert!(note.contains("FHS-7 20261124050000 has no UTC offset") && note.contains("(+0000)"), "{note}");
        assert!(note.contains("carry -0600"), "{note}");
        // Read in the EHR's own zone, the same times agree.
        assert_eq!(parse_text(file).export_time_note, None);
        // With offsets everywhere, or nowhere, there is nothing to compare.
        assert_eq!(parse(ADT.as_bytes(), &in_utc).expect("parsed").export_time_note, None);
        let offsets = file.replace("|||||20261124050000\r", "|||||20261124050000-0600\r");
        assert_eq!(parse(offsets.as_bytes(), &in_utc).expect("parsed").export_time_note, None);
        // A night that crosses the fall-back: each message's offset is the zone's at its own time.
        let dst = "FHS|^~\\&|||||20261031230000\rMSH|^~\\&|EHR|GENHOSP|||20261101040000-0600 ||ADT^A04|C1|P|2.5\rPID|1||M1\rFTS|1";
        assert_eq!(parse_text(dst).export_time_note, None, "05:00 CDT before, 04:00 CST after");
        assert_eq!(written_offset("20261124050000.1234-0600 "), Some("-0600"));
        assert_eq!(written_offset("2026112405"), None);
    }

    #[test]
    fn a_batch_cut_short_or_miscounted_is_refused_whole() {
        let options = options();
        let whole = format!("FHS|^~\\&\rBHS|^~\\&\r{ADT}\r{}\rBTS|2\rFTS|1", ADT.replace("CTL1", "CTL2"));
        assert_eq!(parse(whole.as_bytes(), &options).map(|f| f.messages.len()), Ok(2));
        let cut = &whole[..whole.find("\rBTS").expect("BTS")];
        assert_eq!(parse(cut.as_bytes(), &options).err().as_deref(), Some("1 FHS but 0 FTS (file trailer) segment(s)"));
        let batch_cut = &cut["FHS|^~\\&\r".len()..];
        assert_eq!(
            parse(batch_cut.as_bytes(), &options).err().as_deref(),
            Some("1 BHS but 0 BTS (batch trailer) segment(s)")
        );
        let no_fts = &whole[..whole.find("\rFTS").expect("FTS")];
        assert_eq!(
            parse(no_fts.as_bytes(), &options).err().as_deref(),
            Some("1 FHS but 0 FTS (file trailer) segment(s)")
        );
        let miscounted = whole.replace("BTS|2", "BTS|3");
        assert_eq!(
            parse(miscounted.as_bytes(), &options).err().as_deref(),
            Some("BTS-1 counts 3 message(s) but the file holds 2")
        );
        // Where an EHR never writes trailers, `hl7.require_batch_trailers = false` takes such files;
        // a BTS that is there is still counted.
        let lenient = ParseOptions { require_batch_trailers: false, ..super::tests::options() };
        assert_eq!(parse(cut.as_bytes(), &lenient).map(|f| f.messages.len()), Ok(2));
        assert!(parse(miscounted.as_bytes(), &lenient).is_err());
        // A bare run of messages has no envelope to check; a BTS without its count is not counted.
        assert!(parse(ADT.as_bytes(), &options).is_ok());
        assert!(parse(whole.replace("BTS|2", "BTS|").as_bytes(), &options).is_ok());
    }

    #[test]
    fn a_bad_message_is_rejected_with_its_place_and_the_rest_still_parses() {
        let bad =
            "MSH|^~\\&|EHR|GENHOSP|||20261124||ORU^R01|CTL2|P|2.5\nPID|1||7654321^^^GENHOSP^MR\nOBX|1|NM|^no code||5";
        let text = format!("{ADT}\r\n{bad}\r\n\r\n{}", ADT.replace("CTL1", "CTL3"));
        let file = parse_text(&text);
        let parsed: Vec<(usize, Option<&str>, &str)> =
            file.messages.iter().map(|m| (m.index, m.control_id.as_deref(), m.message_type.as_str())).collect();
        assert_eq!(parsed, [(1, Some("CTL1"), "ADT^A04"), (3, Some("CTL3"), "ADT^A04")]);
        assert_eq!(
            file.rejects,
            vec![Reject {
                index: 2,
                line: 3,
                control_id: Some("CTL2".into()),
                segment: Some("OBX-3".into()),
                reason: "OBX without an observation code (OBX-3.1 is empty)".into(),
                raw: bad.replace('\n', "\r"),
            }]
        );
    }

    #[test]
    fn framing_and_delimiter_rejects() {
        let rejects = |text: &str| -> Vec<(usize, Option<String>, String)> {
            parse_text(text).rejects.into_iter().map(|r| (r.line, r.segment, r.reason)).collect()
        };
        assert_eq!(
            rejects("BHS|^~\\&\rEVN|A04\rPID|1||7654321\rBTS|1"),
            [(2, Some("MSH".into()), "segments outside any message (no MSH segment starts them)".into())]
        );
        assert_eq!(
            rejects("MSH|^&&^|EHR||||||ADT^A04|C\rPID|1||7654321"),
            [(1, Some("MSH-2".into()), "encoding characters \"^&&^\" repeat a delimiter".into())]
        );
        // A non-ASCII delimiter: hl7-parser cannot read it, and says where (not what: no content).
        assert_eq!(
            rejects("MSH|^~\\\u{B6}|EHR||||||ADT^A04|C\rPID|1||7654321"),
            [(1, None, "hl7-parser could not read the message (at character 3)".into())]
        );
    }

    fn first_patient(file: &ParsedFile) -> Option<(&str, Option<&str>, Option<&str>)> {
        file.messages.first()?.records.iter().find_map(|r| match r {
            Record::Patient(p) => Some((p.mrn.as_str(), p.family_name.as_deref(), p.given_name.as_deref())),
            _ => None,
        })
    }

    #[test]
    fn custom_delimiters_and_the_truncation_character() {
        let custom =
            parse_text("MSH$%~!&$EHR$$$$20261124$$ADT%A04$C1\nPID$1$$7654321%%%GENHOSP%MR$$O!S!Brien%Pat!F!Lee");
        assert_eq!(first_patient(&custom), Some(("7654321", Some("O%Brien"), Some("Pat$Lee"))));
        let truncation = parse_text("MSH|^~\\&#|EHR||||||ADT^A04|C1\rPID|1||7654321^^^GENHOSP^MR||Testpatient^Alex");
        assert_eq!(truncation.messages.first().map(|m| m.message_type.as_str()), Some("ADT^A04"));
        assert_eq!(first_patient(&truncation), Some(("7654321", Some("Testpatient"), Some("Alex"))));
    }

    #[test]
    fn windows_1252_text_is_decoded() {
        let mut bytes = b"MSH|^~\\&|EHR||||||ADT^A04|C1\rPID|1||7654321||M".to_vec();
        bytes.extend_from_slice(b"\xfcller^Ren\xe9e");
        let file = parse(&bytes, &options()).expect("envelope");
        assert_eq!(first_patient(&file), Some(("7654321", Some("Müller"), Some("Renée"))));
    }

    #[test]
    fn msh18_charsets_are_decoded_to_utf8() {
        let message = |charset: &str, name: &[u8]| {
            let head = format!("MSH|^~\\&|EHR||||||ADT^A04|C1|P|2.5||||||{charset}\rPID|1||7654321||");
            [head.as_bytes(), name].concat()
        };
        let family = |bytes: &[u8]| {
            first_patient(&parse(bytes, &options()).expect("envelope"))
                .and_then(|(_, family, _)| family.map(str::to_owned))
        };
        // ISO-8859-1: é is the byte E9.
        assert_eq!(family(&message("8859/1", b"Ren\xe9e")), Some("Renée".into()));
        // UTF-8, declared or not.
        assert_eq!(family(&message("UNICODE UTF-8", "Renée".as_bytes())), Some("Renée".into()));
        assert_eq!(family(&message("", "Renée".as_bytes())), Some("Renée".into()));
        // Undeclared and not UTF-8: Windows-1252, where 8A is Š and 9A is š.
        assert_eq!(family(&message("", b"\x8aime\x9aek")), Some("Šimešek".into()));
        // ISO-8859-2, where B1 is ą (in Windows-1252 it would be ±).
        assert_eq!(family(&message("8859/2", b"D\xb1browska")), Some("Dąbrowska".into()));
    }

    /// An HL7-shaped file: optional batch header, messages of the kinds we map (and others),
    /// segments of every kind we read, fields made of delimiters, escapes, nulls, digits and text.
    fn hl7_like_file() -> impl Strategy<Value = Vec<u8>> {
        let kinds = prop::sample::select(vec![
            "ADT^A01", "ADT^A02", "ADT^A03", "ADT^A11", "ADT^A13", "ADT^A28", "ORU^R01", "MDM^T02", "MDM^T05",
            "MDM^T10", "RDE^O11", "RDS^O13", "RAS^O17", "OMP^O09", "PPR^PC1", "PPR^PC3", "VXU^V04", "",
        ]);
        let ids = prop::sample::select(vec![
            "PID", "PV1", "EVN", "AL1", "DG1", "OBR", "OBX", "TXA", "ORC", "RXE", "RXO", "RXD", "RXA", "RXG", "RXR",
            "TQ1", "PRB", "NTE", "ZZZ", "MSH", "BHS", "BTS",
        ]);
        let field = "([0-9]{0,14}|\"\"|[-+.^~&#|\\\\ A-Za-zé]{0,6}|\\\\(F|S|T|R|E|\\.br|X[0-9A-F]{0,4}|H|N)\\\\|ED\\^application\\^pdf\\^Base64\\^[A-Za-z0-9+/=]{0,12})";
        let segment =
            (ids, prop::collection::vec(field, 0..20)).prop_map(|(id, fields)| format!("{id}|{}", fields.join("|")));
        let charset =
            prop::sample::select(vec!["", "ASCII", "8859/1", "8859/2", "UNICODE UTF-8", "GB 18030-2000", "??"]);
        let message = (kinds, charset, prop::collection::vec(segment, 0..12)).prop_map(|(kind, charset, segments)| {
            let msh = format!("MSH|^~\\&|EHR|GENHOSP|||20261124050000||{kind}|C1|P|2.5||||||{charset}");
            std::iter::once(msh).chain(segments).collect::<Vec<_>>().join("\r")
        });
        let terminator = prop::sample::select(vec!["\r", "\n", "\r\n"]);
        (prop::collection::vec(message, 1..4), terminator, any::<bool>(), prop::collection::vec(any::<u8>(), 0..3))
            .prop_map(|(messages, terminator, batch, noise)| {
                let mut text = if batch { format!("FHS|^~\\&|||||20261124{terminator}") } else { String::new() };
                text.push_str(&messages.join(terminator).replace('\r', terminator));
                let mut bytes = text.into_bytes();
                bytes.extend(noise);
                bytes
            })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
            let _ = crate::parse_file(&bytes, &ParseOptions::default());
        }

        #[test]
        fn arbitrary_bytes_after_an_msh_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            let input = [b"MSH|^~\\&|".as_slice(), &bytes].concat();
            let _ = crate::parse_file(&input, &ParseOptions::default());
        }

        #[test]
        fn hl7_like_files_never_panic(bytes in hl7_like_file()) {
            if let Ok((_, file)) = crate::parse_file(&bytes, &options()) {
                // Every message is either mapped or rejected, never both, never lost.
                let mut indexes: Vec<usize> = file.messages.iter().map(|m| m.index).chain(file.rejects.iter().map(|r| r.index)).collect();
                indexes.sort_unstable();
                prop_assert_eq!(indexes, (1..=file.messages.len() + file.rejects.len()).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn no_prefix_or_corruption_of_a_file_panics() {
        let text = format!(
            "\u{FEFF}FHS|^~\\&\rBHS|^~\\&\r{ADT}\rPV1||I|5A^1^2||||1^Doc^Ann|\\X\\\rOBX|1|NM|A^é\\T\\||1|\\Xé\\\rBTS|1\rFTS|1"
        );
        let bytes = text.as_bytes();
        for end in 0..=bytes.len() {
            let _ = parse(&bytes[..end], &options());
            let _ = parse(&bytes[end..], &options());
            let mut corrupted = bytes.to_vec();
            corrupted[end.min(bytes.len() - 1)] ^= 0x80;
            let _ = parse(&corrupted, &options());
        }
    }
}
