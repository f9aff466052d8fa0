//! The text rendering of an answer: what a model reads. Compact and clinical, one line per result
//! (value, unit, flag, range, time, and the value before it with the change), the stale warning
//! first, records grouped under the export that carried them (a legend of exports, and a tag on
//! a line only when it came from another export than the page's newest), free text fenced as
//! untrusted clinical text (by its type: see `untrusted`). Pure: answer types in, text out. The JSON of `structuredContent`
//! carries every field; this carries what a resident reads.

use crate::dto::*;
use ingest_core::time::Zone;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How to render: the zone in which times are shown.
#[derive(Debug, Clone, Copy)]
pub struct Renderer {
    pub zone: Zone,
}

/// An answer that has a text rendering.
pub trait Render {
    fn render(&self, r: &Renderer) -> String;
}

/// A record's head text with its details in parentheses, in one fence: `Penicillin (hives, SV)`.
fn with_detail(head: &ClinicalText, detail: &[Option<&ClinicalText>]) -> String {
    let detail: Vec<&ClinicalText> = detail.iter().flatten().copied().collect();
    if detail.is_empty() {
        return head.to_string();
    }
    ClinicalText::new(format!("{} ({})", head.raw(), ClinicalText::join(detail, ", ").raw())).to_string()
}

/// A structured field (a code, an id, a location, a flag) as it may stand outside a fence: on
/// one line, with no `<` or `>`. Such fields are not free text, but an export can still put
/// anything in them.
fn plain(text: &str) -> std::borrow::Cow<'_, str> {
    crate::untrusted::one_line_plain(text)
}

/// An optional text fenced, or what to say when there is none.
fn or(text: &Option<ClinicalText>, missing: &str) -> String {
    text.as_ref().map_or_else(|| missing.to_string(), ToString::to_string)
}

impl Renderer {
    /// `11-24 05:00` in the configured zone; the text as given if it is not a time.
    fn time(&self, t: &str) -> String {
        match ingest_core::time::parse_rfc3339(t) {
            Some(t) => self.zone.format(t, "%m-%d %H:%M"),
            None => t.to_string(),
        }
    }

    fn opt_time(&self, t: &Option<String>) -> String {
        t.as_deref().map(|t| self.time(t)).unwrap_or_else(|| "time unknown".into())
    }

    /// `t` shown against `reference`: the time alone on the same day.
    fn time_near(&self, t: &str, reference: Option<&str>) -> String {
        let full = self.time(t);
        match reference.map(|r| self.time(r)) {
            Some(r) if r.get(..5) == full.get(..5) => full.get(6..).unwrap_or(&full).to_string(),
            _ => full,
        }
    }

    /// The first lines of every answer: staleness before anything else, then how current.
    fn header(&self, out: &mut String, snapshot: &SnapshotInfo) {
        let zone = self.zone_name(snapshot.as_of.as_deref());
        let as_of = snapshot.as_of.as_deref().map_or_else(|| "never (empty snapshot)".into(), |t| self.time(t));
        if snapshot.stale {
            let _ = writeln!(out, "STALE DATA: tell the clinician before using it. Snapshot as of {as_of} {zone}.");
            for reason in &snapshot.stale_reasons {
                let _ = writeln!(out, "  - {reason}");
            }
        } else {
            let _ = writeln!(out, "Snapshot as of {as_of} {zone}; every source current. Times are {zone}.");
        }
    }

    fn zone_name(&self, at: Option<&str>) -> String {
        let t = at.and_then(ingest_core::time::parse_rfc3339).unwrap_or_default();
        self.zone.format(t, "%Z")
    }

    fn age(&self, birth_date: &Option<String>, as_of: &Option<String>) -> Option<String> {
        let birth = chrono::NaiveDate::parse_from_str(birth_date.as_deref()?, "%Y-%m-%d").ok()?;
        let at = as_of.as_deref().and_then(ingest_core::time::parse_rfc3339)?.date_naive();
        Some(format!("{}y", at.years_since(birth)?))
    }
}

/// The exports an answer's records came from: a legend, and the tag of a record not from the
/// first (newest) one.
struct Exports {
    labels: BTreeMap<(String, String), usize>,
    legend: Vec<String>,
}

impl Exports {
    fn of<'a>(r: &Renderer, records: impl IntoIterator<Item = &'a Freshness>) -> Exports {
        let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
        for f in records {
            let ingested = seen.entry((f.source.clone(), f.exported_at.clone())).or_default();
            if f.ingested_at > *ingested {
                *ingested = f.ingested_at.clone();
            }
        }
        let mut ordered: Vec<((String, String), String)> = seen.into_iter().collect();
        ordered.sort_by(|a, b| b.0.1.cmp(&a.0.1).then_with(|| a.0.0.cmp(&b.0.0)));
        let mut labels = BTreeMap::new();
        let mut legend = Vec::new();
        for (i, ((source, exported), ingested)) in ordered.into_iter().enumerate() {
            legend.push(format!(
                "E{} = {source} export {} (ingested {})",
                i + 1,
                r.time(&exported),
                r.time_near(&ingested, Some(&exported))
            ));
            labels.insert((source, exported), i + 1);
        }
        Exports { labels, legend }
    }

    fn write_legend(&self, out: &mut String) {
        match self.legend.len() {
            0 => {}
            1 => {
                let _ = writeln!(out, "From {}", self.legend[0].trim_start_matches("E1 = "));
            }
            _ => {
                let _ = writeln!(out, "From exports: {}; lines from other than E1 are tagged", self.legend.join("; "));
            }
        }
    }

    /// ` [E2]` for a record not from the newest export; nothing for one from it.
    fn tag(&self, f: &Freshness) -> String {
        match self.labels.get(&(f.source.clone(), f.exported_at.clone())) {
            Some(1) | None => String::new(),
            Some(n) => format!(" [E{n}]"),
        }
    }
}

fn mark(o: &Observation) -> &'static str {
    match super::trends::of(o) {
        super::trends::Severity::Critical => "!! ",
        super::trends::Severity::Abnormal => "!  ",
        super::trends::Severity::Normal => "   ",
    }
}

/// ` · census: …`, fenced, when the census kept notes on the stay; with the census's time when
/// it is not the export the line is from (an ADT update since does not make them newer).
fn census_notes(r: &Renderer, notes: &Option<ClinicalText>, at: &Option<String>, line: &Freshness) -> String {
    let Some(notes) = notes else { return String::new() };
    match at.as_deref().filter(|at| *at != line.exported_at) {
        Some(at) => format!(" · census {}: {notes}", r.time(at)),
        None => format!(" · census: {notes}"),
    }
}

fn signed(delta: f64) -> String {
    let text = format!("{delta:+}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

/// One result on one line.
fn result_line(r: &Renderer, o: &Observation, exports: &Exports) -> String {
    // A LOINC long name's bracketed property ("Potassium [Moles/volume] in Serum or Plasma") is
    // left to the JSON: the code beside the name identifies the test.
    let name = o.name.as_ref().map(|n| ClinicalText::new(n.raw().split(" [").next().unwrap_or(n.raw())));
    let range = o.reference_range.as_ref().filter(|r| !r.raw().trim().is_empty());
    // The name and the reference range in one fence: `Potassium (ref 3.5-5.1)`.
    let label = match (&name, range) {
        (Some(name), Some(range)) => ClinicalText::new(format!("{} (ref {})", name.raw(), range.raw())).to_string(),
        (Some(name), None) => name.to_string(),
        (None, Some(range)) => ClinicalText::new(format!("ref {}", range.raw())).to_string(),
        (None, None) => String::new(),
    };
    let value = o.value.as_ref().map_or_else(|| "(no value)".to_string(), ToString::to_string);
    let mut line = format!("{}{label} [{}] {value}", mark(o), plain(&o.code));
    for part in [&o.unit, &o.abnormal_flag].into_iter().flatten().filter(|x| !x.is_empty() && x.as_str() != "N") {
        let _ = write!(line, " {}", plain(part));
    }
    if o.flag_from_range {
        line.push_str(" (by ref range; no flag exported)");
    }
    let _ = write!(line, " {}", r.opt_time(&o.observed_at));
    match o.status.as_deref() {
        Some("C") => line.push_str(" corrected"),
        Some("P") => line.push_str(" preliminary"),
        _ => {}
    }
    let mut later = o.observed_at.as_deref();
    for prior in o.previous.iter().chain(&o.earlier) {
        let _ = write!(line, " ← {}", prior.value.as_ref().map_or_else(|| "?".to_string(), ToString::to_string));
        if let Some(flag) = &prior.abnormal_flag {
            let _ = write!(line, " {}", plain(flag));
        }
        if let Some(at) = &prior.observed_at {
            let _ = write!(line, " {}", r.time_near(at, later));
            later = Some(at);
        }
        if let Some(d) = prior.delta {
            let _ = write!(line, " ({})", signed(d));
        }
    }
    if let Some(comment) = &o.comment {
        let _ = write!(line, " · comment {}", shortened(comment, COMMENT_CHARS));
    }
    line.push_str(&exports.tag(&o.freshness));
    line
}

/// How much of a result's comment its line shows; the JSON has it whole.
const COMMENT_CHARS: usize = 160;

/// The text cut to `max` characters, with `…` where it was cut.
fn shortened(text: &ClinicalText, max: usize) -> ClinicalText {
    match text.raw().char_indices().nth(max) {
        Some((at, _)) => ClinicalText::new(format!("{}…", &text.raw()[..at])),
        None => text.clone(),
    }
}

/// A drug with its dose, route and frequency, fenced once. The route and frequency are left out
/// when the name already says them; the dose never is (`Metoprolol 25 mg tablet` does not say
/// how many tablets).
fn drug_text(name: &ClinicalText, parts: [&Option<ClinicalText>; 3]) -> String {
    let [dose, route, frequency] = parts;
    let unsaid = |p: &&ClinicalText| !name.raw().contains(p.raw());
    let extra = dose.iter().chain(route.iter().filter(unsaid)).chain(frequency.iter().filter(unsaid));
    ClinicalText::join(std::iter::once(name).chain(extra), " ").to_string()
}

fn medication_line(r: &Renderer, m: &Medication) -> String {
    let mut line = drug_text(&m.name, [&m.dose, &m.route, &m.frequency]);
    match (m.status.as_deref(), m.exported_status.as_deref()) {
        (Some(s), Some(e)) => {
            let (s, e) = (plain(s), plain(e));
            let _ = write!(line, " ({s}: ended {}; exported as {e})", r.opt_time(&m.end_at));
        }
        (Some(s), None) if s != "active" => {
            match m.end_at.as_deref().filter(|_| matches!(s, "discontinued" | "completed" | "cancelled")) {
                Some(end) => {
                    let _ = write!(line, " ({} {})", plain(s), r.time(end));
                }
                None => {
                    let _ = write!(line, " ({})", plain(s));
                }
            }
        }
        _ => {}
    }
    line
}

fn state_text(s: &MedicationState) -> String {
    drug_text(&s.name, [&s.dose, &s.route, &s.frequency])
}

fn change_text(c: &MedicationChange) -> String {
    let words = c.change.replace('_', " ").replace('+', ", ");
    match &c.before {
        Some(before) if c.change.contains("changed") => {
            let mut parts = Vec::new();
            for (name, b, a) in [
                ("dose", &before.dose, &c.after.dose),
                ("route", &before.route, &c.after.route),
                ("frequency", &before.frequency, &c.after.frequency),
            ] {
                if b != a {
                    let show = |v: &Option<ClinicalText>| or(v, "none");
                    parts.push(format!("{name} {} → {}", show(b), show(a)));
                }
            }
            format!("{words} {}: {}", c.after.name, parts.join(", "))
        }
        _ => format!("{words} {}", state_text(&c.after)),
    }
}

fn document_line(r: &Renderer, d: &DocumentSummary, exports: &Exports) -> String {
    // The title (else the type) and the author in one fence.
    let title = d.title.as_ref().or(d.doc_type.as_ref());
    let heading = match (title, &d.author) {
        (Some(t), Some(a)) => ClinicalText::new(format!("{} by {}", t.raw(), a.raw())).to_string(),
        (Some(t), None) => t.to_string(),
        (None, Some(a)) => ClinicalText::new(format!("document by {}", a.raw())).to_string(),
        (None, None) => "document".to_string(),
    };
    let mut line = format!("{heading} {}", r.opt_time(&d.authored_at));
    let _ = write!(line, " [{}]", plain(&d.document_id));
    match d.event.as_str() {
        "T06" => line.push_str(" addendum"),
        "T10" => line.push_str(" replacement"),
        _ => {}
    }
    if let Some(by) = &d.replaced_by {
        let _ = write!(line, " replaced by {by}");
    }
    if let Some(status) = d.text_status.as_deref().filter(|s| *s != "ok") {
        let _ = write!(line, " text: {status}");
    }
    line.push_str(&exports.tag(&d.freshness));
    line
}

fn omitted(out: &mut String, omitted: &[Omitted], next_cursor: &Option<String>) {
    for o in omitted {
        let _ = writeln!(out, "Not shown (answer budget): {} — {}", o.what, o.call);
    }
    if let Some(cursor) = next_cursor {
        let _ = writeln!(out, "More: call again with cursor {cursor:?}");
    }
}

fn notes(out: &mut String, notes: &[String]) {
    for note in notes {
        let _ = writeln!(out, "Note: {note}");
    }
}

impl Render for SnapshotStatus {
    fn render(&self, r: &Renderer) -> String {
        let mut out = String::new();
        r.header(&mut out, &self.snapshot);
        for s in &self.sources {
            let _ = writeln!(
                out,
                "source {}: {} · last export {} · ingested {} · next due {} · files {} in, {} duplicate, {} quarantined · {} records rejected · {} fields left empty",
                s.name,
                if s.stale { "STALE" } else { "current" },
                s.last_export_at.as_deref().map_or("never".into(), |t| r.time(t)),
                s.last_ingested_at.as_deref().map_or("never".into(), |t| r.time(t)),
                s.next_expected_at.as_deref().map_or("not scheduled".into(), |t| r.time(t)),
                s.files_ingested,
                s.files_duplicate,
                s.files_quarantined,
                s.records_rejected,
                s.fields_left_empty
            );
            // Why it is stale is in the header already.
            for problem in &s.health_problems {
                let _ = writeln!(out, "  {problem}");
            }
            for warning in &s.export_time_warnings {
                let _ = writeln!(out, "  DOUBTFUL EXPORT TIME: {warning}");
            }
        }
        let c = &self.counts;
        let _ = writeln!(
            out,
            "records: {} patients ({} on the panel) · {} results · {} medication orders · {} problems · {} allergies · {} documents",
            c.patients, c.on_panel, c.observations, c.medications, c.problems, c.allergies, c.documents
        );
        notes(&mut out, &self.notes);
        out
    }
}

/// The admission time, and when no admission was seen (a patient placed on the panel by an update),
/// so that the model does not take a missing time for a missing stay.
fn admitted(r: &Renderer, at: &Option<String>, seen: bool) -> String {
    match seen {
        true => r.opt_time(at),
        false => format!("{} (no admission message in the exports read: on the panel from an update)", r.opt_time(at)),
    }
}

impl Render for PanelList {
    fn render(&self, r: &Renderer) -> String {
        let mut out = String::new();
        r.header(&mut out, &self.snapshot);
        let exports = Exports::of(r, self.patients.iter().map(|p| &p.freshness));
        exports.write_legend(&mut out);
        let _ = writeln!(out, "Panel: {} patients on this page", self.patients.len());
        for p in &self.patients {
            let _ = writeln!(
                out,
                "{} {} ({}) {} {} · {} · admitted {}{}{}",
                plain(p.location.as_deref().unwrap_or("no location")),
                or(&p.name, "(no name)"),
                plain(&p.mrn),
                plain(p.sex.as_deref().unwrap_or("?")),
                r.age(&p.birth_date, &self.snapshot.as_of).unwrap_or_else(|| "age ?".into()),
                or(&p.attending, "no attending"),
                admitted(r, &p.admitted_at, p.admission_seen),
                census_notes(r, &p.census_notes, &p.census_notes_at, &p.freshness),
                exports.tag(&p.freshness)
            );
        }
        omitted(&mut out, &[], &self.next_cursor);
        notes(&mut out, &self.notes);
        out
    }
}

impl Render for PatientRecord {
    fn render(&self, r: &Renderer) -> String {
        let mut out = String::new();
        r.header(&mut out, &self.snapshot);
        let p = &self.patient;
        let mut records: Vec<&Freshness> = vec![&p.freshness];
        records.extend(p.stays.iter().map(|s| &s.freshness));
        records.extend(self.latest_observations.iter().map(|o| &o.freshness));
        records.extend(self.active_medications.iter().map(|m| &m.freshness));
        records.extend(self.problems.iter().map(|x| &x.freshness));
        records.extend(self.allergies.iter().map(|x| &x.freshness));
        records.extend(self.documents.iter().map(|x| &x.freshness));
        let exports = Exports::of(r, records);
        exports.write_legend(&mut out);
        let _ = writeln!(
            out,
            "{} ({}) {} {} born {}",
            or(&p.name, "(no name)"),
            plain(&p.mrn),
            plain(p.sex.as_deref().unwrap_or("?")),
            r.age(&p.birth_date, &self.snapshot.as_of).unwrap_or_else(|| "age ?".into()),
            p.birth_date.as_deref().unwrap_or("?")
        );
        for s in &p.stays {
            let state = match s.on_panel {
                Some(true) => "on the panel".to_string(),
                Some(false) => match &s.discharged_at {
                    Some(at) => format!("off the panel (discharged {})", r.time(at)),
                    // A census that no longer lists them, or a discharge without its time.
                    None => "off the panel (no discharge time in the exports read)".to_string(),
                },
                None => "panel status unknown".to_string(),
            };
            let _ = writeln!(
                out,
                "stay ({}): {state} · {} · {} · admitted {}{}{}",
                s.panel_source,
                plain(s.location.as_deref().unwrap_or("no location")),
                or(&s.attending, "no attending"),
                admitted(r, &s.admitted_at, s.admission_seen || s.on_panel != Some(true)),
                census_notes(r, &s.census_notes, &s.census_notes_at, &s.freshness),
                exports.tag(&s.freshness)
            );
        }
        let allergies: Vec<String> = self
            .allergies
            .iter()
            .map(|a| with_detail(&a.allergen, &[a.reaction.as_ref(), a.severity.as_ref()]) + &exports.tag(&a.freshness))
            .collect();
        list_line(&mut out, "allergies", &allergies, "none exported");
        let problems: Vec<String> = self
            .problems
            .iter()
            .map(|x| {
                let mut text = x.description.to_string();
                let detail: Vec<_> =
                    [x.code.as_deref(), x.status.as_deref()].into_iter().flatten().map(plain).collect();
                if !detail.is_empty() {
                    let _ = write!(text, " ({})", detail.join(", "));
                }
                text + &exports.tag(&x.freshness)
            })
            .collect();
        list_line(&mut out, "problems", &problems, "none exported");
        let meds: Vec<String> =
            self.active_medications.iter().map(|m| medication_line(r, m) + &exports.tag(&m.freshness)).collect();
        list_line(&mut out, "active medications", &meds, "none exported");
        if self.latest_observations.is_empty() {
            let _ = writeln!(out, "latest results: none");
        } else {
            let _ = writeln!(out, "latest results (critical first, then abnormal; ← the one before):");
            for o in &self.latest_observations {
                let _ = writeln!(out, "  {}", result_line(r, o, &exports));
            }
        }
        let docs: Vec<String> = self.documents.iter().map(|d| document_line(r, d, &exports)).collect();
        list_line(&mut out, "documents", &docs, "none");
        if !self.withheld.is_empty() {
            let _ = writeln!(out, "withheld from this role: {}", self.withheld.join(", "));
        }
        omitted(&mut out, &self.omitted, &None);
        notes(&mut out, &self.notes);
        out
    }
}

fn list_line(out: &mut String, label: &str, items: &[String], empty: &str) {
    if items.is_empty() {
        let _ = writeln!(out, "{label}: {empty}");
    } else {
        let _ = writeln!(out, "{label}: {}", items.join("; "));
    }
}

impl Render for ObservationList {
    fn render(&self, r: &Renderer) -> String {
        let mut out = String::new();
        r.header(&mut out, &self.snapshot);
        let records =
            self.trends.iter().map(|t| &t.latest.freshness).chain(self.observations.iter().map(|o| &o.freshness));
        let exports = Exports::of(r, records);
        exports.write_legend(&mut out);
        if !self.trends.is_empty() {
            let _ = writeln!(
                out,
                "{}: one line per code (critical first) · n results, range, first → last time:",
                plain(&self.mrn)
            );
            for t in &self.trends {
                let mut line = result_line(r, &t.latest, &exports);
                let _ = write!(line, " · {} result{}", t.count, if t.count == 1 { "" } else { "s" });
                if t.count > 1 {
                    if let (Some(min), Some(max)) = (t.min, t.max) {
                        let _ = write!(line, ", {min}–{max}");
                    }
                    if let Some(first) = &t.first_at {
                        let _ = write!(line, ", since {}", r.time(first));
                    }
                }
                let _ = writeln!(out, "  {line}");
            }
        }
        if !self.observations.is_empty() {
            let _ = writeln!(out, "{}: results, newest first:", plain(&self.mrn));
            for o in &self.observations {
                let _ = writeln!(out, "  {}", result_line(r, o, &exports));
            }
        }
        omitted(&mut out, &self.omitted, &self.next_cursor);
        notes(&mut out, &self.notes);
        out
    }
}

impl Render for MedicationList {
    fn render(&self, r: &Renderer) -> String {
        let mut out = String::new();
        r.header(&mut out, &self.snapshot);
        let exports = Exports::of(r, self.medications.iter().map(|m| &m.freshness));
        exports.write_legend(&mut out);
        let _ = writeln!(out, "{}: {} medication orders", plain(&self.mrn), self.medications.len());
        for m in &self.medications {
            let start = m.start_at.as_deref().map(|t| format!(" since {}", r.time(t))).unwrap_or_default();
            // An export without order ids gives none to show (the key made of drug|start|route is ours).
            let order = match m.order_id.contains('|') {
                true => String::new(),
                false => format!(" [order {}]", plain(&m.order_id)),
            };
            let _ = writeln!(out, "  {}{start}{order}{}", medication_line(r, m), exports.tag(&m.freshness));
        }
        omitted(&mut out, &[], &self.next_cursor);
        notes(&mut out, &self.notes);
        out
    }
}

impl Render for DocumentList {
    fn render(&self, r: &Renderer) -> String {
        let mut out = String::new();
        r.header(&mut out, &self.snapshot);
        let exports = Exports::of(r, self.documents.iter().map(|d| &d.freshness));
        exports.write_legend(&mut out);
        let _ = writeln!(out, "{}: {} documents, newest first", plain(&self.mrn), self.documents.len());
        for d in &self.documents {
            let _ = writeln!(out, "  {}", document_line(r, d, &exports));
        }
        omitted(&mut out, &[], &self.next_cursor);
        notes(&mut out, &self.notes);
        out
    }
}

impl Render for Document {
    fn render(&self, r: &Renderer) -> String {
        let mut out = String::new();
        r.header(&mut out, &self.snapshot);
        let exports = Exports::of(r, [&self.document.freshness]);
        exports.write_legend(&mut out);
        let _ = writeln!(out, "{} · patient {}", document_line(r, &self.document, &exports), plain(&self.mrn));
        if !self.addenda.is_empty() {
            let _ = writeln!(out, "addenda: {}", self.addenda.iter().map(|a| plain(a)).collect::<Vec<_>>().join(", "));
        }
        if let Some([from, to]) = self.text_range {
            let _ = writeln!(out, "text: characters {from}–{to} of {}", self.text_chars);
        }
        let _ = writeln!(out, "{}", self.text.fenced_block());
        omitted(&mut out, &[], &self.next_cursor);
        out
    }
}

impl Render for SearchResults {
    fn render(&self, r: &Renderer) -> String {
        let mut out = String::new();
        r.header(&mut out, &self.snapshot);
        let exports = Exports::of(r, self.results.iter().map(|h| &h.document.freshness));
        exports.write_legend(&mut out);
        if self.results.is_empty() {
            let _ = writeln!(out, "No document matches on this page.");
        } else {
            let _ =
                writeln!(out, "{} documents match (best first); read_document gives one in full:", self.results.len());
        }
        for h in &self.results {
            let _ = writeln!(out, "  {} · {}", plain(&h.mrn), document_line(r, &h.document, &exports));
            let _ = writeln!(out, "    {}", h.snippet);
        }
        omitted(&mut out, &[], &self.next_cursor);
        notes(&mut out, &self.notes);
        out
    }
}

impl Render for PanelChanges {
    fn render(&self, r: &Renderer) -> String {
        let mut out = String::new();
        r.header(&mut out, &self.snapshot);
        for w in &self.windows {
            let run = match (&w.run_from, &w.run_to) {
                (Some(from), Some(to)) if from != to => format!("{}–{}", r.time(from), r.time(to)),
                (_, Some(to)) => r.time(to),
                _ => "none".into(),
            };
            let since = w
                .since
                .as_deref()
                .map_or("everything in the snapshot".into(), |s| format!("exports after {}", r.time(s)));
            let _ = writeln!(
                out,
                "Window, source {}: {since} ({}); latest run {run}, {} files",
                w.source, w.basis, w.files
            );
            if let Some(warning) = &w.warning {
                let _ = writeln!(out, "  WARNING: {warning}");
            }
        }
        let t = &self.totals;
        let _ = writeln!(
            out,
            "Totals: {} on the panel, {} left · {} admitted{}, {} transferred, {} discharged or off the census · results {} critical, {} abnormal, {} normal · {} medication changes · {} new documents",
            t.patients_on_panel,
            t.patients_left,
            t.admissions,
            match t.placed {
                0 => String::new(),
                n => format!(" ({n} more placed by an update, admission not seen)"),
            },
            t.transfers,
            t.discharges,
            t.critical_results,
            t.abnormal_results,
            t.normal_results,
            t.medication_changes,
            t.new_documents
        );
        if !self.withheld.is_empty() {
            let _ = writeln!(out, "WITHHELD from this role (not \"no changes\"): {}", self.withheld.join(", "));
        }
        let mut records: Vec<&Freshness> = Vec::new();
        for p in &self.patients {
            records.extend(p.events.iter().map(|e| &e.freshness));
            records.extend(p.new_results.iter().map(|o| &o.freshness));
            records.extend(p.medication_changes.iter().map(|m| &m.freshness));
            records.extend(p.new_documents.iter().map(|d| &d.freshness));
            records.extend(p.corrections.iter().map(|c| &c.freshness));
        }
        let exports = Exports::of(r, records);
        exports.write_legend(&mut out);
        let mut quiet = Vec::new();
        for p in &self.patients {
            let who = format!(
                "{} {} ({})",
                plain(p.location.as_deref().unwrap_or("no location")),
                or(&p.name, "(no name)"),
                plain(&p.mrn)
            );
            let changed = !p.events.is_empty()
                || p.critical_results + p.abnormal_results + p.normal_results > 0
                || !p.medication_changes.is_empty()
                || !p.new_documents.is_empty()
                || !p.corrections.is_empty();
            if !changed {
                quiet.push(who);
                continue;
            }
            let mut head = who;
            if let Some(a) = &p.attending {
                let _ = write!(head, " · {a}");
            }
            if !p.on_panel {
                head.push_str(" · LEFT THE PANEL");
            }
            let _ = writeln!(out, "\n{head}");
            if !p.events.is_empty() {
                let events: Vec<String> =
                    p.events.iter().map(|e| event_text(r, e) + &exports.tag(&e.freshness)).collect();
                let _ = writeln!(out, "  events: {}", events.join("; "));
            }
            if !p.corrections.is_empty() {
                let corrected: Vec<String> = p
                    .corrections
                    .iter()
                    .map(|c| {
                        format!("{} {} → {}{}", c.field, c.before, or(&c.after, "(none)"), exports.tag(&c.freshness))
                    })
                    .collect();
                let _ = writeln!(out, "  corrected by a newer registration: {}", corrected.join("; "));
            }
            for o in &p.new_results {
                let _ = writeln!(out, "  {}", result_line(r, o, &exports));
            }
            let new = p.critical_results + p.abnormal_results + p.normal_results;
            if new > 0 {
                let _ = writeln!(
                    out,
                    "  {new} new results: {} critical, {} abnormal, {} normal (not listed)",
                    p.critical_results, p.abnormal_results, p.normal_results
                );
            }
            if !p.medication_changes.is_empty() {
                let meds: Vec<String> =
                    p.medication_changes.iter().map(|c| change_text(c) + &exports.tag(&c.freshness)).collect();
                let _ = writeln!(out, "  meds: {}", meds.join("; "));
            }
            if !p.new_documents.is_empty() {
                let docs: Vec<String> = p.new_documents.iter().map(|d| document_line(r, d, &exports)).collect();
                let _ = writeln!(out, "  new documents: {}", docs.join("; "));
            }
        }
        if !quiet.is_empty() {
            let _ = writeln!(out, "\nNothing new for: {}", quiet.join("; "));
        }
        omitted(&mut out, &self.omitted, &self.next_cursor);
        notes(&mut out, &self.notes);
        out
    }
}

pub(super) fn event_text(r: &Renderer, e: &StayEvent) -> String {
    let at = e.at.as_deref().map(|t| format!(" {}", r.time(t))).unwrap_or_default();
    let to = plain(e.location.as_deref().unwrap_or("?"));
    match e.kind.as_str() {
        "admission" => match &e.from_location {
            Some(from) => format!("admitted{at} from {from} to {to}"),
            None => format!("admitted{at} to {to}"),
        },
        "registration" => format!("registered{at} at {to}"),
        "placed" => format!(
            "on the panel at {to} from an update ({}{at}): the admission was not in the exports read",
            plain(e.event.as_deref().unwrap_or("ADT"))
        ),
        "transfer" => format!("transfer {} → {to}{at}", plain(e.from_location.as_deref().unwrap_or("?"))),
        "discharge" => format!("discharged{at} from {to}"),
        "left_census" => format!("no longer on the census (was {to})"),
        "transfer_in" => match &e.from_location {
            Some(from) => format!("transferred in {} → {to}{at}", plain(from)),
            None => format!("transferred in to {to}{at} from another unit"),
        },
        "moved_off" => {
            format!("moved off this panel's units: {} → {to}{at}", plain(e.from_location.as_deref().unwrap_or("?")))
        }
        "attending_change" => format!("attending {} → {}{at}", or(&e.from_attending, "?"), or(&e.attending, "?")),
        other => format!("{} {}{at}", other.replace('_', " "), plain(e.event.as_deref().unwrap_or_default())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_answer_leads_with_the_warning() {
        let r = Renderer { zone: Zone::parse("America/Chicago").expect("zone") };
        let status = SnapshotStatus {
            snapshot: SnapshotInfo {
                as_of: Some("2026-11-24T11:02:00Z".into()),
                stale: true,
                stale_reasons: vec!["source ward: no export since 2026-11-23T11:00:00Z".into()],
            },
            sources: Vec::new(),
            counts: KindCounts {
                patients: 0,
                on_panel: 0,
                observations: 0,
                medications: 0,
                problems: 0,
                allergies: 0,
                documents: 0,
            },
            notes: Vec::new(),
        };
        let text = status.render(&r);
        assert!(
            text.starts_with("STALE DATA: tell the clinician before using it. Snapshot as of 11-24 05:02 CST."),
            "{text}"
        );
        assert!(text.lines().nth(1).is_some_and(|l| l.contains("no export since")), "{text}");
    }
}
