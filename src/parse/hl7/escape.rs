//! Escape sequences, decoded by us: hl7-parser's decoder garbles and can panic (HL7-NOTES 6).

use super::delims::Delimiters;
use encoding_rs::WINDOWS_1252;

/// Decode `\F\ \S\ \T\ \R\ \E\` to the delimiters, `\.br\` to a newline, `\Xhh…\` to the bytes it
/// spells (UTF-8 if they are, else Windows-1252); drop `\H\ \N\` (highlighting). Anything unknown
/// or unterminated is left as written.
pub(super) fn decode(raw: &str, delimiters: &Delimiters) -> String {
    let Some(escape) = delimiters.escape else {
        return raw.to_owned();
    };
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find(escape) {
        out.push_str(&rest[..start]);
        let after = &rest[start + escape.len_utf8()..];
        let Some(end) = after.find(escape) else {
            out.push_str(&rest[start..]);
            return out;
        };
        match expand(&after[..end], delimiters) {
            Some(text) => {
                out.push_str(&text);
                rest = &after[end + escape.len_utf8()..];
            }
            // Keep the escape character; its closing one may open the next sequence.
            None => {
                out.push(escape);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn expand(sequence: &str, d: &Delimiters) -> Option<String> {
    let delimiter = match sequence {
        "F" => Some(d.field),
        "S" => d.component,
        "T" => d.subcomponent,
        "R" => d.repetition,
        "E" => d.escape,
        ".br" => Some('\n'),
        "H" | "N" => return Some(String::new()),
        _ => return hex(sequence),
    };
    delimiter.map(String::from)
}

fn hex(sequence: &str) -> Option<String> {
    let digits = sequence.strip_prefix('X')?;
    if digits.is_empty() || digits.len() % 2 != 0 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes = (0..digits.len())
        .step_by(2)
        .map(|i| digits.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect::<Option<Vec<u8>>>()?;
    Some(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => WINDOWS_1252.decode_without_bom_handling(e.as_bytes()).0.into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANDARD: Delimiters = Delimiters {
        field: '|',
        component: Some('^'),
        repetition: Some('~'),
        escape: Some('\\'),
        subcomponent: Some('&'),
    };

    fn decoded(raw: &str) -> String {
        decode(raw, &STANDARD)
    }

    #[test]
    fn delimiter_escapes_become_the_delimiters() {
        assert_eq!(decoded(r"a\F\b\S\c\T\d\R\e\E\f"), r"a|b^c&d~e\f");
        let custom = Delimiters {
            field: '$',
            component: Some('%'),
            repetition: Some('~'),
            escape: Some('!'),
            subcomponent: None,
        };
        assert_eq!(decode("5!F!6!S!7!E!!T!", &custom), "5$6%7!!T!");
    }

    #[test]
    fn line_breaks_hex_and_highlighting() {
        assert_eq!(decoded(r"line 1\.br\line 2"), "line 1\nline 2");
        assert_eq!(decoded(r"\X0D\\X0A\"), "\r\n");
        assert_eq!(decoded(r"Na\XE281BA\ 140"), "Na⁺ 140");
        assert_eq!(decoded(r"Caf\XE9\"), "Café");
        assert_eq!(decoded(r"\H\IMPORTANT\N\ text"), "IMPORTANT text");
    }

    #[test]
    fn unknown_and_unterminated_escapes_are_left_as_written() {
        assert_eq!(decoded(r"\Zabc\ \.sp\ \X1\ \XZZ\"), r"\Zabc\ \.sp\ \X1\ \XZZ\");
        assert_eq!(decoded(r"ééé\T\x"), "ééé&x");
        assert_eq!(decoded(r"a\Zq\\F\b"), r"a\Zq\|b");
        assert_eq!(decoded(r"50\F"), r"50\F");
        assert_eq!(decoded(r"C:\temp\F\x"), r"C:\temp|x");
    }

    #[test]
    fn without_an_escape_character_nothing_is_decoded() {
        let none = Delimiters { escape: None, ..STANDARD };
        assert_eq!(decode(r"a\F\b", &none), r"a\F\b");
    }
}
