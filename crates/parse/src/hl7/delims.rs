//! The delimiters one message declares in MSH-1 and MSH-2 (any characters; MSH-2 of up to 5).

use super::Fault;

/// The delimiters of one message. One that MSH-2 does not declare is `None`: nothing is split on
/// it, and its escape sequence is left as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Delimiters {
    pub field: char,
    pub component: Option<char>,
    pub repetition: Option<char>,
    pub escape: Option<char>,
    pub subcomponent: Option<char>,
}

/// The standard encoding characters, in MSH-2 order: component, repetition, escape, subcomponent.
const STANDARD: [char; 4] = ['^', '~', '\\', '&'];

impl Delimiters {
    /// Read the delimiters from an MSH segment (`MSH|^~\&|…`).
    ///
    /// - MSH-2 of 4 characters is read by position; a 5th (the v2.7 truncation character) is
    ///   ignored, so it shifts nothing.
    /// - A shorter MSH-2 has lost a character (`^~&`, `^\&`: a backslash eaten by string
    ///   escaping in the exporter), so a standard character keeps its standard role and any
    ///   other takes the first free role in order.
    /// - The escape character doubled (`^~\\&`, a string literal pasted unescaped) counts once.
    /// - A whitespace escape character (`^~ &`) declares no escape: text with spaces is not
    ///   made of escape sequences.
    pub fn from_msh(msh: &str) -> Result<Delimiters, Fault> {
        let mut chars = msh.chars().skip(3);
        let field = chars.next().ok_or_else(|| Fault::at("MSH-1", "MSH has no field separator"))?;
        let written: String = chars.take_while(|&c| c != field).collect();
        let mut encoding: Vec<char> = written.chars().collect();
        if encoding.len() == 5 && encoding.get(2) == encoding.get(3) {
            encoding.remove(3);
        }
        if encoding.len() > 5 {
            return Err(Fault::at("MSH-2", format!("encoding characters {written:?} are more than 5")));
        }
        let mut roles: [Option<char>; 4] = [None; 4];
        if encoding.len() >= 4 {
            for (role, c) in roles.iter_mut().zip(&encoding) {
                *role = Some(*c);
            }
        } else {
            for &c in &encoding {
                let standard = STANDARD.iter().position(|&s| s == c).filter(|&i| roles.get(i) == Some(&None));
                let role = standard.or_else(|| roles.iter().position(Option::is_none));
                if let Some(slot) = role.and_then(|i| roles.get_mut(i)) {
                    *slot = Some(c);
                }
            }
        }
        let [component, repetition, escape, subcomponent] = roles;
        let delimiters =
            Delimiters { field, component, repetition, escape: escape.filter(|c| !c.is_whitespace()), subcomponent };
        let declared: Vec<char> = std::iter::once(field).chain(roles.into_iter().flatten()).collect();
        if declared.iter().enumerate().any(|(i, c)| declared.get(i + 1..).is_some_and(|rest| rest.contains(c))) {
            return Err(Fault::at("MSH-2", format!("encoding characters {written:?} repeat a delimiter")));
        }
        Ok(delimiters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(msh: &str) -> Result<Delimiters, Fault> {
        Delimiters::from_msh(msh)
    }

    fn delims(field: char, encoding: [Option<char>; 4]) -> Delimiters {
        let [component, repetition, escape, subcomponent] = encoding;
        Delimiters { field, component, repetition, escape, subcomponent }
    }

    #[test]
    fn standard_and_custom_delimiters_are_read_by_position() {
        let standard = delims('|', [Some('^'), Some('~'), Some('\\'), Some('&')]);
        assert_eq!(read("MSH|^~\\&|APP"), Ok(standard));
        assert_eq!(read("MSH$%~\\&$GHH LAB"), Ok(delims('$', [Some('%'), Some('~'), Some('\\'), Some('&')])));
        assert_eq!(read("MSH:-+?*:::"), Ok(delims(':', [Some('-'), Some('+'), Some('?'), Some('*')])));
    }

    #[test]
    fn the_truncation_character_and_a_doubled_escape_shift_nothing() {
        let standard = delims('|', [Some('^'), Some('~'), Some('\\'), Some('&')]);
        assert_eq!(read("MSH|^~\\&#|APP"), Ok(standard));
        assert_eq!(read("MSH|^~\\\\&|APP"), Ok(standard));
    }

    #[test]
    fn a_short_msh2_keeps_standard_characters_in_their_roles() {
        assert_eq!(read("MSH|^~&|APP"), Ok(delims('|', [Some('^'), Some('~'), None, Some('&')])));
        assert_eq!(read("MSH|^\\&|APP"), Ok(delims('|', [Some('^'), None, Some('\\'), Some('&')])));
        assert_eq!(read("MSH|@%\\|"), Ok(delims('|', [Some('@'), Some('%'), Some('\\'), None])));
        assert_eq!(read("MSH||"), Ok(delims('|', [None; 4])));
    }

    #[test]
    fn a_whitespace_escape_character_declares_no_escape() {
        assert_eq!(read("MSH|^~ &|APP"), Ok(delims('|', [Some('^'), Some('~'), None, Some('&')])));
    }

    #[test]
    fn invalid_encoding_characters_are_rejected_naming_msh2() {
        let too_long = read("MSH|^~\\&#$|").expect_err("6 characters");
        assert_eq!(too_long, Fault::at("MSH-2", "encoding characters \"^~\\\\&#$\" are more than 5"));
        let repeated = read("MSH|^&&^|APP").expect_err("duplicate");
        assert_eq!(repeated, Fault::at("MSH-2", "encoding characters \"^&&^\" repeat a delimiter"));
        assert_eq!(read("MSH"), Err(Fault::at("MSH-1", "MSH has no field separator")));
    }
}
