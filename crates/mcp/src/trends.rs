//! Results over time, pure: how severe a result is, the value before it and the change, and one
//! code's summary over a period. The rows come from `store::snapshot`; no SQL here.

use crate::dto::{Observation, PriorValue, Trend};
use ingest_config::CriticalLimit;

/// How a result reads: `Critical` (flag `HH`, `LL` or `AA`, or past a configured critical limit),
/// `Abnormal` (any other flag but `N`), `Normal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Critical,
    Abnormal,
    Normal,
}

/// The severity of a result of `code` with this flag and numeric value.
pub fn severity(code: &str, flag: Option<&str>, numeric: Option<f64>, limits: &[CriticalLimit]) -> Severity {
    let past_limit = numeric.is_some_and(|v| {
        limits
            .iter()
            .any(|l| l.code == code && (l.low.is_some_and(|low| v < low) || l.high.is_some_and(|high| v > high)))
    });
    match flag.map(str::trim) {
        _ if past_limit => Severity::Critical,
        Some("HH" | "LL" | "AA") => Severity::Critical,
        Some(f) if !f.is_empty() && f != "N" => Severity::Abnormal,
        _ => Severity::Normal,
    }
}

/// `L` or `H` when a number lies outside a reference range written `low-high` (`3.5-5.1`,
/// `3.5 - 5.1`, `13 to 18`), `<high`, `<=high`, `>low` or `>=low`, in brackets or not, with a unit
/// after it or not (`(2.5-4.5)`, `135 - 145 mmol/L`); `None` inside it, or for a range written any
/// other way (`negative`, `see comment`, one range per sex). For a result the export gave no flag:
/// an unflagged 2.9 beside `3.5-5.1` must not read as normal.
pub fn range_flag(value: f64, range: &str) -> Option<&'static str> {
    let range = range.trim().trim_start_matches(['(', '[']).trim_end_matches([')', ']']);
    // A unit after the numbers: cut after the last digit.
    let range = &range[..range.rfind(|c: char| c.is_ascii_digit())? + 1];
    let number = |s: &str| s.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    let (low, high) = if let Some(rest) = range.strip_prefix("<=").or_else(|| range.strip_prefix('<')) {
        (None, Some(number(rest)?))
    } else if let Some(rest) = range.strip_prefix(">=").or_else(|| range.strip_prefix('>')) {
        (Some(number(rest)?), None)
    } else {
        // The dash after the first character: `-5-5` has a negative low.
        let (low, high) = range.split_once(" to ").or_else(|| {
            range.char_indices().skip(1).find(|&(_, c)| c == '-').map(|(i, _)| (&range[..i], &range[i + 1..]))
        })?;
        (Some(number(low)?), Some(number(high)?))
    };
    match (low, high) {
        (Some(low), _) if value < low => Some("L"),
        (_, Some(high)) if value > high => Some("H"),
        _ => None,
    }
}

/// The severity of an answer's result (its `critical` already judged).
pub fn of(o: &Observation) -> Severity {
    if o.critical {
        Severity::Critical
    } else {
        match o.abnormal_flag.as_deref().map(str::trim) {
            Some(f) if !f.is_empty() && f != "N" => Severity::Abnormal,
            _ => Severity::Normal,
        }
    }
}

/// `later - earlier` when both are numbers, rounded to the decimals the values were written with.
pub fn delta(later: &Observation, earlier: &Observation) -> Option<f64> {
    let (a, b) = (later.numeric_value?, earlier.numeric_value?);
    let decimals = |o: &Observation| {
        o.value.as_ref().and_then(|v| v.raw().split_once('.')).map_or(0, |(_, frac)| frac.len().min(6)) as i32
    };
    let scale = 10f64.powi(decimals(later).max(decimals(earlier)));
    Some(((a - b) * scale).round() / scale)
}

/// A result as the earlier value of `later`.
fn prior(later: &Observation, earlier: &Observation) -> PriorValue {
    PriorValue {
        value: earlier.value.clone(),
        abnormal_flag: earlier.abnormal_flag.clone().filter(|f| !f.is_empty() && f != "N"),
        observed_at: earlier.observed_at.clone(),
        delta: delta(later, earlier),
    }
}

/// Give `newest` its `previous` (with the change) and up to two `earlier` values from `older`
/// (the same code, newest first).
pub fn with_history(mut newest: Observation, older: &[Observation]) -> Observation {
    let mut chain = older.iter();
    if let Some(previous) = chain.next() {
        newest.previous = Some(prior(&newest, previous));
        let mut later = previous;
        for earlier in chain.take(2) {
            newest.earlier.push(prior(later, earlier));
            later = earlier;
        }
    }
    newest
}

/// One code's results (newest first, at least one) as a trend line.
pub fn trend(results: &[Observation]) -> Option<Trend> {
    let (newest, older) = results.split_first()?;
    let numbers = results.iter().filter_map(|o| o.numeric_value);
    let min = numbers.clone().reduce(f64::min);
    let max = numbers.reduce(f64::max);
    Some(Trend {
        code: newest.code.clone(),
        name: newest.name.clone(),
        unit: newest.unit.clone(),
        reference_range: newest.reference_range.clone(),
        count: results.len(),
        abnormal: results.iter().filter(|o| of(o) != Severity::Normal).count(),
        critical: results.iter().filter(|o| of(o) == Severity::Critical).count(),
        latest: with_history(newest.clone(), older),
        min,
        max,
        first_at: results.last().and_then(|o| o.observed_at.clone()),
        last_at: newest.observed_at.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::{ClinicalText, Freshness, ResultValue};

    fn result(value: &str, flag: &str, at: &str) -> Observation {
        Observation {
            code: "718-7".into(),
            code_system: Some("LN".into()),
            name: Some(ClinicalText::new("Hemoglobin")),
            value: Some(ResultValue::of(value)),
            value_type: Some("NM".into()),
            numeric_value: value.parse().ok(),
            unit: Some("g/dL".into()),
            reference_range: Some(ClinicalText::new("12.0-17.5")),
            abnormal_flag: (!flag.is_empty()).then(|| flag.into()),
            critical: flag == "LL",
            status: Some("F".into()),
            observed_at: Some(at.into()),
            resulted_at: None,
            order_id: "O1".into(),
            comment: None,
            flag_from_range: false,
            previous: None,
            earlier: Vec::new(),
            freshness: Freshness {
                exported_at: at.into(),
                ingested_at: at.into(),
                source: "ward".into(),
                source_file: "f.hl7".into(),
            },
        }
    }

    #[test]
    fn a_falling_hemoglobin_reads_as_a_trend_with_its_deltas() {
        let series = [
            result("6.8", "LL", "2026-12-03T10:00:00Z"),
            result("7.3", "L", "2026-12-02T10:00:00Z"),
            result("7.4", "L", "2026-12-01T10:00:00Z"),
            result("9.0", "L", "2026-11-30T10:00:00Z"),
            result("11.0", "L", "2026-11-29T10:00:00Z"),
        ];
        let t = trend(&series).expect("a trend");
        assert_eq!((t.count, t.abnormal, t.critical), (5, 5, 1));
        assert_eq!((t.min, t.max), (Some(6.8), Some(11.0)));
        let previous = t.latest.previous.as_ref().expect("previous");
        assert_eq!((previous.value.as_ref().map(ResultValue::raw), previous.delta), (Some("7.3"), Some(-0.5)));
        let earlier: Vec<_> =
            t.latest.earlier.iter().map(|p| (p.value.as_ref().map(ResultValue::raw), p.delta)).collect();
        assert_eq!(earlier, [(Some("7.4"), Some(-0.1)), (Some("9.0"), Some(-1.6))]);
        assert_eq!(t.first_at.as_deref(), Some("2026-11-29T10:00:00Z"));
    }

    #[test]
    fn critical_comes_from_the_flag_or_a_configured_limit() {
        let k = [CriticalLimit { code: "2823-3".into(), low: Some(2.8), high: Some(6.2) }];
        assert_eq!(severity("2823-3", Some("H"), Some(6.4), &k), Severity::Critical);
        assert_eq!(severity("2823-3", Some("H"), Some(5.9), &k), Severity::Abnormal);
        assert_eq!(severity("2823-3", None, Some(2.5), &k), Severity::Critical);
        assert_eq!(severity("718-7", Some("LL"), Some(6.0), &k), Severity::Critical);
        assert_eq!(severity("718-7", Some("N"), Some(13.0), &k), Severity::Normal);
        assert_eq!(severity("718-7", Some(""), None, &k), Severity::Normal);
    }

    #[test]
    fn a_number_outside_its_written_reference_range_is_low_or_high() {
        let cases = [
            (2.9, "3.5-5.1", Some("L")),
            (5.2, "3.5 - 5.1", Some("H")),
            (4.0, "3.5-5.1", None),
            (12.5, "13 to 18", Some("L")),
            (-6.0, "-5-5", Some("L")),
            (250.0, "<200", Some("H")),
            (200.0, "<=200", None),
            (39.0, ">40", Some("L")),
            (61.0, "70-140", Some("L")),
            (1.0, "negative", None),
            (1.0, "see comment", None),
            (1.0, "", None),
            (24.1, "10.0-20.0 µg/mL", Some("H")),
            (129.0, "135 - 145 mmol/L", Some("L")),
            (1.9, "(2.5-4.5)", Some("L")),
            (3.0, "[2.5-4.5]", None),
            (0.6, "<0.50 ng/mL", Some("H")),
            (11.0, "M: 13.5-17.5 F: 12.0-16.0", None),
            (20.0, "0-5 x10^9/L", None),
        ];
        for (value, range, flag) in cases {
            assert_eq!(range_flag(value, range), flag, "{value} against {range:?}");
        }
    }
}
