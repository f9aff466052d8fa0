//! Schedules and freshness. Pure: the clock is an argument.
//!
//! A cron expression (`poll`, `expected`) is read in the configured zone, in the common 5-field
//! crontab form (minute hour day month weekday; seconds are 0) or the cron crate's 6–7-field form
//! (seconds first, an optional year last).
//!
//! A source that declares `expected` and `grace` is **stale** when the latest expected time E
//! whose deadline (E + grace) has passed has no export for it. An export counts for E when its
//! `exported_at` is no earlier than half a period before E (the period being the time from the
//! occurrence before E): for a daily 05:00 export, anything exported since 17:00 the day before
//! counts for today, a 04:58 export counts, and yesterday's 05:00 export does not. A late export
//! (after the deadline) clears the flag as soon as it is ingested. Without `expected`, a source is
//! stale when its newest export is older than `stale_after`.

use crate::time::{Zone, rfc3339};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

/// A parsed cron expression, as written.
#[derive(Debug, Clone)]
pub struct Cron {
    text: String,
    schedule: cron::Schedule,
}

impl PartialEq for Cron {
    fn eq(&self, other: &Cron) -> bool {
        self.text == other.text
    }
}

impl Cron {
    /// Parse a 5-field crontab expression or a 6–7-field one with seconds.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let fields = text.split_whitespace().count();
        let full = match fields {
            5 => format!("0 {}", text.trim()),
            6 | 7 => text.trim().to_string(),
            n => {
                return Err(format!(
                    "{text:?} has {n} fields: expected 5 (minute hour day month weekday) or 6-7 (with seconds first)"
                ));
            }
        };
        let schedule =
            cron::Schedule::from_str(&full).map_err(|e| format!("{text:?} is not a cron expression: {e}"))?;
        if schedule.upcoming(Utc).next().is_none() {
            return Err(format!("{text:?} never happens again"));
        }
        Ok(Cron { text: text.trim().to_string(), schedule })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first occurrence after `t`.
    pub fn next_after(&self, t: DateTime<Utc>, zone: Zone) -> Option<DateTime<Utc>> {
        match zone {
            Zone::Host => self.schedule.after(&t.with_timezone(&chrono::Local)).next().map(|d| d.with_timezone(&Utc)),
            Zone::Named(tz) => self.schedule.after(&t.with_timezone(&tz)).next().map(|d| d.with_timezone(&Utc)),
        }
    }

    /// The last occurrence at or before `t`. (Going back from one second after `t` can meet an
    /// occurrence later than a `t` with a fraction of a second: that one is skipped, so that a
    /// deadline is never judged passed before it is.)
    pub fn last_at_or_before(&self, t: DateTime<Utc>, zone: Zone) -> Option<DateTime<Utc>> {
        fn back<Z: TimeZone>(s: &cron::Schedule, t: DateTime<Z>) -> Option<DateTime<Utc>> {
            let limit = t.with_timezone(&Utc);
            let mut earlier = s.after(&(t + chrono::Duration::seconds(1)));
            std::iter::from_fn(|| earlier.next_back()).take(3).map(|d| d.with_timezone(&Utc)).find(|d| *d <= limit)
        }
        match zone {
            Zone::Host => back(&self.schedule, t.with_timezone(&chrono::Local)),
            Zone::Named(tz) => back(&self.schedule, t.with_timezone(&tz)),
        }
    }
}

/// When a source's export is due: `expected`, and how long after it the source turns stale.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub expected: Cron,
    pub grace: Duration,
}

/// The default grace after an expected export time.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// Whether a source's data is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    /// Why the source is stale; `None` when it is current.
    pub stale: Option<String>,
    /// When the next expected export is due (expected time + grace), for sources with `expected`.
    pub next_deadline: Option<DateTime<Utc>>,
}

/// How a source's freshness is judged: against its expected export schedule, or by the age of
/// its last export.
#[derive(Debug, Clone, Copy)]
pub enum Rule<'a> {
    Expected(&'a Expectation),
    MaxAge(Duration),
}

impl Rule<'_> {
    pub fn judge(self, name: &str, last_export: Option<DateTime<Utc>>, now: DateTime<Utc>, zone: Zone) -> Freshness {
        match self {
            Rule::Expected(expected) => judge_expected(name, expected, last_export, now, zone),
            Rule::MaxAge(stale_after) => judge_age(name, stale_after, last_export, now, zone),
        }
    }
}

/// How old the newest export may be before a source's data is reported stale, when its
/// configuration says neither.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(26 * 3600);

/// Judge a source with an `expected` schedule: see the module documentation.
pub fn judge_expected(
    source: &str,
    exp: &Expectation,
    last_export: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    zone: Zone,
) -> Freshness {
    let grace = chrono::Duration::from_std(exp.grace).unwrap_or_else(|_| chrono::Duration::zero());
    let due = exp.expected.last_at_or_before(now - grace, zone);
    let next_deadline = exp.expected.next_after(now - grace, zone).map(|e| e + grace);
    let Some(due) = due else { return Freshness { stale: None, next_deadline } };
    let before = exp.expected.last_at_or_before(due - chrono::Duration::seconds(1), zone);
    let period = before.map_or(chrono::Duration::days(1), |b| due - b);
    let counts_from = due - period / 2;
    let grace_text = crate::time::human_duration(exp.grace);
    let stale = match last_export {
        Some(last) if last >= counts_from => None,
        Some(last) => Some(format!(
            "source {source}: no export since {}; one was expected at {} (grace {grace_text}, due by {})",
            zone.stamp(last),
            zone.stamp(due),
            zone.stamp(due + grace)
        )),
        None => Some(format!(
            "source {source}: no export has been ingested yet; one was expected at {} (grace {grace_text})",
            zone.stamp(due)
        )),
    };
    Freshness { stale, next_deadline }
}

/// Judge a source without a schedule: stale when its newest export is older than `stale_after`.
pub fn judge_age(
    source: &str,
    stale_after: Duration,
    last_export: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    zone: Zone,
) -> Freshness {
    let limit = crate::time::human_duration(stale_after);
    let stale = match last_export {
        None => Some(format!("source {source}: no export has been ingested yet")),
        Some(last) => {
            let age = (now - last).to_std().unwrap_or_default();
            (age > stale_after).then(|| {
                let age = crate::time::human_duration(Duration::from_secs(age.as_secs() / 60 * 60));
                format!(
                    "source {source}: no export since {} ({age} ago; one is expected at least every {limit})",
                    zone.stamp(last)
                )
            })
        }
    };
    Freshness { stale, next_deadline: None }
}

/// How one expected export went, for the status page's timeline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    pub expected_at: DateTime<Utc>,
    /// `expected_at` + grace.
    pub deadline: DateTime<Utc>,
    /// When the first file that counts for this export was received.
    pub arrived_at: Option<DateTime<Utc>>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Received by the deadline.
    OnTime,
    /// Received, after the deadline.
    Late,
    /// Nothing received, and the deadline has passed.
    Missing,
    /// Nothing received yet; the deadline is still ahead.
    Pending,
}

/// The most windows a timeline holds (an every-minute schedule over 14 days would be 20,160).
pub const MAX_WINDOWS: usize = 500;

/// Every expected export from `from` to `now` (the newest [`MAX_WINDOWS`]), with what arrived for
/// it. `arrivals` are `(exported_at, received_at)` of the files that went in. A file counts for
/// the expected time E as in [`judge_expected`]: exported no earlier than half a period before E
/// and earlier than half a period before the next one.
pub fn windows(
    exp: &Expectation,
    zone: Zone,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
    arrivals: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Vec<Window> {
    let grace = chrono::Duration::from_std(exp.grace).unwrap_or_else(|_| chrono::Duration::zero());
    let mut times = Vec::new();
    let mut next = exp.expected.next_after(from - chrono::Duration::seconds(1), zone);
    while let Some(t) = next.filter(|t| *t <= now) {
        times.push(t);
        next = exp.expected.next_after(t, zone);
    }
    let skip = times.len().saturating_sub(MAX_WINDOWS);
    let mut out = Vec::with_capacity(times.len() - skip);
    for (i, &expected_at) in times.iter().enumerate().skip(skip) {
        let before = match i {
            0 => exp.expected.last_at_or_before(expected_at - chrono::Duration::seconds(1), zone),
            _ => Some(times[i - 1]),
        };
        let after = times.get(i + 1).copied().or(next);
        let counts_from = expected_at - before.map_or(chrono::Duration::days(1), |b| expected_at - b) / 2;
        let counts_until = after.map(|a| a - (a - expected_at) / 2);
        let arrived_at = arrivals
            .iter()
            .filter(|(exported, _)| *exported >= counts_from && counts_until.is_none_or(|u| *exported < u))
            .map(|(_, received)| *received)
            .min();
        let deadline = expected_at + grace;
        let verdict = match arrived_at {
            Some(t) if t <= deadline => Verdict::OnTime,
            Some(_) => Verdict::Late,
            None if deadline < now => Verdict::Missing,
            None => Verdict::Pending,
        };
        out.push(Window { expected_at, deadline, arrived_at, verdict });
    }
    out
}

/// A change in a source's freshness, for the daemon's log (each once, not at every check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    BecameStale { source: String, reason: String },
    Recovered { source: String },
}

/// Remembers which sources are stale, so that each change is reported once.
#[derive(Debug, Default)]
pub struct Monitor {
    stale: BTreeSet<String>,
}

impl Monitor {
    /// A monitor that knows these sources were stale already (reported before a restart).
    pub fn already_stale(sources: impl IntoIterator<Item = String>) -> Monitor {
        Monitor { stale: sources.into_iter().collect() }
    }

    /// Compare with the last check; the first check reports every stale source the monitor did
    /// not know was stale (see [`Monitor::already_stale`]).
    pub fn check<'a>(&mut self, now: impl IntoIterator<Item = (&'a str, &'a Freshness)>) -> Vec<Transition> {
        let mut out = Vec::new();
        for (source, freshness) in now {
            match (&freshness.stale, self.stale.contains(source)) {
                (Some(reason), false) => {
                    self.stale.insert(source.to_string());
                    out.push(Transition::BecameStale { source: source.to_string(), reason: reason.clone() });
                }
                (None, true) => {
                    self.stale.remove(source);
                    out.push(Transition::Recovered { source: source.to_string() });
                }
                _ => {}
            }
        }
        out
    }
}

/// How far ahead of this host's clock an export time may be before it is doubtful (clocks drift,
/// and an export job may stamp its start).
pub const FUTURE_TOLERANCE: chrono::Duration = chrono::Duration::minutes(15);

/// Why a file's export time cannot be right, if it cannot: it lies ahead of `now`, or `note` (from
/// the parser) says the file's own offsets disagree with how its time was read.
pub fn doubtful_export_time(
    exported_at: DateTime<Utc>,
    origin: &str,
    now: DateTime<Utc>,
    zone: &Zone,
    note: Option<&str>,
) -> Option<String> {
    let ahead = exported_at - now;
    let future = (ahead > FUTURE_TOLERANCE).then(|| {
        let why = if origin == "mtime" {
            "the file's modification time is ahead: the exporting host's clock (or this one's) is off".to_string()
        } else {
            format!(
                "a time without a UTC offset read in time_zone {zone} does this when that is not the EHR's zone \
                 (set time_zone); a time with an offset, when a clock is off"
            )
        };
        format!(
            "the export time {} (from {origin}) is {} ahead of this host's clock: {why}",
            rfc3339(exported_at),
            crate::time::human_duration(ahead.to_std().unwrap_or_default())
        )
    });
    match (future, note) {
        (Some(future), Some(note)) => Some(format!("{future}; {note}")),
        (future, note) => future.or_else(|| note.map(str::to_string)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339(s).expect("time")
    }

    fn chicago() -> Zone {
        Zone::parse("America/Chicago").expect("zone")
    }

    fn daily_five() -> Expectation {
        Expectation { expected: Cron::parse("0 5 * * *").expect("cron"), grace: Duration::from_secs(45 * 60) }
    }

    #[test]
    fn five_and_six_field_forms_are_read_and_nonsense_is_refused() {
        let zone = Zone::parse("UTC").expect("zone");
        let five = Cron::parse("*/2 4-6 * * *").expect("5 fields");
        assert_eq!(five.next_after(at("2026-11-24T04:59:30Z"), zone), Some(at("2026-11-24T05:00:00Z")));
        let six = Cron::parse("30 0 5 * * *").expect("6 fields");
        assert_eq!(six.next_after(at("2026-11-24T04:00:00Z"), zone), Some(at("2026-11-24T05:00:30Z")));
        assert_eq!(six.last_at_or_before(at("2026-11-24T05:00:30Z"), zone), Some(at("2026-11-24T05:00:30Z")));
        assert!(Cron::parse("5 * *").expect_err("3 fields").contains("3 fields"));
        assert!(Cron::parse("61 * * * *").is_err());
    }

    #[test]
    fn a_daily_export_is_stale_after_its_grace_and_a_late_one_clears_it() {
        let exp = daily_five();
        // 05:00 Chicago = 11:00Z in November; due by 11:45Z.
        let yesterday = Some(at("2026-11-23T11:02:00Z"));
        let before_deadline = judge_expected("ward", &exp, yesterday, at("2026-11-24T11:40:00Z"), chicago());
        assert_eq!(before_deadline.stale, None);
        assert_eq!(before_deadline.next_deadline, Some(at("2026-11-24T11:45:00Z")));
        let after = judge_expected("ward", &exp, yesterday, at("2026-11-24T11:46:00Z"), chicago());
        assert_eq!(
            after.stale.as_deref(),
            Some(
                "source ward: no export since 2026-11-23 05:02 CST; one was expected at 2026-11-24 05:00 CST \
                 (grace 45 min, due by 2026-11-24 05:45 CST)"
            )
        );
        assert_eq!(after.next_deadline, Some(at("2026-11-25T11:45:00Z")));
        // Exported at 04:58 local: counts for 05:00. Exported late, at 07:10: counts too.
        for exported in ["2026-11-24T10:58:00Z", "2026-11-24T13:10:00Z"] {
            let fresh = judge_expected("ward", &exp, Some(at(exported)), at("2026-11-24T13:11:00Z"), chicago());
            assert_eq!(fresh.stale, None, "{exported}");
        }
        let never = judge_expected("ward", &exp, None, at("2026-11-24T12:00:00Z"), chicago());
        assert!(never.stale.is_some_and(|r| r.contains("no export has been ingested yet")));
    }

    #[test]
    fn the_flag_appears_at_the_deadline_not_a_moment_before_and_seconds_are_shown() {
        // Due by 00:30:30 local (a 6-field schedule with seconds, grace 30 s).
        let exp = Expectation { expected: Cron::parse("0 30 0 * * *").expect("cron"), grace: Duration::from_secs(30) };
        let last = Some(at("2026-11-23T06:30:00Z"));
        let deadline = at("2026-11-24T06:30:30Z");
        for early in [
            chrono::Duration::milliseconds(1),
            chrono::Duration::milliseconds(500),
            chrono::Duration::milliseconds(999),
        ] {
            let judged = judge_expected("ward", &exp, last, deadline - early, chicago());
            assert_eq!(judged.stale, None, "{early} before the deadline");
            assert_eq!(judged.next_deadline, Some(deadline));
        }
        let at_deadline = judge_expected("ward", &exp, last, deadline, chicago()).stale.expect("stale at the deadline");
        assert!(at_deadline.ends_with("due by 2026-11-24 00:30:30 CST)"), "{at_deadline}");
        assert!(!at_deadline.contains('Z'), "one time form in one sentence: {at_deadline}");
    }

    #[test]
    fn a_monitor_that_knows_a_source_was_stale_does_not_report_it_again() {
        let stale = Freshness { stale: Some("late".into()), next_deadline: None };
        let mut monitor = Monitor::already_stale(["a".to_string()]);
        assert_eq!(monitor.check([("a", &stale)]), []);
    }

    #[test]
    fn the_deadline_follows_local_time_across_a_dst_change() {
        let exp = daily_five();
        // 2026-11-01: Chicago falls back; 05:00 CDT on Oct 31 = 10:00Z, 05:00 CST on Nov 1 = 11:00Z.
        let last = Some(at("2026-10-31T10:00:00Z"));
        assert_eq!(judge_expected("ward", &exp, last, at("2026-11-01T11:30:00Z"), chicago()).stale, None);
        assert!(judge_expected("ward", &exp, last, at("2026-11-01T11:46:00Z"), chicago()).stale.is_some());
    }

    #[test]
    fn the_monitor_reports_each_change_once() {
        let stale = Freshness { stale: Some("late".into()), next_deadline: None };
        let fresh = Freshness { stale: None, next_deadline: None };
        let mut monitor = Monitor::default();
        assert_eq!(
            monitor.check([("a", &stale), ("b", &fresh)]),
            [Transition::BecameStale { source: "a".into(), reason: "late".into() }]
        );
        assert_eq!(monitor.check([("a", &stale), ("b", &fresh)]), []);
        assert_eq!(monitor.check([("a", &fresh)]), [Transition::Recovered { source: "a".into() }]);
    }

    #[test]
    fn each_expected_export_of_the_window_is_judged_on_time_late_missing_or_pending() {
        let exp = daily_five();
        let zone = chicago();
        // Four days; 05:00 CST = 11:00Z, due by 11:45Z.
        let arrivals = [
            // Nov 21: exported 04:58, received 05:03: on time.
            (at("2026-11-21T10:58:00Z"), at("2026-11-21T11:03:00Z")),
            // A second file of the same export, received later: the first one decides.
            (at("2026-11-21T11:00:00Z"), at("2026-11-21T11:30:00Z")),
            // Nov 22: nothing. Nov 23: exported 07:10, received 07:12: late.
            (at("2026-11-23T13:10:00Z"), at("2026-11-23T13:12:00Z")),
        ];
        let now = at("2026-11-24T11:20:00Z");
        let got = windows(&exp, zone, at("2026-11-21T00:00:00Z"), now, &arrivals);
        let verdicts: Vec<_> = got.iter().map(|w| (w.expected_at, w.verdict, w.arrived_at)).collect();
        assert_eq!(
            verdicts,
            [
                (at("2026-11-21T11:00:00Z"), Verdict::OnTime, Some(at("2026-11-21T11:03:00Z"))),
                (at("2026-11-22T11:00:00Z"), Verdict::Missing, None),
                (at("2026-11-23T11:00:00Z"), Verdict::Late, Some(at("2026-11-23T13:12:00Z"))),
                (at("2026-11-24T11:00:00Z"), Verdict::Pending, None),
            ]
        );
        assert_eq!(got[0].deadline, at("2026-11-21T11:45:00Z"));
        // Past the deadline, today's is missing.
        let later = windows(&exp, zone, at("2026-11-24T00:00:00Z"), at("2026-11-24T11:46:00Z"), &arrivals);
        assert_eq!(later.iter().map(|w| w.verdict).collect::<Vec<_>>(), [Verdict::Missing]);
    }

    #[test]
    fn a_timeline_keeps_only_the_newest_windows_of_a_busy_schedule() {
        let exp = Expectation { expected: Cron::parse("* * * * *").expect("cron"), grace: Duration::from_secs(60) };
        let zone = Zone::parse("UTC").expect("zone");
        let got = windows(&exp, zone, at("2026-11-20T00:00:00Z"), at("2026-11-24T00:00:00Z"), &[]);
        assert_eq!(got.len(), MAX_WINDOWS);
        assert_eq!(got.last().map(|w| w.expected_at), Some(at("2026-11-24T00:00:00Z")));
    }

    #[test]
    fn without_a_schedule_the_age_of_the_newest_export_decides() {
        let day = Duration::from_secs(26 * 3600);
        let utc = Zone::parse("UTC").expect("zone");
        assert_eq!(judge_age("w", day, Some(at("2026-11-24T11:00:00Z")), at("2026-11-25T12:00:00Z"), utc).stale, None);
        let old = judge_age("w", day, Some(at("2026-11-22T11:00:00Z")), at("2026-11-24T11:00:00Z"), chicago());
        assert_eq!(
            old.stale.as_deref(),
            Some(
                "source w: no export since 2026-11-22 05:00 CST (2 days ago; one is expected at least every 1 day 2 h)"
            )
        );
    }

    #[test]
    fn an_export_time_ahead_of_the_clock_is_doubtful_beyond_the_tolerance() {
        let zone = Zone::parse("UTC").expect("zone");
        let now = at("2026-11-24T04:10:00Z");
        let doubt = |t: &str, note| doubtful_export_time(at(t), "file name", now, &zone, note);
        assert_eq!(doubt("2026-11-24T04:20:00Z", None), None, "within the tolerance");
        let ahead = doubt("2026-11-24T05:00:00Z", None).expect("ahead");
        assert!(
            ahead.contains("(from file name) is 50 min ahead of this host's clock") && ahead.contains("UTC"),
            "{ahead}"
        );
        assert_eq!(doubt("2026-11-23T05:00:00Z", Some("offsets differ")).as_deref(), Some("offsets differ"));
        assert!(doubt("2026-11-24T05:00:00Z", Some("offsets differ")).is_some_and(|d| d.ends_with("; offsets differ")));
    }
}
