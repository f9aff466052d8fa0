//! Timestamps, read by us: hl7-parser gets negative half-hour offsets wrong, reads a time without
//! an offset as UTC and checks no ranges (ARCHITECTURE.md, HL7 v2).
//!
//! Form: `YYYY[MM[DD[HH[MM[SS[.S{1,4}]]]]]][+/-HHMM]`. A lower precision means the start of that
//! period; a time without an offset is wall-clock time in the configured zone.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use ingest_core::time::Zone;

/// The instant a timestamp names; `None` for an empty value.
pub(super) fn instant(value: &str, zone: &Zone) -> Result<Option<DateTime<Utc>>, String> {
    let Some((wall_clock, offset)) = read(value)? else {
        return Ok(None);
    };
    Ok(Some(match offset {
        Some(offset) => offset
            .from_local_datetime(&wall_clock)
            .single()
            .ok_or_else(|| invalid(value, "not representable"))?
            .with_timezone(&Utc),
        None => zone.to_utc(wall_clock),
    }))
}

/// The calendar date a timestamp names as written (a birth date: no zone applies).
pub(super) fn date(value: &str) -> Result<Option<NaiveDate>, String> {
    Ok(read(value)?.map(|(wall_clock, _)| wall_clock.date()))
}

/// Why a timestamp is invalid, without the value: it may be a birth date (PHI), and reasons go
/// to logs and the status page. The message's raw text, kept with its reject, has the value.
fn invalid(value: &str, why: &str) -> String {
    format!("invalid timestamp ({} characters): {why}", value.chars().count())
}

fn read(value: &str) -> Result<Option<(NaiveDateTime, Option<FixedOffset>)>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let format = || invalid(value, "expected YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-HHMM]");
    let (body, offset) = match value.find(['+', '-']) {
        Some(at) => (&value[..at], Some(&value[at..])),
        None => (value, None),
    };
    let (digits, fraction) = match body.split_once('.') {
        Some((digits, fraction)) => (digits, Some(fraction)),
        None => (body, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(digits) || ![4, 6, 8, 10, 12, 14].contains(&digits.len()) {
        return Err(format());
    }
    let nanos = match fraction {
        None => 0,
        Some(f) if digits.len() == 14 && (1..=4).contains(&f.len()) && all_digits(f) => {
            format!("{f:0<9}").parse::<u32>().map_err(|_| format())?
        }
        Some(_) => return Err(format()),
    };
    let part = |at: usize, default: u32| digits.get(at..at + 2).map_or(Ok(default), |p| p.parse::<u32>());
    let (year, month, day, hour, minute, second) =
        match (digits.get(..4).map(str::parse::<i32>), part(4, 1), part(6, 1), part(8, 0), part(10, 0), part(12, 0)) {
            (Some(Ok(y)), Ok(mo), Ok(d), Ok(h), Ok(mi), Ok(s)) => (y, mo, d, h, mi, s),
            _ => return Err(format()),
        };
    if !(1..=12).contains(&month) {
        return Err(invalid(value, &format!("month {month} out of range")));
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)
        .ok_or_else(|| invalid(value, &format!("day {day} out of range for its month")))?;
    for (name, v, max) in [("hour", hour, 23), ("minute", minute, 59), ("second", second, 59)] {
        if v > max {
            return Err(invalid(value, &format!("{name} {v} out of range")));
        }
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos).ok_or_else(format)?;
    let offset = match offset {
        None => None,
        Some(o) if o.len() == 5 && all_digits(&o[1..]) => {
            Some(read_offset(o).ok_or_else(|| invalid(value, &format!("offset {o} out of range")))?)
        }
        Some(_) => return Err(format()),
    };
    Ok(Some((date.and_time(time), offset)))
}

/// `+HHMM` / `-HHMM`; the sign applies to hours and minutes alike (`-0330` is 3 h 30 min west).
fn read_offset(offset: &str) -> Option<FixedOffset> {
    let (sign, hhmm) = match offset.split_at_checked(1)? {
        ("+", hhmm) => (1, hhmm),
        ("-", hhmm) => (-1, hhmm),
        _ => return None,
    };
    let hours: i32 = hhmm.get(..2)?.parse().ok()?;
    let minutes: i32 = hhmm.get(2..)?.parse().ok()?;
    if hours > 14 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_core::time::rfc3339;

    fn utc(value: &str) -> String {
        let zone = Zone::parse("UTC").expect("zone");
        instant(value, &zone).expect("valid").map(rfc3339).expect("not empty")
    }

    #[test]
    fn each_precision_means_the_start_of_its_period() {
        assert_eq!(utc("2026"), "2026-01-01T00:00:00Z");
        assert_eq!(utc("202611"), "2026-11-01T00:00:00Z");
        assert_eq!(utc("20261124"), "2026-11-24T00:00:00Z");
        assert_eq!(utc("2026112405"), "2026-11-24T05:00:00Z");
        assert_eq!(utc("202611240507"), "2026-11-24T05:07:00Z");
        assert_eq!(utc("20261124050709"), "2026-11-24T05:07:09Z");
        let zone = Zone::parse("UTC").expect("zone");
        let fraction = instant("20261124050709.1234", &zone).expect("valid").expect("some");
        assert_eq!(fraction.timestamp_subsec_micros(), 123_400);
    }

    #[test]
    fn offsets_including_negative_half_hours() {
        assert_eq!(utc("202611240500+0100"), "2026-11-24T04:00:00Z");
        assert_eq!(utc("202611240500-0500"), "2026-11-24T10:00:00Z");
        assert_eq!(utc("202611240500-0330"), "2026-11-24T08:30:00Z");
        assert_eq!(utc("202611240500+0530"), "2026-11-23T23:30:00Z");
        assert_eq!(utc("20080818183002.1-0700"), "2008-08-19T01:30:02Z");
    }

    #[test]
    fn without_an_offset_the_configured_zone_applies() {
        let chicago = Zone::parse("America/Chicago").expect("zone");
        let winter = instant("202601150500", &chicago).expect("valid").expect("some");
        assert_eq!(rfc3339(winter), "2026-01-15T11:00:00Z");
        let summer = instant("20260715", &chicago).expect("valid").expect("some");
        assert_eq!(rfc3339(summer), "2026-07-15T05:00:00Z");
    }

    #[test]
    fn empty_is_none_and_dates_ignore_offsets() {
        assert_eq!(instant("  ", &Zone::Host), Ok(None));
        assert_eq!(date(""), Ok(None));
        assert_eq!(date("19800602"), Ok(NaiveDate::from_ymd_opt(1980, 6, 2)));
        assert_eq!(date("198006022330-1000"), Ok(NaiveDate::from_ymd_opt(1980, 6, 2)));
    }

    #[test]
    fn invalid_values_say_why() {
        let error = |value: &str| instant(value, &Zone::Host).expect_err(value);
        assert_eq!(error("202613011200"), "invalid timestamp (12 characters): month 13 out of range");
        assert_eq!(error("20260230"), "invalid timestamp (8 characters): day 30 out of range for its month");
        assert_eq!(error("2026112425"), "invalid timestamp (10 characters): hour 25 out of range");
        assert_eq!(error("202611241260"), "invalid timestamp (12 characters): minute 60 out of range");
        assert_eq!(error("202611240500+2500"), "invalid timestamp (17 characters): offset +2500 out of range");
        let format = "expected YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-HHMM]";
        for value in ["196203520", "2026-11-24", "20261124050709.12345", "202611240507.5", "d+", "+0500", "20261124-05"]
        {
            assert_eq!(error(value), format!("invalid timestamp ({} characters): {format}", value.len()));
            assert!(!error(value).contains(value), "the reason repeats the value {value:?}");
        }
    }
}
