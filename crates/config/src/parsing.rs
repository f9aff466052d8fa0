//! `[hl7]`, `[[csv.mapping]]` and `[pdf]`: how files are read, checked into the parsers' own
//! option types.

use super::*;
use crate::raw::*;

pub(crate) fn check_csv_mapping(raw: RawCsvMapping) -> Result<CsvMapping, (String, String)> {
    let fail = |key: &str, m: String| (key.to_string(), m);
    let pattern =
        raw.pattern.ok_or_else(|| fail("pattern", "missing: a file-name glob such as \"census_*.csv\"".into()))?;
    let matcher = ingest_parse::csv::glob(&pattern).map_err(|m| fail("pattern", m))?;
    let kind_name = raw.kind.ok_or_else(|| fail("kind", "missing".into()))?;
    let kind = match CsvKind::parse(&kind_name) {
        Some(kind) => kind,
        None => {
            let known: Vec<&str> = CsvKind::ALL.iter().map(CsvKind::as_str).collect();
            return Err(fail("kind", format!("unknown kind {kind_name:?} (one of {})", known.join(", "))));
        }
    };
    let mut columns = BTreeMap::new();
    let mut derived = BTreeMap::new();
    let mut defaults = BTreeMap::new();
    let mut field_formats = BTreeMap::new();
    for (field, column) in raw.columns {
        if !kind.knows(&field) {
            let mut known: Vec<&str> = kind.required().to_vec();
            known.extend(kind.optional());
            return Err(fail(
                &format!("columns.{field}"),
                format!("not a {} field (one of {})", kind.as_str(), known.join(", ")),
            ));
        }
        let key = format!("columns.{field}");
        let aliases = match column {
            RawColumn::Aliases(OneOrMany::One(a)) => vec![a],
            RawColumn::Aliases(OneOrMany::Many(a)) => a,
            RawColumn::Built(mut built) => {
                // A default or a constant would invent an identity, or a registration's values that
                // then overwrite what an ADT says.
                let invented = built.default.is_some() || built.constant.is_some();
                let protected = ["family_name", "given_name", "birth_date", "sex"];
                if invented && (kind.required().contains(&field.as_str()) || protected.contains(&field.as_str())) {
                    return Err(fail(
                        &key,
                        "cannot have a default or a constant: it identifies the record or is a demographic that \
                         would overwrite what the EHR says"
                            .into(),
                    ));
                }
                if let Some(default) = built.default.clone() {
                    defaults.insert(field.clone(), default);
                }
                if built.formats.is_some() && !(field.ends_with("_at") || field == "birth_date") {
                    return Err(fail(&format!("{key}.formats"), "only a date or time field has formats".into()));
                }
                if let Some(formats) = built.formats.take() {
                    if let Some((format, why)) = formats.iter().find_map(|f| bad_strftime(f).map(|why| (f, why))) {
                        return Err(fail(&format!("{key}.formats"), format!("{format:?} {why}")));
                    }
                    if formats.is_empty() {
                        return Err(fail(&format!("{key}.formats"), "needs at least one format".into()));
                    }
                    field_formats.insert(field.clone(), formats);
                }
                match built_field(built).map_err(|m| fail(&key, m))? {
                    Ok(aliases) => aliases,
                    Err(built) => {
                        derived.insert(field, built);
                        continue;
                    }
                }
            }
        };
        if aliases.is_empty() {
            return Err(fail(&key, "needs at least one header name".into()));
        }
        columns.insert(field, aliases);
    }
    let mapped = |f: &str| columns.contains_key(f) || derived.contains_key(f);
    if let Some(missing) = kind.required().iter().find(|f| !mapped(f)) {
        return Err(fail(&format!("columns.{missing}"), format!("missing: a {} mapping needs it", kind.as_str())));
    }
    let skip_rows = match raw.skip_rows.as_deref().map(regex::Regex::new) {
        None => None,
        Some(Ok(regex)) => Some(regex),
        Some(Err(e)) => return Err(fail("skip_rows", format!("not a regex: {e}"))),
    };
    if !raw.extra.is_empty() && kind != CsvKind::Census {
        return Err(fail("extra", "only a census mapping keeps extra columns (as the stay's notes)".into()));
    }
    if raw.complete && kind != CsvKind::Medications {
        return Err(fail("complete", "only a medications mapping can be a complete list".into()));
    }
    if let Some(bad) = raw.optional.iter().find(|f| !mapped(f.as_str()) || kind.required().contains(&f.as_str())) {
        return Err(fail(
            "optional",
            format!("{bad:?} must be a mapped optional field (under columns) that a file may lack"),
        ));
    }
    let byte = |key: &str, value: Option<String>, default: u8| -> Result<u8, (String, String)> {
        match value.as_deref() {
            None => Ok(default),
            Some("\\t" | "tab") => Ok(b'\t'),
            Some(v) if v.len() == 1 && v.is_ascii() => Ok(v.as_bytes()[0]),
            Some(v) => Err(fail(key, format!("{v:?} must be one ASCII character (or \"tab\")"))),
        }
    };
    let delimiter = byte("delimiter", raw.delimiter, b',')?;
    let quote = byte("quote", raw.quote, b'"')?;
    let encoding = match raw.encoding.as_deref() {
        None => encoding_rs::UTF_8,
        Some(label) => encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| {
            fail("encoding", format!("unknown encoding {label:?} (e.g. \"utf-8\", \"windows-1252\", \"latin1\")"))
        })?,
    };
    let date_formats = raw.date_formats.unwrap_or_else(|| {
        ["%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"].map(String::from).to_vec()
    });
    if date_formats.is_empty() {
        return Err(fail("date_formats", "needs at least one format".into()));
    }
    if let Some((format, why)) = date_formats.iter().find_map(|f| bad_strftime(f).map(|why| (f, why))) {
        return Err(fail("date_formats", format!("{format:?} {why}")));
    }
    let file_name_time = match (raw.file_name_time, raw.file_name_time_format) {
        (None, None) => None,
        (Some(re), Some(format)) => {
            if let Some(why) = bad_strftime(&format) {
                return Err(fail("file_name_time_format", format!("{format:?} {why}")));
            }
            let regex = regex::Regex::new(&re).map_err(|e| fail("file_name_time", e.to_string()))?;
            if regex.capture_names().all(|n| n != Some("ts")) {
                return Err(fail("file_name_time", "needs a named group (?<ts>...)".into()));
            }
            Some(FileNameTime { regex, format })
        }
        (Some(_), None) => {
            return Err(fail("file_name_time_format", "missing: the strftime format of (?<ts>...)".into()));
        }
        (None, Some(_)) => return Err(fail("file_name_time", "missing: a regex with a named group (?<ts>...)".into())),
    };
    Ok(CsvMapping {
        name: raw.name.unwrap_or_else(|| pattern.clone()),
        pattern,
        matcher,
        kind,
        columns,
        date_formats,
        delimiter,
        quote,
        encoding,
        file_name_time,
        may_lack: raw.optional.into_iter().collect(),
        derived,
        defaults,
        field_formats,
        // What the mapping does not read is the site's choice.
        whole_header: false,
        complete: raw.complete,
        extra: raw.extra,
        skip_rows,
    })
}

/// A table under `columns`: header aliases (`column`, with a `default`), or a field built from the
/// row (`join`, `column` + `part`/`regex`, `constant`).
pub(crate) fn built_field(b: RawBuilt) -> Result<Result<Vec<String>, Derived>, String> {
    match (b.column, b.join, b.constant) {
        (Some(column), None, None) => match (b.part, b.regex, b.group) {
            (None, None, None) => Ok(Ok(vec![column])),
            (Some(part), None, None) if part == "family" || part == "given" => Ok(Err(Derived::Part {
                column,
                regex: regex::Regex::new(ingest_parse::csv::NAME_PARTS).map_err(|e| e.to_string())?,
                group: part,
            })),
            (Some(part), None, None) => {
                Err(format!("part {part:?} must be \"family\" or \"given\" (of FAMILY, GIVEN)"))
            }
            (None, Some(regex), Some(group)) => {
                let compiled = regex::Regex::new(&regex).map_err(|e| format!("regex: {e}"))?;
                if !compiled.capture_names().any(|n| n == Some(group.as_str())) {
                    return Err(format!("the regex has no group named {group:?} (write (?<{group}>...))"));
                }
                Ok(Err(Derived::Part { column, regex: compiled, group }))
            }
            _ => Err("with column: either part = \"family\"/\"given\", or regex and group, or neither".into()),
        },
        (None, Some(join), None) if join.len() >= 2 => {
            Ok(Err(Derived::Join { columns: join, separator: b.separator.unwrap_or_else(|| " ".into()) }))
        }
        (None, Some(_), None) => Err("join needs two or more header names".into()),
        (None, None, Some(constant)) => Ok(Err(Derived::Constant(constant))),
        _ => Err("give one of column, join or constant".into()),
    }
}

/// Why a strftime format cannot read a date: an unknown `%` specifier, or no specifier at all
/// (`MM/DD/YYYY` is a literal, not a format).
pub(crate) fn bad_strftime(format: &str) -> Option<String> {
    use chrono::format::{Item, StrftimeItems};
    let items: Vec<Item<'_>> = StrftimeItems::new(format).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Some("has an unknown % specifier (see chrono's strftime: %Y %m %d %H %M %S …)".into());
    }
    if !items.iter().any(|i| matches!(i, Item::Numeric(..) | Item::Fixed(_))) {
        return Some("reads nothing: write it with % specifiers, e.g. \"%m/%d/%Y\" for 12/03/2026".into());
    }
    None
}

pub(crate) fn check_pdf(raw: RawPdf) -> Result<PdfOptions, (String, String)> {
    let timeout = duration("pdf.timeout", raw.timeout, ingest_parse::pdf::DEFAULT_TIMEOUT, Zero::Refused)?;
    let manifest_wait =
        duration("pdf.manifest_wait", raw.manifest_wait, ingest_parse::pdf::DEFAULT_MANIFEST_WAIT, Zero::Allowed)?;
    if raw.mapping.is_empty() {
        return Ok(PdfOptions { mappings: ingest_parse::pdf::built_in_mappings(), timeout, manifest_wait });
    }
    let mut mappings = Vec::with_capacity(raw.mapping.len());
    for (i, m) in raw.mapping.into_iter().enumerate() {
        let fail = |field: &str, message: String| (format!("pdf.mapping[{i}].{field}"), message);
        let pattern =
            m.pattern.ok_or_else(|| fail("pattern", "missing: a file-name glob such as \"NOTE_*.pdf\"".into()))?;
        let matcher = ingest_parse::csv::glob(&pattern).map_err(|e| fail("pattern", e))?;
        let re =
            m.file_name.ok_or_else(|| fail("file_name", "missing: a regex with a named group (?<mrn>...)".into()))?;
        let file_name = regex::Regex::new(&re).map_err(|e| fail("file_name", e.to_string()))?;
        let groups: Vec<&str> = file_name.capture_names().flatten().collect();
        if !groups.contains(&"mrn") {
            return Err(fail("file_name", "needs a named group (?<mrn>...)".into()));
        }
        let date_format = match (groups.contains(&"date"), m.date_format) {
            (true, Some(format)) => format,
            (true, None) => return Err(fail("date_format", "missing: the strftime format of (?<date>...)".into())),
            (false, Some(_)) => {
                return Err(fail("file_name", "date_format is set, so needs a group (?<date>...)".into()));
            }
            (false, None) => String::new(),
        };
        mappings.push(PdfMapping {
            name: m.name.unwrap_or_else(|| pattern.clone()),
            example: format!("a name matching {pattern} and {re}"),
            pattern,
            matcher,
            file_name,
            date_format,
        });
    }
    Ok(PdfOptions { mappings, timeout, manifest_wait })
}
