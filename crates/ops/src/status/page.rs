//! `/status` on the daemon's HTTP port: the on-call page. One section per source with its stale
//! flag, a 14-day freshness chart (server-rendered SVG: each day a column, the time of day down
//! the side, the expected-to-deadline band shaded, each export's arrival marked on time, late or
//! missing, and every file received), the newest files, the quarantine with reasons and the
//! recent rejects. Pure: a [`Report`] in, HTML out; no script, no external asset, so that it works
//! on an air-gapped ward network and under a `default-src 'none'` policy.
//!
//! File names are shown only to roles that may read patient identifiers ([`Names::Shown`]): an EHR's
//! PDF names carry MRNs. Other roles see each file as its ledger id and extension.

use super::{Report, SourceReport, file_name};
use chrono::{DateTime, Utc};
use ingest_core::schedule::{Verdict, Window};
use ingest_core::time::Zone;
use ingest_store::FileStatus;
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// How often the page reloads itself.
pub const REFRESH_SECONDS: u32 = 60;

/// Whether file names may be shown to this reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    Shown,
    /// `file #12 (.pdf)`.
    Masked,
}

impl Names {
    fn of(self, file_id: i64, path: &str) -> String {
        match self {
            Names::Shown => file_name(path),
            Names::Masked => {
                let name = file_name(path);
                let ext = name.rsplit_once('.').map(|(_, e)| e).filter(|e| e.len() <= 8 && !e.is_empty());
                match ext {
                    Some(ext) => format!("file #{file_id} (.{ext})"),
                    None => format!("file #{file_id}"),
                }
            }
        }
    }
}

const STYLE: &str = "
:root { --ok: #2e7d32; --late: #e65100; --missing: #c62828; --pending: #616161; --band: #90caf9;
        --ink: #1b1f24; --muted: #5f6b76; --line: #d0d7de; --bg: #ffffff; --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif; color: var(--ink);
       background: var(--bg); margin: 0 auto; padding: 16px 24px 40px; max-width: 1100px; }
h1 { font-size: 22px; margin: 0 0 4px; }
nav { font-size: 14px; margin: 0 0 4px; }
a { color: #0b5cad; }
h2 { font-size: 19px; margin: 0 0 8px; display: flex; align-items: center; gap: 10px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.muted { color: var(--muted); }
.banner { padding: 10px 14px; border-radius: 6px; font-weight: 600; margin: 12px 0 18px; }
.banner.fresh { background: #e8f5e9; color: #1b5e20; border: 1px solid #a5d6a7; }
.banner.stale { background: #ffebee; color: #b71c1c; border: 1px solid #ef9a9a; }
.badge { font-size: 12px; font-weight: 700; letter-spacing: .04em; padding: 2px 8px; border-radius: 10px; color: #fff; }
.badge.fresh { background: var(--ok); }
.badge.stale { background: var(--missing); }
section.source { border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin: 0 0 20px; }
section.source.stale { border-color: #ef9a9a; }
.reason { color: #b71c1c; margin: 0 0 8px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0 0 10px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
figure { margin: 8px 0 0; }
svg.timeline { width: 100%; height: auto; display: block; background: var(--panel); border-radius: 6px; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .axis { fill: var(--muted); font-size: 11px; }
svg .today { fill: var(--ink); font-weight: 700; }
svg .empty { font-size: 15px; }
svg .band { fill: var(--band); fill-opacity: .45; }
svg .on_time { fill: var(--ok); }
svg .late { fill: var(--late); }
svg .missing { stroke: var(--missing); stroke-width: 3; stroke-linecap: round; fill: none; }
svg .pending { stroke: var(--pending); stroke-width: 2; fill: #fff; }
svg .file { fill: #37474f; fill-opacity: .55; }
svg .file.quarantined { fill: var(--missing); fill-opacity: 1; }
svg .now { stroke: var(--ink); stroke-width: 1.5; stroke-dasharray: 3 3; }
figcaption { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 13px; color: var(--muted); margin-top: 6px; }
figcaption svg { vertical-align: -2px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.reason { overflow-wrap: anywhere; }
tr.quarantined td:first-child, tr.quarantined td.status { color: var(--missing); font-weight: 600; }
tr.ingested_with_rejects td.status { color: var(--late); }
.none { color: var(--muted); font-style: italic; margin: 2px 0; }
footer { margin-top: 24px; font-size: 12px; color: var(--muted); }
";

/// The whole page, for the sources in `report`; `all` names every source, for the links between
/// the one-source pages (`/status/SOURCE`) and the page of all (`/status`).
pub fn render(report: &Report, zone: Zone, names: Names, all: &[String]) -> String {
    let names_of = |keep: fn(&SourceReport) -> bool| -> Vec<&str> {
        report.sources.iter().filter(|s| keep(s)).map(|s| s.status.name.as_str()).collect()
    };
    let stale = names_of(|s| s.stale);
    let failing = names_of(|s| !s.up);
    let held = names_of(|s| s.health.as_ref().is_some_and(|h| h.held.is_some()));
    let quarantined = names_of(SourceReport::recently_quarantined);
    let mut verdicts = Vec::new();
    for (word, list) in [("STALE", &stale), ("FAILING", &failing), ("HELD", &held), ("QUARANTINED", &quarantined)] {
        if !list.is_empty() {
            verdicts.push(format!("{word} ({})", list.join(", ")));
        }
    }
    let title = match verdicts.is_empty() {
        true => "ingest status: all sources current".to_string(),
        false => format!("ingest status: {}", verdicts.join(" · ")),
    };
    let c = &report.counts;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content=(REFRESH_SECONDS);
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "ingest status" }
                    @if all.len() > 1 {
                        nav {
                            a href="/status" { "all sources" }
                            @for name in all { " · " a href=(format!("/status/{name}")) { (name) } }
                        }
                    }
                    p.muted #as-of data-now=(ingest_core::time::rfc3339(report.now)) {
                        "As of " (zone.format(report.now, "%a %Y-%m-%d %H:%M %Z"))
                        " · reloads every " (REFRESH_SECONDS) " s · the snapshot holds "
                        (c.patients) " patients (" (c.on_panel) " on a panel), " (c.observations) " results, "
                        (c.documents) " documents"
                    }
                    @if verdicts.is_empty() {
                        p.banner.fresh #overall data-stale="false" data-failing="false" {
                            "All " (report.sources.len()) " source(s) current and reachable."
                        }
                    } @else {
                        p.banner.stale #overall data-stale=(!stale.is_empty()) data-failing=(!failing.is_empty()) {
                            @if !stale.is_empty() {
                                "STALE: " (stale.join(", ")) ". The assistant is told this data is not current. "
                            }
                            @if !failing.is_empty() {
                                "FAILING: " (failing.join(", ")) ": no new export can arrive until this is fixed. "
                            }
                            @if !held.is_empty() {
                                "HELD: " (held.join(", ")) ": staged files wait for their run marker. "
                            }
                            @if !quarantined.is_empty() {
                                "QUARANTINED: " (quarantined.join(", "))
                                    ": a file received in the last 24 h did not go in; what it held is missing."
                            }
                        }
                    }
                }
                @for source in &report.sources {
                    (section(source, report.now, zone, names))
                }
                footer {
                    "Times in " (zone) ". The chart shows the last " (super::TIMELINE_DAYS)
                    " days; `ingest status` on the host shows the same facts."
                }
            }
        }
    };
    page.into_string()
}

fn section(source: &SourceReport, now: DateTime<Utc>, zone: Zone, names: Names) -> Markup {
    let s = &source.status;
    let when = |t: Option<&str>| {
        t.and_then(ingest_core::time::parse_rfc3339)
            .map_or("never".to_string(), |t| zone.format(t, "%a %Y-%m-%d %H:%M %Z"))
    };
    let t = &source.timeline;
    let span = |seconds: u64| ingest_core::time::human_duration(std::time::Duration::from_secs(seconds));
    let schedule = match (&t.expected, t.grace_seconds, t.stale_after_seconds) {
        (Some(cron), Some(grace), _) => format!("expected {cron} (cron, {zone}), grace {}", span(grace)),
        (_, _, Some(after)) => format!("no schedule: stale when the newest export is older than {}", span(after)),
        _ => "no schedule".to_string(),
    };
    let state = if source.stale { "stale" } else { "fresh" };
    let health = source.health.as_ref();
    let held = health.is_some_and(|h| h.held.is_some());
    let problems: Vec<String> = source
        .problems
        .iter()
        .map(|p| match (names, health) {
            (Names::Masked, Some(h)) if p.starts_with("NOT TAKEN") => format!(
                "NOT TAKEN: {} file(s) match no include pattern (their names are shown to roles that may see them)",
                h.untaken.files
            ),
            _ => p.clone(),
        })
        .collect();
    let check = health.map_or("scan", |h| h.check_word());
    html! {
        section.source.(state) id=(format!("source-{}", s.name)) data-source=(s.name) data-stale=(source.stale)
            data-up=(source.up) data-held=(held) {
            h2 {
                (s.name) span.badge.(state) { (state.to_uppercase()) }
                @if !source.up { " " span.badge.stale.failing { "FAILING" } }
                @if held { " " span.badge.stale.held { "HELD" } }
            }
            @if let Some(reason) = &source.stale_reason { p.reason { (reason) } }
            @for problem in &problems { p.reason.problem { (problem) } }
            dl.facts {
                @if let Some(h) = health {
                    dt { "Last " (check) } dd.last-check {
                        @match (h.last_check_at, &h.last_check) {
                            (Some(at), Some(what)) => { (zone.format(at, "%a %Y-%m-%d %H:%M:%S %Z")) ": " (what) }
                            _ => { "none yet" }
                        }
                    }
                    @if !h.errors.is_empty() {
                        dt { "Failures" } dd {
                            @for (i, (kind, n)) in h.errors.iter().enumerate() {
                                @if i > 0 { " · " } (kind) " " (n)
                            }
                            " (since " (zone.format(h.watched_since, "%Y-%m-%d %H:%M %Z")) ")"
                        }
                    }
                }
                dt { "Last export" } dd.last-export { (when(s.last_export_at.as_deref())) }
                dt { "Last ingest" } dd { (when(s.last_ingested_at.as_deref())) }
                @if let Some(due) = source.next_deadline {
                    dt { "Next due by" } dd { (zone.format(due, "%a ") ) (zone.stamp(due)) }
                }
                dt { "Schedule" } dd { (schedule) }
                dt { "Files" } dd {
                    (source.files(FileStatus::Ingested)) " ingested · "
                    (source.files(FileStatus::IngestedWithRejects)) " with rejects · "
                    (source.files(FileStatus::Duplicate)) " duplicate · " (source.files(FileStatus::Quarantined)) " quarantined · "
                    (s.rejects) " message(s) rejected · " (s.field_warnings) " field(s) left empty"
                }
                @if !s.not_used.is_empty() {
                    dt { "Not used" } dd.not-used {
                        (super::not_used_line(&s.not_used)) " (types the snapshot does not read, or CSV rows skip_rows skips; not errors)"
                    }
                }
                @if !t.windows.is_empty() {
                    dt { "Last " (super::TIMELINE_DAYS) " days" } dd {
                        (t.tally(Verdict::OnTime)) " on time · " (t.tally(Verdict::Late)) " late · "
                        (t.tally(Verdict::Missing)) " missing · " (t.tally(Verdict::Pending)) " still due"
                    }
                }
            }
            figure {
                (chart(source, now, zone))
                figcaption {
                    span { (legend_mark("band")) " expected → deadline" }
                    span { (legend_mark("on_time")) " arrived on time" }
                    span { (legend_mark("late")) " arrived late" }
                    span { (legend_mark("missing")) " missing" }
                    span { (legend_mark("pending")) " still due" }
                    span { (legend_mark("file")) " a file received" }
                    span { (legend_mark("quarantined")) " a file quarantined" }
                }
            }
            h3 { "Recent files" }
            @if s.recent_files.is_empty() { p.none { "No file received yet." } } @else {
                table.files {
                    thead { tr {
                        th { "File" } th { "Status" } th { "Exported" } th { "Ingested" }
                        th { "Messages" } th { "Records" } th { "Rejects" }
                    } }
                    tbody {
                        @for f in &s.recent_files {
                            tr.(f.status) data-file-id=(f.file_id) {
                                td { (names.of(f.file_id, &f.path)) }
                                td.status { (f.status.replace('_', " ")) }
                                td { (short(zone, &f.exported_at)) }
                                td { (short(zone, &f.ingested_at)) }
                                td.num { (f.messages) } td.num { (f.records) } td.num { (f.rejects) }
                            }
                        }
                    }
                }
            }
            h3 { "Quarantine" }
            @if s.quarantined.is_empty() { p.none { "Nothing quarantined." } } @else {
                table.quarantine {
                    thead { tr { th { "File" } th { "Received" } th { "Why" } } }
                    tbody {
                        @for q in &s.quarantined {
                            tr.quarantined data-file-id=(q.file_id) {
                                td { (names.of(q.file_id, &q.path)) }
                                td { (short(zone, &q.received_at)) }
                                td.reason { (q.error) }
                            }
                        }
                    }
                }
            }
            @if !s.export_time_warnings.is_empty() {
                h3 { "Doubtful export times" }
                table.time-warnings {
                    thead { tr { th { "File" } th { "Exported at" } th { "Why" } } }
                    tbody {
                        @for w in &s.export_time_warnings {
                            tr data-file-id=(w.file_id) {
                                td { (names.of(w.file_id, &w.path)) }
                                td { (w.exported_at) }
                                td.reason { (w.warning) }
                            }
                        }
                    }
                }
            }
            @if !source.recent_warnings.is_empty() {
                h3 { "Fields left empty (" (s.field_warnings) "; their records kept)" }
                table.warnings {
                    thead { tr {
                        th { "File" } th { "Message" } th { "Line" } th { "Control id (MSH-10)" }
                        th { "Field" } th { "Why" }
                    } }
                    tbody {
                        @for w in &source.recent_warnings {
                            tr data-file-id=(w.file_id) {
                                td { (names.of(w.file_id, &w.path)) }
                                td.num { (w.message_index) }
                                td.num { (w.line) }
                                td { (w.control_id.as_deref().unwrap_or("-")) }
                                td { (w.field.as_deref().unwrap_or("-")) }
                                td.reason { (w.reason) }
                            }
                        }
                    }
                }
            }
            h3 { "Recent rejects" }
            @if source.recent_rejects.is_empty() { p.none { "No message rejected." } } @else {
                table.rejects {
                    thead { tr {
                        th { "File" } th { "Message" } th { "Line" } th { "Control id (MSH-10)" }
                        th { "Segment" } th { "Why" }
                    } }
                    tbody {
                        @for r in &source.recent_rejects {
                            tr data-file-id=(r.file_id) {
                                td { (names.of(r.file_id, &r.path)) }
                                td.num { (r.message_index) }
                                td.num { (r.line) }
                                td { (r.control_id.as_deref().unwrap_or("-")) }
                                td { (r.segment.as_deref().unwrap_or("-")) }
                                td.reason { (r.reason) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn short(zone: Zone, t: &str) -> String {
    ingest_core::time::parse_rfc3339(t).map_or_else(|| t.to_string(), |t| zone.format(t, "%m-%d %H:%M"))
}

/// The chart's geometry: a column per calendar day (in the configured zone), the time of day
/// going down.
struct Frame {
    first_day: chrono::NaiveDate,
    days: i64,
    /// The time-of-day range shown, in seconds since midnight.
    top: u32,
    bottom: u32,
    zone: Zone,
}

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 34.0;
const HOUR: u32 = 3600;
const DAY: u32 = 24 * HOUR;

impl Frame {
    fn new(source: &SourceReport, now: DateTime<Utc>, zone: Zone) -> Frame {
        let t = &source.timeline;
        let first_day = zone.date(t.from);
        let days = (zone.date(now) - first_day).num_days() + 1;
        let mut times: Vec<u32> = Vec::new();
        for w in &t.windows {
            times.push(zone.seconds_of_day(w.expected_at));
            times.push(deadline_seconds(w, zone));
            times.extend(w.arrived_at.map(|a| zone.seconds_of_day(a)));
        }
        let received = t.arrivals.iter().filter_map(|a| ingest_core::time::parse_rfc3339(&a.received_at));
        times.extend(received.map(|a| zone.seconds_of_day(a)));
        let (top, bottom) = match (times.iter().min(), times.iter().max()) {
            (Some(&lo), Some(&hi)) => {
                // An hour either side, on whole hours, at least four hours tall.
                let mut top = lo.saturating_sub(HOUR) / HOUR * HOUR;
                let mut bottom = (hi + HOUR).min(DAY).div_ceil(HOUR) * HOUR;
                while bottom - top < 4 * HOUR {
                    top = top.saturating_sub(HOUR);
                    bottom = (bottom + HOUR).min(DAY);
                }
                (top, bottom.min(DAY))
            }
            _ => (0, DAY),
        };
        Frame { first_day, days: days.max(1), top, bottom, zone }
    }

    fn column_width(&self) -> f64 {
        (WIDTH - LEFT - RIGHT) / self.days as f64
    }

    fn column(&self, t: DateTime<Utc>) -> Option<i64> {
        let i = (self.zone.date(t) - self.first_day).num_days();
        (0..self.days).contains(&i).then_some(i)
    }

    fn x(&self, column: i64) -> f64 {
        LEFT + column as f64 * self.column_width()
    }

    fn y(&self, seconds: u32) -> f64 {
        let span = f64::from(self.bottom - self.top).max(1.0);
        TOP + (f64::from(seconds.clamp(self.top, self.bottom) - self.top) / span) * (HEIGHT - TOP - BOTTOM)
    }
}

/// A deadline's time of day; one that falls after midnight is drawn at the end of the day.
fn deadline_seconds(w: &Window, zone: Zone) -> u32 {
    if zone.date(w.deadline) == zone.date(w.expected_at) { zone.seconds_of_day(w.deadline) } else { DAY }
}

fn chart(source: &SourceReport, now: DateTime<Utc>, zone: Zone) -> Markup {
    let f = Frame::new(source, now, zone);
    let t = &source.timeline;
    let cw = f.column_width();
    let step = if f.bottom - f.top > 12 * HOUR { 2 * HOUR } else { HOUR };
    let hours: Vec<u32> = (f.top / step * step..=f.bottom).step_by(step as usize).filter(|h| *h >= f.top).collect();
    let today = f.column(now);
    let label = format!(
        "Freshness of source {} over the last {} days: {} on time, {} late, {} missing, {} still due",
        source.status.name,
        super::TIMELINE_DAYS,
        t.tally(Verdict::OnTime),
        t.tally(Verdict::Late),
        t.tally(Verdict::Missing),
        t.tally(Verdict::Pending)
    );
    html! {
        svg.timeline xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
            role="img" aria-label=(label)
            data-days=(f.days) data-top=(f.top) data-bottom=(f.bottom) {
            title { (label) }
            g.hours {
                @for h in &hours {
                    line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(f.y(*h)) y2=(f.y(*h)) {}
                    text.axis x=(LEFT - 6.0) y=(f.y(*h) + 4.0) text-anchor="end" { (format!("{:02}:00", h / HOUR)) }
                }
            }
            g.days {
                @for d in 0..f.days {
                    @let date = f.first_day + chrono::Duration::days(d);
                    line.grid x1=(f.x(d)) x2=(f.x(d)) y1=(TOP) y2=(HEIGHT - BOTTOM) {}
                    @let x = f.x(d) + cw / 2.0;
                    text.axis.today[Some(d) == today] x=(x) y=(HEIGHT - BOTTOM + 14.0) text-anchor="middle" {
                        (date.format("%a"))
                    }
                    text.axis.today[Some(d) == today] x=(x) y=(HEIGHT - BOTTOM + 27.0) text-anchor="middle" {
                        (date.format("%m-%d"))
                    }
                }
            }
            g.windows {
                @for w in &t.windows {
                    @if let Some(col) = f.column(w.expected_at) {
                        (window(&f, col, w))
                    }
                }
            }
            g.files {
                @for a in &t.arrivals {
                    @if let Some(at) = ingest_core::time::parse_rfc3339(&a.received_at) {
                        @if let Some(col) = f.column(at) {
                            @let (x, y) = (f.x(col) + cw * 0.2, f.y(zone.seconds_of_day(at)));
                            @let class = if FileStatus::parse(&a.status) == Some(FileStatus::Quarantined) { "file quarantined" } else { "file" };
                            rect class=(class) data-file-id=(a.file_id) data-status=(a.status)
                                x=(x - 3.5) y=(y - 3.5) width="7" height="7"
                                transform=(format!("rotate(45 {x:.1} {y:.1})")) {
                                title {
                                    "file #" (a.file_id) " " (a.status.replace('_', " "))
                                    ", received " (zone.format(at, "%a %m-%d %H:%M"))
                                }
                            }
                        }
                    }
                }
            }
            @if t.windows.is_empty() && t.arrivals.is_empty() {
                text.axis.empty x=((LEFT + WIDTH - RIGHT) / 2.0) y=((HEIGHT - BOTTOM) / 2.0) text-anchor="middle" {
                    "Nothing received in the last " (super::TIMELINE_DAYS) " days"
                }
            }
            @if let Some(col) = today {
                @let y = f.y(zone.seconds_of_day(now));
                line.now x1=(f.x(col)) x2=(f.x(col) + cw) y1=(y) y2=(y) { title { "now" } }
            }
        }
    }
}

fn window(f: &Frame, col: i64, w: &Window) -> Markup {
    let cw = f.column_width();
    let (x0, xc) = (f.x(col) + cw * 0.3, f.x(col) + cw * 0.62);
    let (y0, y1) = (f.y(f.zone.seconds_of_day(w.expected_at)), f.y(deadline_seconds(w, f.zone)));
    let verdict = match w.verdict {
        Verdict::OnTime => "on_time",
        Verdict::Late => "late",
        Verdict::Missing => "missing",
        Verdict::Pending => "pending",
    };
    let fmt = |t: DateTime<Utc>| f.zone.format(t, "%a %m-%d %H:%M");
    let arrived = w.arrived_at.map(|a| format!(", arrived {}", fmt(a))).unwrap_or_default();
    let (expected, due) = (fmt(w.expected_at), fmt(w.deadline));
    let tip = format!("{}: expected {expected}, due by {due}{arrived}", verdict.replace('_', " "));
    html! {
        g.window data-verdict=(verdict) data-expected=(ingest_core::time::rfc3339(w.expected_at))
            data-arrived=[w.arrived_at.map(ingest_core::time::rfc3339)] {
            title { (tip) }
            rect.band x=(x0) y=(y0) width=(cw * 0.64) height=((y1 - y0).max(2.0)) rx="2" {}
            @match (w.verdict, w.arrived_at) {
                (_, Some(a)) => {
                    @let y = f.y(f.zone.seconds_of_day(a));
                    @if w.verdict == Verdict::Late {
                        @let triangle = format!(
                            "M{xc:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z", y - 7.0, xc + 7.0, y + 5.0, xc - 7.0, y + 5.0
                        );
                        path.marker.late d=(triangle) {}
                    } @else {
                        circle.marker.(verdict) cx=(xc) cy=(y) r="6" {}
                    }
                }
                (Verdict::Missing, None) => {
                    path.marker.missing d=(format!("M{:.1} {:.1} L{:.1} {:.1} M{:.1} {:.1} L{:.1} {:.1}",
                        xc - 6.0, y1 - 6.0, xc + 6.0, y1 + 6.0, xc + 6.0, y1 - 6.0, xc - 6.0, y1 + 6.0)) {}
                }
                _ => { circle.marker.pending cx=(xc) cy=(y1) r="5" {} }
            }
        }
    }
}

/// A small sample of a chart mark, for the legend.
fn legend_mark(kind: &str) -> Markup {
    html! {
        svg width="14" height="14" viewBox="0 0 14 14" aria-hidden="true" {
            @match kind {
                "band" => { rect.band x="1" y="1" width="12" height="12" rx="2" {} }
                "late" => { path.late d="M7 1 L13 12 L1 12 Z" {} }
                "missing" => { path.missing d="M2 2 L12 12 M12 2 L2 12" {} }
                "pending" => { circle.pending cx="7" cy="7" r="5" {} }
                "file" => { rect.file x="4" y="4" width="6" height="6" transform="rotate(45 7 7)" {} }
                "quarantined" => {
                    rect.file.quarantined x="4" y="4" width="6" height="6" transform="rotate(45 7 7)" {}
                }
                _ => { circle.(kind) cx="7" cy="7" r="6" {} }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_names_keep_the_ledger_id_and_extension_only() {
        assert_eq!(Names::Masked.of(12, "/drop/NOTE_MRN12345_20261124.pdf"), "file #12 (.pdf)");
        assert_eq!(Names::Masked.of(3, "/drop/EXPORT"), "file #3");
        assert_eq!(Names::Shown.of(12, "/drop/NOTE_MRN12345_20261124.pdf"), "NOTE_MRN12345_20261124.pdf");
    }
}
