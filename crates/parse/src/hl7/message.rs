//! One framed message read through hl7-parser, which we use for segment/field/repetition/component
//! navigation only: the input it can read, the check that it kept every segment, decoded values.

use super::Fault;
use super::delims::Delimiters;
use super::escape;
use hl7_parser::message::{Repeat, Segment};

/// The message as hl7-parser can read it: segments joined with `\r`, a bare segment id given its
/// field separator, and MSH-2 rewritten to exactly four characters (the crate reads five fixed
/// characters after `MSH`, so a truncation character or a short MSH-2 would shift every field).
/// A delimiter the message does not declare becomes a control character absent from it.
pub(super) fn crate_input(segments: &[&str], d: &Delimiters) -> Result<String, Fault> {
    let (msh, rest) = segments.split_first().ok_or_else(|| Fault::at("MSH", "no MSH segment"))?;
    let mut spare = ('\u{1}'..='\u{1F}').filter(|&c| !c.is_whitespace() && !segments.iter().any(|s| s.contains(c)));
    let encoding = [d.component, d.repetition, d.escape, d.subcomponent]
        .into_iter()
        .map(|c| c.or_else(|| spare.next()))
        .collect::<Option<String>>()
        .ok_or_else(|| Fault::at("MSH-2", "no character is free to stand for an undeclared delimiter"))?;
    let after_msh2 = msh.get(3 + d.field.len_utf8()..).and_then(|s| s.find(d.field).and_then(|at| s.get(at..)));
    let mut input = format!("MSH{}{encoding}{}", d.field, after_msh2.unwrap_or_default());
    for segment in rest {
        input.push('\r');
        input.push_str(segment);
        if segment.len() == 3 {
            input.push(d.field);
        }
    }
    Ok(input)
}

/// hl7-parser returns `Ok` after dropping what it cannot read (ARCHITECTURE.md, HL7 v2): a message it read
/// only in part is rejected rather than half-ingested.
pub(super) fn check_complete(read: usize, framed: usize) -> Result<(), Fault> {
    if read == framed {
        Ok(())
    } else {
        Err(Fault::new(format!("hl7-parser read {read} of the message's {framed} segments")))
    }
}

/// A segment of the crate's tree with the message's delimiters, giving decoded values.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seg<'a> {
    segment: &'a Segment<'a>,
    delimiters: &'a Delimiters,
}

impl<'a> Seg<'a> {
    pub fn new(segment: &'a Segment<'a>, delimiters: &'a Delimiters) -> Seg<'a> {
        Seg { segment, delimiters }
    }

    /// The segment id, e.g. `PID`.
    pub fn id(&self) -> &'a str {
        self.segment.name
    }

    /// The repetitions of field `field` (1-based; none when the segment is shorter, or for 0).
    pub fn reps(&self, field: usize) -> &'a [Repeat<'a>] {
        if field == 0 {
            return &[];
        }
        self.segment.field(field).map_or(&[], |f| f.repeats.as_slice())
    }

    /// Component `component` (1-based) of a repetition, first subcomponent, decoded.
    pub fn comp(&self, rep: &Repeat<'_>, component: usize) -> Option<String> {
        self.comp_value(rep, component).text()
    }

    /// Component `component` of a repetition, first subcomponent, as the message states it.
    pub fn comp_value(&self, rep: &Repeat<'_>, component: usize) -> Value {
        self.sub_value(rep, component, 1)
    }

    /// Subcomponent `sub` of component `component` (both 1-based) of a repetition, decoded.
    pub fn sub(&self, rep: &Repeat<'_>, component: usize, sub: usize) -> Option<String> {
        self.sub_value(rep, component, sub).text()
    }

    fn sub_value(&self, rep: &Repeat<'_>, component: usize, sub: usize) -> Value {
        if component == 0 || sub == 0 {
            return Value::Empty;
        }
        rep.component(component).and_then(|c| c.subcomponent(sub)).map_or(Value::Empty, |s| self.decode(s.value))
    }

    /// Component `component` of the first repetition of field `field`.
    pub fn value(&self, field: usize, component: usize) -> Option<String> {
        self.get(field, component).text()
    }

    /// Component `component` of the first repetition of field `field`, as the message states it.
    pub fn get(&self, field: usize, component: usize) -> Value {
        self.reps(field).first().map_or(Value::Empty, |rep| self.comp_value(rep, component))
    }

    /// Raw text decoded and trimmed; `None` when empty or null.
    pub fn text(&self, raw: &str) -> Option<String> {
        self.decode(raw).text()
    }

    /// Raw text decoded and trimmed, told apart: empty, the HL7 null `""`, or text.
    pub fn decode(&self, raw: &str) -> Value {
        if raw.trim() == NULL {
            return Value::Null;
        }
        let decoded = escape::decode(raw, self.delimiters);
        let trimmed = decoded.trim();
        if trimmed.is_empty() { Value::Empty } else { Value::Text(trimmed.to_owned()) }
    }

    /// A line of narrative text (TX, FT): decoded, trailing spaces dropped but indentation and line
    /// breaks kept; empty or null is an empty line (a blank line of a report is part of it).
    pub fn line(&self, raw: &str) -> String {
        if raw.trim() == NULL {
            return String::new();
        }
        let mut decoded = escape::decode(raw, self.delimiters);
        decoded.truncate(decoded.trim_end_matches([' ', '\t']).len());
        decoded
    }
}

/// The HL7 null: "this value is explicitly absent", as opposed to an empty field ("not sent").
const NULL: &str = "\"\"";

/// A value as the message states it. HL7 v2 tells three cases apart:
///
/// - `Empty` — nothing sent (`||`): the sender says nothing about the value;
/// - `Null` — `""` (`|""|`): the sender says the value is explicitly absent ("delete it");
/// - `Text` — a value, escapes decoded and trimmed.
///
/// The rule for now: an explicit null clears the field, which for the model's `Option` fields is
/// `None`, the same as empty ([`Value::text`]); the store's precedence then keeps a known value, as
/// for any empty field. What matters is that `""` never becomes the literal text `""`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    Empty,
    Null,
    Text(String),
}

impl Value {
    /// The text, `None` for empty and null alike.
    pub fn text(self) -> Option<String> {
        match self {
            Value::Text(text) => Some(text),
            Value::Empty | Value::Null => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hl7_parser::Message;

    fn delimiters(msh: &str) -> Delimiters {
        Delimiters::from_msh(msh).expect("valid MSH-2")
    }

    fn input(segments: &[&str]) -> String {
        let first = segments.first().expect("MSH");
        crate_input(segments, &delimiters(first)).expect("input")
    }

    #[test]
    fn msh2_is_normalized_for_the_crate_and_bare_ids_get_a_separator() {
        assert_eq!(input(&["MSH|^~\\&#|A|B", "ZZZ", "PID|1"]), "MSH|^~\\&|A|B\rZZZ|\rPID|1");
        assert_eq!(input(&["MSH|^~\\\\&|A"]), "MSH|^~\\&|A");
        assert_eq!(input(&["MSH|^~&|A|", "PID|1"]), "MSH|^~\u{1}&|A|\rPID|1");
        assert_eq!(input(&["MSH|", "PID|\u{1}"]), "MSH|\u{2}\u{3}\u{4}\u{5}\rPID|\u{1}");
    }

    #[test]
    fn the_truncation_character_does_not_shift_fields() {
        let text = input(&["MSH|^~\\&#|SENDER|FACILITY|||20261124||ADT^A01|CTRL1"]);
        let message = Message::parse_with_lenient_newlines(&text, true).expect("parses");
        let d = delimiters("MSH|^~\\&#|");
        let msh = Seg::new(message.segments.first().expect("MSH"), &d);
        assert_eq!(
            (msh.value(3, 1), msh.value(9, 2), msh.value(10, 1)),
            (Some("SENDER".into()), Some("A01".into()), Some("CTRL1".into()))
        );
    }

    #[test]
    fn values_are_decoded_and_empty_or_null_is_none() {
        let text = "MSH|^~\\&|\rOBX|1|TX|| \"\" |a\\T\\b^c&d~e||\\H\\\\N\\";
        let message = Message::parse_with_lenient_newlines(text, true).expect("parses");
        let d = delimiters(text);
        let obx = Seg::new(message.segments.get(1).expect("OBX"), &d);
        assert_eq!(obx.id(), "OBX");
        assert_eq!((obx.value(3, 1), obx.value(4, 1), obx.value(7, 1), obx.value(99, 1)), (None, None, None, None));
        assert_eq!(obx.value(5, 1), Some("a&b".into()));
        assert_eq!(obx.value(5, 2), Some("c".into()));
        assert_eq!(obx.reps(5).len(), 2);
        assert_eq!(obx.reps(5).get(1).and_then(|rep| obx.comp(rep, 1)), Some("e".into()));
    }

    #[test]
    fn empty_null_and_text_are_told_apart_and_null_is_never_the_text_quotes() {
        let text = "MSH|^~\\&|\rPID|1||\"\"|| \"\" |^\"\"^x&\"\"|\"a\"|\"\"\"\"";
        let message = Message::parse_with_lenient_newlines(text, true).expect("parses");
        let d = delimiters(text);
        let pid = Seg::new(message.segments.get(1).expect("PID"), &d);
        assert_eq!(pid.get(2, 1), Value::Empty);
        assert_eq!(pid.get(3, 1), Value::Null);
        assert_eq!(pid.get(4, 1), Value::Empty);
        assert_eq!(pid.get(5, 1), Value::Null);
        assert_eq!((pid.get(6, 1), pid.get(6, 2), pid.get(6, 3)), (Value::Empty, Value::Null, Value::Text("x".into())));
        let rep = pid.reps(6).first().expect("PID-6");
        assert_eq!((pid.sub(rep, 3, 1), pid.sub(rep, 3, 2), pid.sub(rep, 3, 3)), (Some("x".into()), None, None));
        // Quotes around text are text; only the bare pair is the null.
        assert_eq!(pid.get(7, 1), Value::Text("\"a\"".into()));
        assert_eq!(pid.get(8, 1), Value::Text("\"\"\"\"".into()));
        assert_eq!((pid.value(3, 1), pid.value(5, 1)), (None, None));
        assert_eq!(Value::Null.text(), None);
        assert_eq!((pid.line("\"\""), pid.line("  indented\\.br\\x  ")), (String::new(), "  indented\nx".into()));
    }

    #[test]
    fn a_segment_the_crate_dropped_is_a_fault() {
        // Unframed text with a line the crate cannot read: it keeps 1 segment of 2.
        let text = "MSH|^~\\&|A\rnot a segment";
        let message = Message::parse_with_lenient_newlines(text, true).expect("parses");
        assert_eq!(
            check_complete(message.segments.len(), 2),
            Err(Fault::new("hl7-parser read 1 of the message's 2 segments"))
        );
        assert_eq!(check_complete(2, 2), Ok(()));
    }
}
