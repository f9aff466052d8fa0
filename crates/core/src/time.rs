//! Time: the zone for local times that carry no offset, the RFC 3339 form stored everywhere, and
//! the clock (an argument, so tests can move it).

use chrono::{DateTime, LocalResult, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use std::fmt;

/// The zone in which a timestamp without an offset (most HL7 times) was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// The host's zone (`/etc/localtime` or `$TZ`).
    #[default]
    Host,
    Named(chrono_tz::Tz),
}

impl Zone {
    /// Parse an IANA zone name; `"host"` (or an empty string) means the host's zone.
    pub fn parse(name: &str) -> Result<Zone, String> {
        match name.trim() {
            "" | "host" => Ok(Zone::Host),
            other => other.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
                format!("unknown time zone {other:?} (an IANA name such as \"Europe/Berlin\", or \"host\")")
            }),
        }
    }

    /// The instant at which the wall-clock time `naive` occurred in this zone. In a DST overlap
    /// the earlier instant is taken; a time inside a DST gap is read as if the clocks had not yet
    /// moved (shifted forward by the gap), as EHRs that write local time do.
    pub fn to_utc(&self, naive: NaiveDateTime) -> DateTime<Utc> {
        fn resolve<Z: TimeZone>(zone: &Z, naive: NaiveDateTime) -> DateTime<Utc> {
            match zone.from_local_datetime(&naive) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
                LocalResult::None => {
                    let later = naive + chrono::Duration::hours(1);
                    match zone.from_local_datetime(&later) {
                        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
                        LocalResult::None => Utc.from_utc_datetime(&naive),
                    }
                }
            }
        }
        match self {
            Zone::Host => resolve(&chrono::Local, naive),
            Zone::Named(tz) => resolve(tz, naive),
        }
    }

    /// `t` as wall-clock time in this zone, in a chrono `strftime` format (`%Z` names the zone).
    pub fn format(&self, t: DateTime<Utc>, format: &str) -> String {
        match self {
            Zone::Host => t.with_timezone(&chrono::Local).format(format).to_string(),
            Zone::Named(tz) => t.with_timezone(tz).format(format).to_string(),
        }
    }

    /// `t` for a sentence: `2026-12-03 05:00 CST`, with seconds only when it has some
    /// (`2026-12-03 00:30:30 CST`), so that a deadline is never shown earlier than it is.
    pub fn stamp(&self, t: DateTime<Utc>) -> String {
        use chrono::Timelike as _;
        self.format(t, if t.second() == 0 { "%Y-%m-%d %H:%M %Z" } else { "%Y-%m-%d %H:%M:%S %Z" })
    }

    /// The wall-clock time of day of `t` in this zone, in seconds since midnight.
    pub fn seconds_of_day(&self, t: DateTime<Utc>) -> u32 {
        use chrono::Timelike as _;
        match self {
            Zone::Host => t.with_timezone(&chrono::Local).num_seconds_from_midnight(),
            Zone::Named(tz) => t.with_timezone(tz).num_seconds_from_midnight(),
        }
    }

    /// The calendar date of `t` in this zone.
    pub fn date(&self, t: DateTime<Utc>) -> chrono::NaiveDate {
        match self {
            Zone::Host => t.with_timezone(&chrono::Local).date_naive(),
            Zone::Named(tz) => t.with_timezone(tz).date_naive(),
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Host => {
                let name = iana_time_zone::get_timezone().unwrap_or_else(|_| "unknown".into());
                write!(f, "host ({name})")
            }
            Zone::Named(tz) => write!(f, "{}", tz.name()),
        }
    }
}

/// The one text form of an instant in the snapshot, the ledger and every answer:
/// RFC 3339, UTC, whole seconds, e.g. `2026-11-24T05:00:00Z`. Sorts as text.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A duration as a person reads it: the two largest units, spaced (`8 days 19 h`, `2 h 5 min`,
/// `45 s`); `0 s` for nothing.
pub fn human_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let units = [(86_400, "day"), (3_600, "h"), (60, "min"), (1, "s")];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (size, name) in units {
        let n = rest / size;
        rest %= size;
        if n > 0 || !parts.is_empty() {
            parts.push((n, name));
        }
    }
    let shown: Vec<String> = parts
        .iter()
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, name)| if *name == "day" && *n != 1 { format!("{n} days") } else { format!("{n} {name}") })
        .collect();
    if shown.is_empty() { "0 s".into() } else { shown.join(" ") }
}

/// Parse what [`rfc3339`] wrote.
pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// Where "now" comes from. The daemon uses [`SystemClock`]; tests may inject another.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that reads "now" (RFC 3339) from a file at every call, so that a test can move the
/// time of a running binary by rewriting the file. An unreadable file reads as the system time.
/// Only with the `test-hooks` feature: a release build has no way to be told another time.
#[cfg(feature = "test-hooks")]
#[derive(Debug, Clone)]
pub struct FileClock(pub std::path::PathBuf);

#[cfg(feature = "test-hooks")]
impl Clock for FileClock {
    fn now(&self) -> DateTime<Utc> {
        std::fs::read_to_string(&self.0).ok().and_then(|t| parse_rfc3339(t.trim())).unwrap_or_else(Utc::now)
    }
}

/// The process's clock, made once by `main` and passed down: the system's. With the `test-hooks`
/// feature (the test build; never the release build), a [`FileClock`] when `$INGEST_CLOCK_FILE`
/// names one; it only moves the time the daemon judges freshness and stamps records by.
pub fn process_clock() -> std::sync::Arc<dyn Clock> {
    #[cfg(feature = "test-hooks")]
    if let Some(path) = std::env::var_os("INGEST_CLOCK_FILE").filter(|v| !v.is_empty()) {
        return std::sync::Arc::new(FileClock(path.into()));
    }
    std::sync::Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn naive(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d).and_then(|d| d.and_hms_opt(h, mi, 0)).expect("valid")
    }

    #[test]
    fn named_zone_converts_winter_and_summer_times() {
        let zone = Zone::parse("America/Chicago").expect("zone");
        assert_eq!(rfc3339(zone.to_utc(naive(2026, 1, 15, 5, 0))), "2026-01-15T11:00:00Z");
        assert_eq!(rfc3339(zone.to_utc(naive(2026, 7, 15, 5, 0))), "2026-07-15T10:00:00Z");
    }

    #[test]
    fn dst_gap_and_overlap_resolve_to_one_instant() {
        let zone = Zone::parse("America/Chicago").expect("zone");
        // 2026-03-08 02:30 does not exist in Chicago; read as 03:30 CDT.
        assert_eq!(rfc3339(zone.to_utc(naive(2026, 3, 8, 2, 30))), "2026-03-08T08:30:00Z");
        // 2026-11-01 01:30 happens twice; the first (CDT) is taken.
        assert_eq!(rfc3339(zone.to_utc(naive(2026, 11, 1, 1, 30))), "2026-11-01T06:30:00Z");
    }

    #[test]
    fn unknown_zone_is_an_error_naming_it() {
        let err = Zone::parse("Mars/Olympus").expect_err("must fail");
        assert!(err.contains("Mars/Olympus"), "{err}");
        assert_eq!(Zone::parse("host"), Ok(Zone::Host));
    }

    #[test]
    fn durations_read_as_words_with_spaces() {
        let d = |s: u64| human_duration(std::time::Duration::from_secs(s));
        assert_eq!(d(8 * 86_400 + 19 * 3_600 + 13 * 60), "8 days 19 h");
        assert_eq!(d(86_400 + 2 * 3_600), "1 day 2 h");
        assert_eq!(d(2 * 86_400 + 30), "2 days");
        assert_eq!(d(2 * 3_600 + 5 * 60), "2 h 5 min");
        assert_eq!(d(45), "45 s");
        assert_eq!(d(0), "0 s");
    }
}
