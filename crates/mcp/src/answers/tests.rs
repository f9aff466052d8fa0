//! Answers built in process from a real snapshot in a temp dir, written by the store from parsed
//! HL7: what the assistant is told, what a role may not see, and when it is told the data is stale.

use super::*;
use ingest_parse::ParseOptions;
use ingest_store::write::{FileMeta, write_file};

fn at(t: &str) -> DateTime<Utc> {
    ingest_core::time::parse_rfc3339(t).expect("time")
}

/// An admission to ward 5 West and one potassium result, exported at 05:00Z on 24 November.
const EXPORT: &str = "MSH|^~\\&|EHR|HOSP|INGEST|WARD|20261124050000+0000||ADT^A01|C1|P|2.5\r\
EVN|A01|20261124040000+0000\r\
PID|1||M1^^^HOSP^MR||Doe^Jane||19600101|F\r\
PV1|1|I|5W^501^A|||||1234^House^Gregory\r\
MSH|^~\\&|LAB|HOSP|INGEST|WARD|20261124050000+0000||ORU^R01|C2|P|2.5\r\
PID|1||M1^^^HOSP^MR||Doe^Jane||19600101|F\r\
OBR|1|O1|O1|BMP\r\
OBX|1|NM|2823-3^Potassium^LN||2.9|mmol/L|3.5-5.1|L|||F|||20261124043000+0000\r";

struct Snapshot {
    _dir: tempfile::TempDir,
    reader: ingest_store::Reader,
    config: Config,
}

fn snapshot() -> Snapshot {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("snapshot.db");
    let mut writer = ingest_store::open_writer(&path).expect("writer");
    let (_, parsed) =
        ingest_parse::parse_named("ADT_ORU.hl7", EXPORT.as_bytes(), &ParseOptions::default()).expect("parse");
    let exported = at("2026-11-24T05:00:00Z");
    let meta = FileMeta {
        source: "ward".into(),
        path: "/drop/ADT_ORU.hl7".into(),
        size: EXPORT.len() as u64,
        mtime: exported,
        sha256: "0".repeat(64),
        kind: "hl7",
        exported_at: exported,
        exported_at_origin: "MSH-7",
        received_at: exported,
        disposition: None,
        export_time_warning: None,
    };
    write_file(&mut writer, &meta, &parsed, exported, &|| false).expect("write");
    let config = Config::from_toml(
        "data_dir = \"/tmp/unused\"\n[[source]]\nname = \"ward\"\npath = \"drop\"\nstale_after = \"26h\"\n\
         [[mcp.role]]\nname = \"desk\"\ntools = [\"list_panel\", \"get_patient\", \"get_observations\"]\n\
         kinds = [\"patients\", \"panel\"]\n",
        ingest_config::Origin::BuiltIn,
        dir.path(),
    )
    .expect("config");
    Snapshot { reader: ingest_store::open_reader(&path).expect("reader"), config, _dir: dir }
}

impl Snapshot {
    fn role(&self, name: &str) -> Role {
        self.config.mcp.role(name).unwrap_or_else(|| panic!("role {name}")).clone()
    }
}

#[test]
fn the_panel_says_who_is_on_it_and_that_the_data_is_fresh_an_hour_after_the_export() {
    let s = snapshot();
    let role = s.role("clinician");
    let cx = Context { db: s.reader.view(), config: &s.config, role: &role, now: at("2026-11-24T06:00:00Z") };
    let panel = list_panel(&cx, &ListPanelArgs::default()).expect("panel");
    assert_eq!(panel.patients.len(), 1);
    let p = &panel.patients[0];
    assert_eq!((p.mrn.as_str(), p.location.as_deref()), ("M1", Some("5W-501-A")));
    assert!(p.admission_seen);
    assert!(!panel.snapshot.stale, "{:?}", panel.snapshot.stale_reasons);
    assert_eq!(panel.snapshot.as_of.as_deref(), Some("2026-11-24T05:00:00Z"));
}

#[test]
fn past_stale_after_every_answer_says_the_data_is_stale_and_why() {
    let s = snapshot();
    let role = s.role("clinician");
    let cx = Context { db: s.reader.view(), config: &s.config, role: &role, now: at("2026-11-25T08:00:00Z") };
    let results = get_observations(
        &cx,
        &ObservationsArgs { mrn: "M1".into(), code: Some("2823-3".into()), ..ObservationsArgs::default() },
    )
    .expect("results");
    assert!(results.snapshot.stale);
    let reasons = results.snapshot.stale_reasons.join(" | ");
    assert!(reasons.contains("source ward: no export since") && reasons.contains("1 day 3 h ago"), "{reasons}");
    // The result is there all the same, with its flag.
    assert_eq!(results.observations.len(), 1);
    assert_eq!(results.observations[0].abnormal_flag.as_deref(), Some("L"));
}

#[test]
fn an_unknown_mrn_is_an_error_naming_it_not_an_empty_answer() {
    let s = snapshot();
    let role = s.role("clinician");
    let cx = Context { db: s.reader.view(), config: &s.config, role: &role, now: at("2026-11-24T06:00:00Z") };
    let error = get_patient(&cx, &MrnArgs { mrn: "M404".into() }).expect_err("unknown");
    assert!(matches!(&error, ToolError::UnknownMrn(mrn) if mrn == "M404"), "{error}");
}

#[test]
fn a_role_that_may_not_read_results_is_refused_them_and_told_so() {
    let s = snapshot();
    let role = s.role("desk");
    let cx = Context { db: s.reader.view(), config: &s.config, role: &role, now: at("2026-11-24T06:00:00Z") };
    assert_eq!(list_panel(&cx, &ListPanelArgs::default()).expect("the panel is allowed").patients.len(), 1);
    let error = get_observations(&cx, &ObservationsArgs { mrn: "M1".into(), ..ObservationsArgs::default() })
        .expect_err("results are not the desk's");
    assert!(matches!(error, ToolError::Refused { .. }), "{error}");
}
