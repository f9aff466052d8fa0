//! `ingest status` on a terminal: one table row per source, then what needs looking at (stale
//! reasons, quarantine, rejects) and the newest files. Coloured on a terminal, plain otherwise.

use super::{Report, SourceReport};
use anstyle::{AnsiColor, Style};
use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table, presets};
use ingest_core::schedule::Verdict;
use ingest_core::time::Zone;
use ingest_store::FileStatus;
use std::fmt::Write as _;

/// How many expected exports the `RECENT` column shows (newest last).
const STRIP: usize = 14;

pub fn render(report: &Report, zone: Zone, colour: bool) -> String {
    let mut out = String::new();
    let c = &report.counts;
    let _ = writeln!(
        out,
        "ingest status at {} · snapshot {}",
        zone.format(report.now, "%Y-%m-%d %H:%M %Z"),
        report.snapshot
    );
    let _ = writeln!(
        out,
        "holds {} patients ({} on a panel) · {} results ({} abnormal) · {} medication orders · {} problems · \
         {} allergies · {} documents\n",
        c.patients,
        c.on_panel,
        c.observations,
        c.abnormal_observations,
        c.medications,
        c.problems,
        c.allergies,
        c.documents
    );

    let mut table = new_table(colour);
    table.set_header(
        ["SOURCE", "STATE", "LAST EXPORT", "LAST INGEST", "NEXT DUE BY", "FILES ok/rej/dup/quar", "REJECTS", "RECENT"]
            .map(|h| Cell::new(h).add_attribute(Attribute::Bold)),
    );
    for source in &report.sources {
        let s = &source.status;
        let when = |t: &Option<String>| {
            t.as_deref().and_then(ingest_core::time::parse_rfc3339).map_or("never".to_string(), |t| short(zone, t))
        };
        let state = match (source.stale, state_notes(source)) {
            (true, notes) => Cell::new(format!("STALE{notes}")).fg(Color::Red).add_attribute(Attribute::Bold),
            (false, notes) if !notes.is_empty() => {
                Cell::new(format!("fresh{notes}")).fg(Color::Yellow).add_attribute(Attribute::Bold)
            }
            (false, _) => Cell::new("fresh").fg(Color::Green),
        };
        let quarantined = source.files(FileStatus::Quarantined);
        let files = format!(
            "{}/{}/{}/{}",
            source.files(FileStatus::Ingested),
            source.files(FileStatus::IngestedWithRejects),
            source.files(FileStatus::Duplicate),
            quarantined
        );
        table.add_row([
            Cell::new(&s.name).add_attribute(Attribute::Bold),
            state,
            Cell::new(when(&s.last_export_at)),
            Cell::new(when(&s.last_ingested_at)),
            Cell::new(source.next_deadline.map_or("-".to_string(), |t| short(zone, t))),
            if quarantined > 0 { Cell::new(files).fg(Color::Red) } else { Cell::new(files) },
            if s.rejects > 0 { Cell::new(s.rejects).fg(Color::Yellow) } else { Cell::new(s.rejects) },
            Cell::new(strip(source, colour)),
        ]);
    }
    let _ = writeln!(out, "{table}");
    if report.sources.iter().any(|s| !s.timeline.windows.is_empty()) {
        let _ = writeln!(
            out,
            "RECENT: the last {STRIP} expected exports, oldest first: {} on time, {} late, {} missed, {} still due",
            symbol(Verdict::OnTime, colour),
            symbol(Verdict::Late, colour),
            symbol(Verdict::Missing, colour),
            symbol(Verdict::Pending, colour)
        );
    }

    for source in &report.sources {
        details(&mut out, source, zone, colour);
    }
    out
}

/// " FAILING", " HELD": what the STATE column adds to fresh or STALE.
fn state_notes(source: &SourceReport) -> String {
    let mut notes = String::new();
    if !source.up {
        notes.push_str(" FAILING");
    }
    if source.health.as_ref().is_some_and(|h| h.held.is_some()) {
        notes.push_str(" HELD");
    }
    if source.recently_quarantined() {
        notes.push_str(" QUARANTINED");
    }
    notes
}

fn new_table(colour: bool) -> Table {
    let mut table = Table::new();
    table.set_content_arrangement(ContentArrangement::Disabled);
    if colour {
        table.load_style(presets::UTF8_BORDERS_ONLY).enforce_styling();
    } else {
        table.load_style(presets::ASCII_BORDERS_ONLY_CONDENSED).force_no_tty();
    }
    table
}

/// One source's stale reason, quarantine, rejects and newest files.
fn details(out: &mut String, source: &SourceReport, zone: Zone, colour: bool) {
    let s = &source.status;
    let _ = writeln!(out, "\n{}", paint(&format!("source {}", s.name), BOLD, colour));
    if let Some(reason) = &source.stale_reason {
        let _ = writeln!(out, "  {} {reason}", paint("STALE:", BOLD_RED, colour));
    }
    for problem in &source.problems {
        let (head, rest) = problem.split_once(':').unwrap_or((problem, ""));
        let style = if head.starts_with("NOT TAKEN") { YELLOW } else { BOLD_RED };
        let _ = writeln!(out, "  {}{rest}", paint(&format!("{head}:"), style, colour));
    }
    if let Some(h) = &source.health {
        let check = h.check_word();
        match (h.last_check_at, &h.last_check) {
            (Some(at), Some(what)) => {
                let _ = writeln!(out, "  last {check} {}: {what}", short(zone, at));
            }
            _ => {
                let _ = writeln!(out, "  no {check} yet (the daemon has not run with this source)");
            }
        }
        if !h.errors.is_empty() {
            let counts: Vec<String> = h.errors.iter().map(|(kind, n)| format!("{kind} {n}")).collect();
            let _ = writeln!(out, "  failures since {}: {}", short(zone, h.watched_since), counts.join(", "));
        }
    }
    if let Some(expected) = &source.timeline.expected {
        let t = &source.timeline;
        let _ = writeln!(
            out,
            "  expected {expected:?} (grace {}): in {} days, {} on time, {} late, {} missed",
            ingest_core::time::human_duration(std::time::Duration::from_secs(t.grace_seconds.unwrap_or(0))),
            super::TIMELINE_DAYS,
            t.tally(Verdict::OnTime),
            t.tally(Verdict::Late),
            t.tally(Verdict::Missing)
        );
    }
    if !s.quarantined.is_empty() {
        let _ = writeln!(out, "  {}", paint("quarantined (newest first):", RED, colour));
        let mut table = new_table(colour);
        table.set_header(["FILE", "NAME", "RECEIVED", "REASON", "NOW AT"]);
        for q in &s.quarantined {
            table.add_row([
                format!("#{}", q.file_id),
                super::file_name(&q.path),
                received(zone, &q.received_at),
                q.error.clone(),
                q.quarantined_as.clone().unwrap_or_default(),
            ]);
        }
        indent(out, &table);
    }
    if !s.export_time_warnings.is_empty() {
        let _ = writeln!(out, "  {}", paint("doubtful export times (newest first):", YELLOW, colour));
        let mut table = new_table(colour);
        table.set_header(["FILE", "NAME", "EXPORTED AT", "WHY"]);
        for w in &s.export_time_warnings {
            table.add_row([
                format!("#{}", w.file_id),
                super::file_name(&w.path),
                w.exported_at.clone(),
                w.warning.clone(),
            ]);
        }
        indent(out, &table);
    }
    if !source.recent_rejects.is_empty() {
        let _ = writeln!(out, "  {}", paint("rejected messages (newest first):", YELLOW, colour));
        let mut table = new_table(colour);
        table.set_header(["FILE", "NAME", "MESSAGE", "LINE", "CONTROL ID", "SEGMENT", "REASON"]);
        for r in &source.recent_rejects {
            table.add_row([
                format!("#{}", r.file_id),
                super::file_name(&r.path),
                r.message_index.to_string(),
                r.line.to_string(),
                r.control_id.clone().unwrap_or_default(),
                r.segment.clone().unwrap_or_default(),
                r.reason.clone(),
            ]);
        }
        indent(out, &table);
    }
    if !s.not_used.is_empty() {
        let _ = writeln!(
            out,
            "  messages not used (types the snapshot does not read, or CSV rows skip_rows skips; not errors): {}",
            super::not_used_line(&s.not_used)
        );
    }
    if !source.recent_warnings.is_empty() {
        let _ = writeln!(
            out,
            "  {} {} in all",
            paint("fields left empty, their records kept (newest first):", YELLOW, colour),
            s.field_warnings
        );
        let mut table = new_table(colour);
        table.set_header(["FILE", "NAME", "MESSAGE", "LINE", "CONTROL ID", "FIELD", "REASON"]);
        for w in &source.recent_warnings {
            table.add_row([
                format!("#{}", w.file_id),
                super::file_name(&w.path),
                w.message_index.to_string(),
                w.line.to_string(),
                w.control_id.clone().unwrap_or_default(),
                w.field.clone().unwrap_or_default(),
                w.reason.clone(),
            ]);
        }
        indent(out, &table);
    }
    if !s.recent_files.is_empty() {
        let _ = writeln!(out, "  newest files:");
        let mut table = new_table(colour);
        table.set_header(["FILE", "NAME", "STATUS", "EXPORTED", "INGESTED", "MESSAGES", "RECORDS", "REJECTS"]);
        for f in &s.recent_files {
            let status = match FileStatus::parse(&f.status) {
                Some(FileStatus::Quarantined) => Cell::new(&f.status).fg(Color::Red),
                Some(FileStatus::IngestedWithRejects) => Cell::new(&f.status).fg(Color::Yellow),
                _ => Cell::new(&f.status),
            };
            table.add_row([
                Cell::new(format!("#{}", f.file_id)),
                Cell::new(super::file_name(&f.path)),
                status,
                Cell::new(received(zone, &f.exported_at)),
                Cell::new(received(zone, &f.ingested_at)),
                Cell::new(f.messages),
                Cell::new(f.records),
                Cell::new(f.rejects),
            ]);
        }
        indent(out, &table);
    }
}

fn indent(out: &mut String, table: &Table) {
    for line in table.to_string().lines() {
        let _ = writeln!(out, "  {line}");
    }
}

/// A time as the table shows it: `Tue 11-24 05:00 CST`.
/// Seconds are shown when a time has some: a deadline of 00:30:30 is not "00:30".
fn short(zone: Zone, t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike as _;
    zone.format(t, if t.second() == 0 { "%a %m-%d %H:%M %Z" } else { "%a %m-%d %H:%M:%S %Z" })
}

fn received(zone: Zone, t: &str) -> String {
    ingest_core::time::parse_rfc3339(t).map_or_else(|| t.to_string(), |t| short(zone, t))
}

/// The newest expected exports as one symbol each; for a source without a schedule, whether any
/// file went in on each of the last days.
fn strip(source: &SourceReport, colour: bool) -> String {
    let windows = &source.timeline.windows;
    if !windows.is_empty() {
        let newest = &windows[windows.len().saturating_sub(STRIP)..];
        return newest.iter().map(|w| symbol(w.verdict, colour)).collect();
    }
    let t = &source.timeline;
    let days: std::collections::BTreeSet<chrono::NaiveDate> = t
        .arrivals
        .iter()
        .filter(|a| FileStatus::parse(&a.status).is_some_and(|s| s.landed()))
        .filter_map(|a| ingest_core::time::parse_rfc3339(&a.received_at))
        .map(|t| t.date_naive())
        .collect();
    let today = t.to.date_naive();
    (0..STRIP as i64)
        .rev()
        .map(|back| {
            let day = today - chrono::Duration::days(back);
            match days.contains(&day) {
                true => symbol(Verdict::OnTime, colour),
                false => paint(if colour { "·" } else { "." }, DIM, colour),
            }
        })
        .collect()
}

fn symbol(verdict: Verdict, colour: bool) -> String {
    match (verdict, colour) {
        (Verdict::OnTime, true) => paint("●", GREEN, true),
        (Verdict::Late, true) => paint("▲", YELLOW, true),
        (Verdict::Missing, true) => paint("✗", BOLD_RED, true),
        (Verdict::Pending, true) => paint("○", DIM, true),
        (Verdict::OnTime, false) => "o".into(),
        (Verdict::Late, false) => "L".into(),
        (Verdict::Missing, false) => "X".into(),
        (Verdict::Pending, false) => ".".into(),
    }
}

const BOLD: Style = Style::new().bold();
const RED: Style = AnsiColor::Red.on_default();
const BOLD_RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const GREEN: Style = AnsiColor::Green.on_default();
const DIM: Style = Style::new().dimmed();

/// `text` in `style` when colouring, else as it is.
fn paint(text: &str, style: Style, colour: bool) -> String {
    match colour {
        true => format!("{style}{text}{style:#}"),
        false => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_output_has_no_escape_codes_and_colour_output_does() {
        let report = Report {
            snapshot: "/tmp/s.db".into(),
            now: ingest_core::time::parse_rfc3339("2026-11-24T11:50:00Z").expect("time"),
            counts: Default::default(),
            sources: Vec::new(),
        };
        let zone = Zone::parse("UTC").expect("zone");
        assert!(!render(&report, zone, false).contains('\x1b'));
        assert!(render(&report, zone, true).contains("\x1b["));
    }

    #[test]
    fn a_time_with_seconds_is_shown_with_them() {
        let zone = Zone::parse("America/Chicago").expect("zone");
        let t = |s| ingest_core::time::parse_rfc3339(s).expect("time");
        assert_eq!(short(zone, t("2026-11-24T06:30:30Z")), "Tue 11-24 00:30:30 CST");
        assert_eq!(short(zone, t("2026-11-24T06:30:00Z")), "Tue 11-24 00:30 CST");
    }
}
