//! `panel_changes`, the overnight digest: what the latest export run of each source changed, for
//! every patient on the panel and every patient who left it.
//!
//! The window is judged by export, the same way for every kind of record: a result, an ADT event,
//! a census verdict, a medication order or a document is new when the export that carried it is
//! newer than the source's previous export run. An export run is the files of one source whose
//! export times lie within half the source's expected interval of its newest (12 hours without an
//! `expected` schedule), so that a morning's CSV files named in local time and HL7 files stamped
//! with an offset make one run even when `time_zone` is wrong; the answer warns when they disagree.

use crate::answers::{Context, ToolError, decode_cursor, display_name, document_summary, encode_cursor, freshness};
use crate::dto::*;
use crate::trends::{self, Severity};
use chrono::{DateTime, Duration, Utc};
use ingest_config::RecordKind;
use ingest_store::snapshot::{self, ExportTime, MedicationRow, StayHistoryRow};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PanelChangesArgs {
    /// Changes carried by exports after this time (RFC 3339), for every source. Default: each
    /// source's previous export run, i.e. what its latest export run brought.
    pub since: Option<String>,
    /// Only patients whose location starts with this, e.g. `5W` or `5W-520`.
    pub location: Option<String>,
    /// Only patients whose attending's name contains this (any case).
    pub attending: Option<String>,
    /// Only this patient.
    pub mrn: Option<String>,
    /// Only patients with a new critical or abnormal result.
    pub abnormal_only: Option<bool>,
    /// Unused: pages are cut by the answer budget. Accepted for older clients.
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// How far back from a source's newest export its latest run reaches without an `expected`
/// schedule: exports are daily, and a wrong `time_zone` moves local times by at most 12 hours.
const RUN_SPAN: Duration = Duration::hours(12);

/// Export times that differ by more than this within one run are worth a warning.
const RUN_SPREAD_WARNING: Duration = Duration::hours(1);

/// The windows of every source, from the ledger's export times (newest first per source).
fn windows(cx: &Context<'_>, times: &[ExportTime], since: Option<&str>) -> Vec<SourceWindow> {
    let mut by_source: BTreeMap<&str, Vec<&ExportTime>> = BTreeMap::new();
    for t in times {
        by_source.entry(t.source.as_str()).or_default().push(t);
    }
    by_source
        .into_iter()
        .map(|(source, times)| {
            let newest = times.first().and_then(|t| ingest_core::time::parse_rfc3339(&t.exported_at));
            let span = newest.map_or(RUN_SPAN, |t0| run_span(cx, source, t0));
            let in_run = |t: &&ExportTime| match (newest, ingest_core::time::parse_rfc3339(&t.exported_at)) {
                (Some(t0), Some(t)) => t >= t0 - span,
                _ => false,
            };
            let run: Vec<&ExportTime> = times.iter().copied().take_while(in_run).collect();
            let previous = times.get(run.len()).map(|t| t.exported_at.clone());
            let (window_since, basis) = match since {
                Some(s) => (Some(s.to_string()), "argument"),
                None if previous.is_some() => (previous, "previous export run"),
                None => (None, "no previous export run"),
            };
            SourceWindow {
                source: source.to_string(),
                since: window_since,
                run_from: run.last().map(|t| t.exported_at.clone()),
                run_to: run.first().map(|t| t.exported_at.clone()),
                files: run.iter().map(|t| t.files).sum(),
                basis: basis.to_string(),
                warning: spread_warning(cx, &run),
            }
        })
        .collect()
}

/// Half the interval between two expected exports after `t0`; [`RUN_SPAN`] without a schedule.
fn run_span(cx: &Context<'_>, source: &str, t0: DateTime<Utc>) -> Duration {
    let Some(expected) = cx.config.source(source).and_then(|s| s.expected.as_ref()) else { return RUN_SPAN };
    let zone = cx.config.zone;
    match expected.expected.next_after(t0, zone).and_then(|a| Some((a, expected.expected.next_after(a, zone)?))) {
        Some((a, b)) => ((b - a) / 2).clamp(Duration::minutes(10), RUN_SPAN),
        None => RUN_SPAN,
    }
}

/// Files of one run whose export times disagree by hours most often had their times read in
/// different zones: a header with a UTC offset against a file name read in `time_zone`.
fn spread_warning(cx: &Context<'_>, run: &[&ExportTime]) -> Option<String> {
    let parse = |t: &&ExportTime| ingest_core::time::parse_rfc3339(&t.exported_at);
    let (newest, oldest) = (run.first().and_then(parse)?, run.last().and_then(parse)?);
    if newest - oldest <= RUN_SPREAD_WARNING {
        return None;
    }
    let mut origins: Vec<String> = run.iter().map(|t| format!("{} from {}", t.exported_at, t.origin)).collect();
    origins.dedup();
    Some(format!(
        "this run's export times are {:.1} h apart ({}); times without a UTC offset are read in time_zone {}: \
         if that is not the EHR's zone, set time_zone",
        (newest - oldest).num_minutes() as f64 / 60.0,
        origins.join(", "),
        cx.config.zone
    ))
}

/// What a patient's stay history says happened in the window, oldest first.
fn stay_events(history: &[StayHistoryRow], since: &HashMap<String, Option<String>>) -> Vec<StayEvent> {
    let mut events = Vec::new();
    let mut state: HashMap<&str, (Option<&str>, Option<&str>, bool)> = HashMap::new();
    for row in history {
        let (location, attending, on_panel) = state.get(row.source.as_str()).copied().unwrap_or((None, None, false));
        let new = window_holds(since, &row.source, &row.provenance.exported_at);
        let event = |kind: &str, at: Option<&String>| StayEvent {
            kind: kind.into(),
            event: row.event.clone(),
            at: at.cloned(),
            from_location: None,
            location: row.location.clone().or_else(|| location.map(str::to_string)),
            from_attending: None,
            attending: ClinicalText::opt(&row.attending.clone().or_else(|| attending.map(str::to_string))),
            freshness: freshness(&row.provenance),
        };
        let moved = row.location.as_deref().is_some_and(|l| location.is_some_and(|before| before != l));
        let handed_over = row.attending.as_deref().is_some_and(|a| attending.is_some_and(|before| before != a));
        let mut found = Vec::new();
        match row.action.as_str() {
            "join" if row.event.as_deref() == Some("A04") => {
                found.push(event("registration", row.event_at.as_ref().or(row.admitted_at.as_ref())));
            }
            "join" if !on_panel || row.event.as_deref() == Some("A01") => {
                let mut e = event("admission", row.admitted_at.as_ref().or(row.event_at.as_ref()));
                if on_panel && moved {
                    e.from_location = location.map(str::to_string);
                }
                found.push(e);
            }
            "place" if !on_panel => found.push(event("placed", row.event_at.as_ref().or(row.admitted_at.as_ref()))),
            "transfer_in" if !on_panel => {
                let mut e = event("transfer_in", row.event_at.as_ref());
                e.from_location = location.map(str::to_string);
                found.push(e);
            }
            "leave" => found.push(event("discharge", row.discharged_at.as_ref().or(row.event_at.as_ref()))),
            "census_absent" => found.push(event("left_census", None)),
            "moved_off" => {
                let mut e = event("moved_off", row.event_at.as_ref());
                e.from_location = location.map(str::to_string);
                found.push(e);
            }
            "cancel_admit" => found.push(event("admission_cancelled", row.event_at.as_ref())),
            "cancel_discharge" => found.push(event("discharge_cancelled", row.event_at.as_ref())),
            "join" | "update" | "place" | "transfer_in" => {
                if moved || row.event.as_deref() == Some("A02") {
                    let mut e = event("transfer", row.event_at.as_ref());
                    e.from_location = location.map(str::to_string);
                    found.push(e);
                }
                if handed_over {
                    let mut e = event("attending_change", row.event_at.as_ref());
                    e.from_attending = attending.map(ClinicalText::new);
                    found.push(e);
                }
                if found.is_empty() && row.event.is_some() {
                    found.push(event("update", row.event_at.as_ref()));
                }
            }
            _ => {}
        }
        if new {
            events.extend(found);
        }

        let on_panel = match row.action.as_str() {
            "join" | "place" | "transfer_in" | "cancel_discharge" => true,
            "leave" | "census_absent" | "cancel_admit" | "moved_off" => false,
            _ => on_panel,
        };
        state.insert(
            row.source.as_str(),
            (row.location.as_deref().or(location), row.attending.as_deref().or(attending), on_panel),
        );
    }
    // A census that says what an ADT event of the window also says (an admission, a transfer to
    // the same bed) adds nothing: the ADT event, with its time, stays.
    let told = |e: &StayEvent| events.iter().any(|a| a.event.is_some() && a.kind == e.kind && a.location == e.location);
    let keep: Vec<bool> = events.iter().map(|e| e.event.is_some() || !told(e)).collect();
    events.into_iter().zip(keep).filter_map(|(e, keep)| keep.then_some(e)).collect()
}

fn state(m: &MedicationRow) -> MedicationState {
    MedicationState {
        name: ClinicalText::new(m.name.as_str()),
        order_id: m.order_id.clone(),
        dose: ClinicalText::opt(&m.dose),
        route: ClinicalText::opt(&m.route),
        frequency: ClinicalText::opt(&m.frequency),
        status: m.status.clone(),
        end_at: m.end_at.clone(),
    }
}

fn stopped(status: Option<&str>) -> bool {
    matches!(status, Some("discontinued" | "cancelled" | "completed" | "unlisted"))
}

/// The typed change from `before` (null: a new order) to `after`; `None` when nothing a reader
/// would care about differs.
fn change_kind(before: Option<&MedicationState>, after: &MedicationState) -> Option<String> {
    let Some(before) = before else {
        return Some(
            match after.status.as_deref() {
                Some("discontinued" | "cancelled") => "stopped",
                Some("completed") => "completed",
                Some("held") => "new+held",
                _ => "new",
            }
            .into(),
        );
    };
    let mut kinds = Vec::new();
    match (before.status.as_deref(), after.status.as_deref()) {
        (b, a) if b == a => {}
        (_, Some("held")) => kinds.push("held"),
        (Some("held"), Some("active") | None) => kinds.push("resumed"),
        // No longer on a complete medication list: stopped, as far as the exports tell.
        (_, Some("discontinued" | "cancelled" | "unlisted")) => kinds.push("stopped"),
        (_, Some("completed")) => kinds.push("completed"),
        (b, _) if stopped(b) => kinds.push("new"),
        _ => {}
    }
    if before.dose != after.dose {
        kinds.push("dose_changed");
    }
    if before.route != after.route {
        kinds.push("route_changed");
    }
    if before.frequency != after.frequency {
        kinds.push("frequency_changed");
    }
    (!kinds.is_empty()).then(|| kinds.join("+"))
}

/// The medication changes the window brought, from every version of every order.
fn medication_changes(
    history: &[MedicationRow],
    current: &[MedicationRow],
    since: &HashMap<String, Option<String>>,
    now: DateTime<Utc>,
) -> Vec<MedicationChange> {
    let now_text = ingest_core::time::rfc3339(now);
    let is_new = |m: &MedicationRow| window_holds(since, &m.provenance.source, &m.provenance.exported_at);
    let mut changes = Vec::new();
    for order in current {
        let versions: Vec<&MedicationRow> = history.iter().filter(|v| v.order_id == order.order_id).collect();
        let before = versions.iter().rev().find(|v| !is_new(v)).map(|v| state(v));
        let mut after = state(order);
        let ended = after.status.as_deref().is_none_or(|s| s == "active")
            && order.end_at.as_deref().is_some_and(|end| end <= now_text.as_str());
        if ended {
            after.status = Some("completed".into());
        }
        let kind = if versions.iter().any(|v| is_new(v)) {
            change_kind(before.as_ref(), &after)
        } else if ended && order.end_at.as_deref().is_some_and(|end| window_holds(since, &order.provenance.source, end))
        {
            Some("ended".into())
        } else {
            None
        };
        if let Some(change) = kind {
            changes.push(MedicationChange { change, before, after, freshness: freshness(&order.provenance) });
        }
    }
    pair_replacements(changes, current)
}

/// Whether the instant `at` (RFC 3339) falls after the window's start for `source`.
fn window_holds(since: &HashMap<String, Option<String>>, source: &str, at: &str) -> bool {
    match since.get(source) {
        Some(Some(s)) => at > s.as_str(),
        _ => true,
    }
}

/// A drug's identity for pairing a stopped order with its replacement: the code, else the first
/// word of the name.
fn drug_key(name: &str, code: Option<&str>) -> String {
    code.map(str::to_string).unwrap_or_else(|| name.split_whitespace().next().unwrap_or_default().to_lowercase())
}

/// A dose change is often written as the old order stopped and a new one started: report the pair
/// as one change, before → after.
fn pair_replacements(changes: Vec<MedicationChange>, current: &[MedicationRow]) -> Vec<MedicationChange> {
    let key = |s: &MedicationState| {
        let code = current.iter().find(|m| m.order_id == s.order_id).and_then(|m| m.code.as_deref());
        drug_key(s.name.raw(), code)
    };
    let mut out: Vec<MedicationChange> = Vec::new();
    let mut stops: Vec<MedicationChange> = Vec::new();
    for c in changes {
        if c.change == "stopped" && c.before.is_some() { stops.push(c) } else { out.push(c) }
    }
    for stop in stops {
        let stop_key = key(&stop.after);
        match out.iter_mut().find(|c| c.change == "new" && key(&c.after) == stop_key) {
            Some(new) => {
                // Against the stopped order as it stood: a held order replaced by an active one at
                // another dose was resumed at that dose.
                let before = stop.before.clone().unwrap_or_else(|| stop.after.clone());
                new.change = change_kind(Some(&before), &new.after).unwrap_or_else(|| "changed".into());
                new.before = Some(before);
            }
            None => out.push(stop),
        }
    }
    out
}

/// One patient's block of the digest, or `None` when a filter leaves them out.
struct Entry {
    changes: PatientChanges,
    rank: (bool, usize, bool, usize, bool),
}

/// Build the digest.
pub fn panel_changes(cx: &Context<'_>, args: &PanelChangesArgs) -> Result<PanelChanges, ToolError> {
    cx.require(RecordKind::Panel)?;
    cx.require(RecordKind::Patients)?;
    let since_arg = args.since.as_deref().map(|s| super::answers::check_time("since", s)).transpose()?;
    for (name, value) in [("location", &args.location), ("attending", &args.attending), ("mrn", &args.mrn)] {
        if let Some(v) = value {
            super::answers::check_text(name, v)?;
        }
    }
    if let Some(limit) = args.limit {
        cx.limit(Some(limit))?;
    }
    let snapshot = cx.snapshot_info()?;
    let offset = match args.cursor.as_deref() {
        Some(c) => {
            let (offset, as_of) = decode_cursor::<(usize, Option<String>)>(c)?;
            if as_of != snapshot.as_of {
                return Err(ToolError::Invalid(
                    "cursor",
                    "the snapshot changed since the first page (a new export went in): call panel_changes again \
                     without a cursor"
                        .into(),
                ));
            }
            offset
        }
        None => 0,
    };
    let windows = windows(cx, &snapshot::export_times(cx.db)?, since_arg.as_deref());
    let since: HashMap<String, Option<String>> = windows.iter().map(|w| (w.source.clone(), w.since.clone())).collect();
    let earliest = if windows.iter().any(|w| w.since.is_none()) {
        None
    } else {
        windows.iter().filter_map(|w| w.since.clone()).min()
    };
    let allows = |k| cx.role.allows(k);
    let withheld: Vec<String> = [RecordKind::Observations, RecordKind::Medications, RecordKind::Documents]
        .into_iter()
        .filter(|k| !allows(*k))
        .map(|k| k.as_str().to_string())
        .collect();
    let mut totals = DigestTotals::default();
    let mut entries = Vec::new();
    for entry in snapshot::panel_with_recent_leavers(cx.db, earliest.as_deref())? {
        let (p, s) = (&entry.patient, &entry.stay);
        let on_panel = s.active == Some(true);
        if !on_panel && !window_holds(&since, &s.provenance.source, &s.provenance.exported_at) {
            continue;
        }
        let keep = args.mrn.as_ref().is_none_or(|m| *m == p.mrn)
            && args.location.as_ref().is_none_or(|l| s.location.as_deref().is_some_and(|x| x.starts_with(l.as_str())))
            && args
                .attending
                .as_ref()
                .is_none_or(|a| s.attending.as_deref().is_some_and(|x| x.to_lowercase().contains(&a.to_lowercase())));
        if !keep {
            continue;
        }
        let events = stay_events(&snapshot::stay_history(cx.db, p.id)?, &since);
        let (mut new_results, counts) =
            if allows(RecordKind::Observations) { new_results(cx, p.id, &since)? } else { (Vec::new(), [0; 3]) };
        new_results.sort_by_key(|o| (trends::of(o), o.code.clone()));
        if args.abnormal_only == Some(true) && counts[0] + counts[1] == 0 {
            continue;
        }
        let medication_changes = if allows(RecordKind::Medications) {
            let current = snapshot::medications(cx.db, p.id, true, None)?;
            medication_changes(&snapshot::medication_history(cx.db, p.id)?, &current, &since, cx.now)
        } else {
            Vec::new()
        };
        let new_documents: Vec<DocumentSummary> = if allows(RecordKind::Documents) {
            snapshot::documents(cx.db, p.id, earliest.as_deref(), 0, 50)?
                .iter()
                .filter(|d| window_holds(&since, &d.provenance.source, &d.first_exported_at))
                .map(document_summary)
                .collect()
        } else {
            Vec::new()
        };
        let corrections: Vec<DemographicCorrection> = snapshot::demographic_changes(cx.db, p.id)?
            .iter()
            .filter(|c| window_holds(&since, &c.provenance.source, &c.provenance.exported_at))
            .map(|c| DemographicCorrection {
                field: c.field.replace('_', " "),
                before: ClinicalText::new(c.before.as_str()),
                after: ClinicalText::opt(&c.after),
                freshness: freshness(&c.provenance),
            })
            .collect();
        let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
        totals.admissions += count("admission");
        totals.placed += count("placed");
        totals.transfers += count("transfer") + count("transfer_in");
        totals.discharges += usize::from(count("discharge") + count("left_census") + count("moved_off") > 0);
        totals.critical_results += counts[0];
        totals.abnormal_results += counts[1];
        totals.normal_results += counts[2];
        totals.medication_changes += medication_changes.len();
        totals.new_documents += new_documents.len();
        if on_panel {
            totals.patients_on_panel += 1
        } else {
            totals.patients_left += 1
        }
        let came_or_went = events.iter().any(|e| {
            matches!(
                e.kind.as_str(),
                "admission" | "placed" | "transfer_in" | "discharge" | "left_census" | "moved_off" | "transfer"
            )
        });
        let changed = !events.is_empty()
            || counts.iter().any(|n| *n > 0)
            || !medication_changes.is_empty()
            || !new_documents.is_empty()
            || !corrections.is_empty();
        totals.patients_with_changes += usize::from(changed);
        entries.push(Entry {
            rank: (counts[0] == 0, usize::MAX - counts[0], !came_or_went, usize::MAX - counts[1], !changed),
            changes: PatientChanges {
                mrn: p.mrn.clone(),
                name: display_name(&p.family_name, &p.given_name),
                location: s.location.clone(),
                attending: ClinicalText::opt(&s.attending),
                on_panel,
                events,
                critical_results: counts[0],
                abnormal_results: counts[1],
                normal_results: counts[2],
                new_results,
                medication_changes,
                new_documents,
                corrections,
            },
        });
    }
    entries.sort_by(|a, b| {
        a.rank.cmp(&b.rank).then_with(|| {
            (a.changes.location.as_deref(), &a.changes.mrn).cmp(&(b.changes.location.as_deref(), &b.changes.mrn))
        })
    });
    let total = entries.len();
    let rest: Vec<PatientChanges> = entries.into_iter().skip(offset).map(|e| e.changes).collect();
    let mut notes = vec![super::answers::ONLY_WHAT_WAS_EXPORTED.to_string()];
    notes.extend(withheld.iter().map(|k| format!("{k} withheld: role {:?} may not read them", cx.role.name)));
    notes.extend(windows.iter().filter_map(|w| w.warning.as_ref().map(|m| format!("source {}: {m}", w.source))));
    if total == 0 {
        notes.push("no patient on the panel or leaving it matches".into());
    }
    let since_basis = if since_arg.is_some() {
        "argument"
    } else if windows.iter().any(|w| w.since.is_some()) {
        "previous export run"
    } else {
        "no previous export run"
    };
    let page = |n: usize| {
        let shown = offset + n;
        PanelChanges {
            snapshot: snapshot.clone(),
            since: earliest.clone(),
            since_basis: since_basis.into(),
            windows: windows.clone(),
            totals: totals.clone(),
            patients: rest[..n].to_vec(),
            withheld: withheld.clone(),
            next_cursor: (shown < total).then(|| encode_cursor(&serde_json::json!([shown, snapshot.as_of]))),
            omitted: if shown < total {
                vec![Omitted {
                    what: format!(
                        "patients {} to {total} of {total} (this page has {}–{shown})",
                        shown + 1,
                        offset + 1
                    ),
                    call: "panel_changes with the same arguments and cursor = next_cursor".into(),
                }]
            } else {
                Vec::new()
            },
            notes: notes.clone(),
        }
    };
    let n = cx.fitting(rest.len(), page)?;
    Ok(page(n))
}

/// A patient's results new in the window: the newest per code of every code with a critical or
/// abnormal new result (with the results before it), and how many new results were critical,
/// abnormal and normal.
fn new_results(
    cx: &Context<'_>,
    patient_id: i64,
    since: &HashMap<String, Option<String>>,
) -> Result<(Vec<Observation>, [usize; 3]), ToolError> {
    let rows = snapshot::results_by_code(cx.db, patient_id)?;
    let is_new = |o: &snapshot::ObservationRow| {
        window_holds(since, &o.provenance.source, &o.first_exported_at)
            || (o.status.as_deref() == Some("C")
                && window_holds(since, &o.provenance.source, &o.provenance.exported_at))
    };
    let mut counts = [0; 3];
    let mut listed = Vec::new();
    for same_code in rows.chunk_by(|a, b| a.code == b.code) {
        let fresh: Vec<&snapshot::ObservationRow> = same_code.iter().filter(|o| is_new(o)).collect();
        let mut worst = Severity::Normal;
        for o in &fresh {
            let s = cx.severity(o);
            counts[s as usize] += 1;
            worst = worst.min(s);
        }
        if worst == Severity::Normal {
            continue;
        }
        let Some(newest) = fresh.first() else { continue };
        let position = same_code.iter().position(|o| o.id == newest.id).unwrap_or(0);
        let older: Vec<Observation> = same_code[position + 1..].iter().take(3).map(|o| cx.observation(o)).collect();
        listed.push(trends::with_history(cx.observation(newest), &older));
    }
    Ok((listed, counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_store::snapshot::Provenance;

    fn provenance(exported_at: &str) -> Provenance {
        Provenance {
            exported_at: exported_at.into(),
            ingested_at: exported_at.into(),
            source: "ward".into(),
            source_file: "f".into(),
            source_file_id: 1,
        }
    }

    fn stay(action: &str, event: Option<&str>, location: &str, exported_at: &str) -> StayHistoryRow {
        StayHistoryRow {
            source: "ward".into(),
            action: action.into(),
            event: event.map(str::to_string),
            event_at: Some(exported_at.into()),
            location: Some(location.into()),
            attending: Some("WARD, W".into()),
            admitted_at: None,
            discharged_at: None,
            provenance: provenance(exported_at),
        }
    }

    fn window(since: &str) -> HashMap<String, Option<String>> {
        HashMap::from([("ward".to_string(), Some(since.to_string()))])
    }

    #[test]
    fn a_transfer_says_from_where_and_only_the_window_counts() {
        let history = [
            stay("join", Some("A01"), "5W-509-A", "2026-12-01T11:00:00Z"),
            stay("join", None, "5W-509-A", "2026-12-02T11:00:00Z"),
            stay("update", Some("A02"), "5W-520-B", "2026-12-03T11:00:00Z"),
            stay("census_absent", None, "5W-520-B", "2026-12-03T11:00:00Z"),
        ];
        let events = stay_events(&history, &window("2026-12-02T11:00:00Z"));
        let kinds: Vec<_> = events.iter().map(|e| (e.kind.as_str(), e.from_location.as_deref())).collect();
        assert_eq!(kinds, [("transfer", Some("5W-509-A")), ("left_census", None)]);
        assert_eq!(events[0].location.as_deref(), Some("5W-520-B"));
    }

    #[test]
    fn an_update_that_put_a_patient_on_the_panel_is_an_arrival_whose_admission_was_not_seen() {
        // Go-live: the first export carries an A08 for a patient admitted before the feed; the
        // next an A02 moves them.
        let history = [
            stay("place", Some("A08"), "5W-509-A", "2026-12-02T11:00:00Z"),
            stay("update", Some("A02"), "5W-520-B", "2026-12-03T11:00:00Z"),
        ];
        let events = stay_events(&history, &HashMap::from([("ward".to_string(), None)]));
        let kinds: Vec<_> = events.iter().map(|e| (e.kind.as_str(), e.event.as_deref())).collect();
        assert_eq!(kinds, [("placed", Some("A08")), ("transfer", Some("A02"))]);
        let r = super::super::render::Renderer { zone: ingest_core::time::Zone::parse("UTC").expect("zone") };
        assert_eq!(
            super::super::render::event_text(&r, &events[0]),
            "on the panel at 5W-509-A from an update (A08 12-02 11:00): the admission was not in the exports read"
        );
    }

    fn order(id: &str, name: &str, dose: &str, status: &str, exported_at: &str) -> MedicationRow {
        MedicationRow {
            order_id: id.into(),
            name: name.into(),
            code: None,
            code_system: None,
            dose: Some(dose.into()),
            route: Some("PO".into()),
            frequency: Some("DAILY".into()),
            status: Some(status.into()),
            start_at: None,
            end_at: None,
            provenance: provenance(exported_at),
        }
    }

    #[test]
    fn medication_changes_are_typed_and_a_stop_plus_a_new_order_is_a_dose_change() {
        let (yesterday, today) = ("2026-12-02T11:00:00Z", "2026-12-03T11:00:00Z");
        let history = [
            order("1", "Furosemide 40 mg", "40 mg", "active", yesterday),
            order("1", "Furosemide 40 mg", "40 mg", "discontinued", today),
            order("2", "Furosemide 80 mg", "80 mg", "active", today),
            order("3", "Lisinopril", "10 mg", "active", yesterday),
            order("3", "Lisinopril", "10 mg", "held", today),
            order("4", "Metoprolol", "25 mg", "active", yesterday),
            order("5", "Patiromer", "8.4 g", "active", today),
        ];
        let current = [
            order("1", "Furosemide 40 mg", "40 mg", "discontinued", today),
            order("2", "Furosemide 80 mg", "80 mg", "active", today),
            order("3", "Lisinopril", "10 mg", "held", today),
            order("4", "Metoprolol", "25 mg", "active", yesterday),
            order("5", "Patiromer", "8.4 g", "active", today),
        ];
        let now = ingest_core::time::parse_rfc3339("2026-12-03T12:00:00Z").expect("time");
        let changes = medication_changes(&history, &current, &window(yesterday), now);
        let summary: Vec<_> = changes
            .iter()
            .map(|c| {
                (
                    c.change.as_str(),
                    c.before.as_ref().and_then(|b| b.dose.as_ref().map(ClinicalText::raw)),
                    c.after.dose.as_ref().map(ClinicalText::raw),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("dose_changed", Some("40 mg"), Some("80 mg")),
                ("held", Some("10 mg"), Some("10 mg")),
                ("new", None, Some("8.4 g"))
            ]
        );
    }

    #[test]
    fn a_held_order_replaced_at_another_dose_was_resumed_and_a_new_held_order_says_held() {
        // A complete list without order ids: the held warfarin 5 mg is gone (unlisted), warfarin
        // 2.5 mg is listed active; a new order arrives on hold.
        let (yesterday, today) = ("2026-12-02T11:00:00Z", "2026-12-03T11:00:00Z");
        let history = [
            order("w5", "Warfarin 5 mg tablet", "5 mg", "held", yesterday),
            order("w5", "Warfarin 5 mg tablet", "5 mg", "unlisted", today),
            order("w2", "Warfarin 2.5 mg tablet", "2.5 mg", "active", today),
            order("a", "Apixaban 5 mg tablet", "5 mg", "held", today),
        ];
        let current = [
            order("w5", "Warfarin 5 mg tablet", "5 mg", "unlisted", today),
            order("w2", "Warfarin 2.5 mg tablet", "2.5 mg", "active", today),
            order("a", "Apixaban 5 mg tablet", "5 mg", "held", today),
        ];
        let now = ingest_core::time::parse_rfc3339("2026-12-03T12:00:00Z").expect("time");
        let changes = medication_changes(&history, &current, &window(yesterday), now);
        let kinds: Vec<(&str, Option<&str>)> =
            changes.iter().map(|c| (c.change.as_str(), c.before.as_ref().and_then(|b| b.status.as_deref()))).collect();
        assert_eq!(kinds, [("resumed+dose_changed", Some("held")), ("new+held", None)]);
    }

    #[test]
    fn an_active_order_past_its_end_reads_completed_and_ended() {
        let mut o = order("7", "Ceftriaxone", "1 g", "active", "2026-12-01T11:00:00Z");
        o.end_at = Some("2026-12-03T08:00:00Z".into());
        let now = ingest_core::time::parse_rfc3339("2026-12-03T12:00:00Z").expect("time");
        let changes = medication_changes(&[o.clone()], &[o], &window("2026-12-02T11:00:00Z"), now);
        assert_eq!(changes.len(), 1);
        assert_eq!((changes[0].change.as_str(), changes[0].after.status.as_deref()), ("ended", Some("completed")));
    }
}
