//! Escape sequences, decoded by us: hl7-parser's decoder garbles and can panic (ARCHITECTURE.md, HL7 v2).

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
    use proptest::prelude::*;

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

    /// The inverse of [`decode`], for tests: every delimiter escaped, line breaks as `\.br\`, a
    /// carriage return as `\X0D\`.
    fn encode(text: &str, d: &Delimiters) -> String {
        let Some(escape) = d.escape else { return text.to_owned() };
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            let sequence = match c {
                _ if c == escape => "E",
                _ if c == d.field => "F",
                _ if Some(c) == d.component => "S",
                _ if Some(c) == d.subcomponent => "T",
                _ if Some(c) == d.repetition => "R",
                '\n' => ".br",
                '\r' => "X0D",
                _ => {
                    out.push(c);
                    continue;
                }
            };
            out.push(escape);
            out.push_str(sequence);
            out.push(escape);
        }
        out
    }

    /// Five distinct delimiters (field, component, repetition, escape, subcomponent), not
    /// letters, digits or line breaks.
    fn delimiters() -> impl Strategy<Value = Delimiters> {
        let candidates: Vec<char> = "|^~\\&#$%!@*+:;?/=-_'`<>{}[]()".chars().collect();
        proptest::sample::subsequence(candidates, 5).prop_shuffle().prop_map(|c| Delimiters {
            field: c[0],
            component: Some(c[1]),
            repetition: Some(c[2]),
            escape: Some(c[3]),
            subcomponent: Some(c[4]),
        })
    }

    proptest! {
        #[test]
        fn encoded_text_decodes_to_itself(text in any::<String>(), d in delimiters()) {
            let encoded = encode(&text, &d);
            for delimiter in [Some(d.field), d.component, d.repetition, d.subcomponent].into_iter().flatten() {
                prop_assert!(!encoded.contains(delimiter), "{encoded:?} contains {delimiter:?}");
            }
            prop_assert_eq!(decode(&encoded, &d), text);
        }

        #[test]
        fn standard_delimiters_round_trip_hl7_like_text(text in "[ -~éü\n\r\\|^~&]{0,64}") {
            prop_assert_eq!(decode(&encode(&text, &STANDARD), &STANDARD), text);
        }

        #[test]
        fn any_text_decodes_without_panicking(raw in r"(\\|[A-Za-z0-9. ]|é|\\X[0-9A-Fa-f]{0,6}\\?)*", d in delimiters()) {
            let raw = raw.replace('\\', &d.escape.map(String::from).unwrap_or_default());
            let _ = decode(&raw, &d);
            let _ = decode(&raw, &STANDARD);
        }
    }

    #[test]
    fn without_an_escape_character_nothing_is_decoded() {
        let none = Delimiters { escape: None, ..STANDARD };
        assert_eq!(decode(r"a\F\b", &none), r"a\F\b");
    }
}
