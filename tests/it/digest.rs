//! The assistant's side at a ward's size: a generated 32-bed ward over three mornings, read through
//! the official MCP Python SDK as a model would receive it. Every default answer fits the answer
//! budget, the digest covers every patient (those who left included), criticals come first with
//! the value before them, and the structured JSON validates against each tool's output schema (the
//! SDK checks it: an answer that does not validate comes back as a protocol error).

use crate::util::mcp::answer;
use crate::util::{Workspace, mcp_stdio};
use serde_json::{Value, json};

/// The default budget, 8,000 tokens at 3 bytes a token: the most bytes of text, and of JSON.
const BUDGET_BYTES: usize = 24_000;

fn call(ws: &Workspace, calls: Value) -> Vec<Value> {
    let out = mcp_stdio(ws, &calls, "warn");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "client failed: {stdout:.2000}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str::<Vec<Value>>(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout:.2000}"))
}

/// A tool result's text (its only content block) and the size of its structured JSON; both within
/// the budget, and the text is a rendering, not a copy of the JSON.
fn sizes(result: &Value) -> (String, usize) {
    let content = result["content"].as_array().expect("content");
    assert_eq!(content.len(), 1, "one content block, no second copy: {result:.600}");
    assert_eq!(content[0]["type"], "text");
    let text = content[0]["text"].as_str().expect("text").to_string();
    assert!(!text.trim_start().starts_with('{'), "the text is a rendering, not JSON: {text:.300}");
    let json = answer(result).to_string().len();
    assert!(text.len() <= BUDGET_BYTES, "text of {} bytes over the budget: {text:.300}", text.len());
    assert!(json <= BUDGET_BYTES, "JSON of {json} bytes over the budget");
    (text, json)
}

fn ward() -> Workspace {
    let ws = Workspace::new();
    let out = ws.ingest(&["generate", "--ward", "--days", "3", "--out", "exports"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Replayed the morning of the third export, whatever today's date: the snapshot's time is
    // its last ingest.
    ws.set_clock("2026-12-03T12:00:00Z");
    let (code, out) = ws.replay(&[&ws.path("exports")]);
    assert_eq!(code, 0, "{out}");
    ws.set_clock("2026-12-03T12:30:00Z");
    ws
}

/// Every page of the digest, following `next_cursor`.
fn digest(ws: &Workspace, args: Value) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let mut args = args.clone();
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let result = call(ws, json!([{"tool": "panel_changes", "args": args}])).remove(0);
        cursor = answer(&result)["next_cursor"].as_str().map(str::to_string);
        pages.push(result);
        if cursor.is_none() {
            return pages;
        }
    }
    panic!("the digest did not end in 50 pages");
}

fn patients(pages: &[Value]) -> Vec<Value> {
    pages.iter().flat_map(|p| answer(p)["patients"].as_array().cloned().unwrap_or_default()).collect()
}

#[test]
fn the_overnight_digest_of_a_32_bed_ward_fits_its_budget_and_misses_no_one() {
    let ws = ward();
    let pages = digest(&ws, json!({}));
    let mut text_total = 0;
    for page in &pages {
        let (text, _) = sizes(page);
        text_total += text.chars().count();
        assert!(text.starts_with("Snapshot as of 12-03"), "freshness first: {text:.200}");
    }
    assert!(pages.len() > 1, "a ward's digest is paged");
    assert!(text_total <= 60_000, "the whole digest's text is {text_total} characters");

    let all = patients(&pages);
    let first = answer(&pages[0]);
    assert_eq!(first["windows"][0]["basis"], "previous export run");
    assert_eq!(first["since"], "2026-12-02T11:00:00Z", "the window is the previous export run");
    let mrns: Vec<&str> = all.iter().filter_map(|p| p["mrn"].as_str()).collect();
    let mut unique = mrns.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), mrns.len(), "a patient on two pages");
    let on_panel = all.iter().filter(|p| p["on_panel"] == json!(true)).count();
    assert_eq!(on_panel, 31, "every patient on the panel is in the digest (32 beds, one off the census)");
    let left: Vec<&Value> = all.iter().filter(|p| p["on_panel"] == json!(false)).collect();
    let kinds = |p: &Value| -> Vec<String> {
        p["events"].as_array().into_iter().flatten().filter_map(|e| e["kind"].as_str().map(str::to_string)).collect()
    };
    assert_eq!(left.len(), 2, "the discharged patient and the one the census no longer lists: {left:?}");
    assert!(left.iter().any(|p| kinds(p) == ["discharge"]), "{left:?}");
    assert!(left.iter().any(|p| kinds(p) == ["left_census"] && p["location"] == "7E-711-A"), "{left:?}");
    assert_eq!(first["totals"]["patients_left"], 2);
    assert_eq!(first["totals"]["admissions"], 1);

    // Criticals first, across patients and within one, each with the value before it.
    let top = &all[0];
    let critical = &top["new_results"][0];
    assert_eq!(critical["critical"], json!(true), "{top}");
    assert_eq!((critical["code"].as_str(), critical["value"].as_str()), (Some("718-7"), Some("6.8")), "{top}");
    assert_eq!(critical["previous"]["value"], "7.3");
    assert_eq!(critical["previous"]["delta"], json!(-0.5));
    assert_eq!(critical["previous"]["observed_at"], "2026-12-02T10:00:00Z");
    let potassium = &all[1]["new_results"][0];
    assert_eq!((potassium["value"].as_str(), potassium["abnormal_flag"].as_str()), (Some("6.4"), Some("HH")));
    assert_eq!(
        (potassium["previous"]["value"].as_str(), potassium["previous"]["delta"].as_f64()),
        (Some("5.9"), Some(0.5))
    );
    assert!(all[2..].iter().all(|p| p["critical_results"] == 0), "the two criticals lead the digest");
    let creatinine = all
        .iter()
        .flat_map(|p| p["new_results"].as_array().cloned().unwrap_or_default())
        .find(|o| o["code"] == "2160-0" && o["value"] == "2.30")
        .expect("the rising creatinine");
    assert_eq!(
        (creatinine["previous"]["value"].as_str(), creatinine["previous"]["delta"].as_f64()),
        (Some("1.60"), Some(0.7))
    );
    assert_eq!(creatinine["earlier"][0]["value"], "1.10");
    // Normal results are counted, not listed.
    for p in &all {
        let listed = p["new_results"].as_array().map_or(0, Vec::len);
        assert!(p["new_results"].as_array().into_iter().flatten().all(|o| o["abnormal_flag"] != "N"), "{p}");
        assert!(
            listed
                <= p["critical_results"].as_u64().unwrap_or(0) as usize
                    + p["abnormal_results"].as_u64().unwrap_or(0) as usize
        );
    }
    let k_patient = &all[1];
    let meds: Vec<(&str, &str)> = k_patient["medication_changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| (c["change"].as_str().unwrap_or(""), c["after"]["name"].as_str().unwrap_or("")))
        .collect();
    assert!(meds.contains(&("new", "Patiromer 8.4 g powder")), "{meds:?}");
    assert!(meds.contains(&("stopped", "Lisinopril 10 mg tablet")), "{meds:?}");

    // The text says the same, a line per result with the change.
    let text = pages[0]["content"][0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains(
            "!! <untrusted-clinical-text>Hemoglobin (ref 12-17.5)</untrusted-clinical-text> [718-7] 6.8 g/dL LL \
             12-03 04:00 ← 7.3 L 12-02 04:00 (-0.5)"
        ),
        "{text}"
    );
}

#[test]
fn two_mornings_show_a_transfer_a_dose_change_and_a_hold_and_filters_narrow_the_digest() {
    let ws = ward();
    let pages = digest(&ws, json!({"since": "2026-12-01T12:00:00Z"}));
    let all = patients(&pages);
    assert_eq!(answer(&pages[0])["since_basis"], "argument");
    let events: Vec<&Value> = all.iter().flat_map(|p| p["events"].as_array().into_iter().flatten()).collect();
    let transfer = events.iter().find(|e| e["kind"] == "transfer").expect("the A02");
    assert_eq!(
        (transfer["from_location"].as_str(), transfer["location"].as_str()),
        (Some("7E-706-A"), Some("7W-701-A"))
    );
    let changes: Vec<&Value> =
        all.iter().flat_map(|p| p["medication_changes"].as_array().into_iter().flatten()).collect();
    let dose = changes.iter().find(|c| c["change"] == "dose_changed").expect("furosemide 40 → 80");
    assert_eq!((dose["before"]["dose"].as_str(), dose["after"]["dose"].as_str()), (Some("40 mg"), Some("80 mg")));
    assert!(
        changes
            .iter()
            .any(|c| c["change"] == "held" && c["after"]["name"].as_str().is_some_and(|n| n.starts_with("Metoprolol")))
    );

    let west = digest(&ws, json!({"location": "7W"}));
    let west = patients(&west);
    assert_eq!(west.len(), 1, "{west:?}");
    let abnormal = patients(&digest(&ws, json!({"abnormal_only": true})));
    assert!(
        abnormal
            .iter()
            .all(|p| p["critical_results"].as_u64().unwrap_or(0) + p["abnormal_results"].as_u64().unwrap_or(0) > 0)
    );
    let one = patients(&digest(&ws, json!({"mrn": all[0]["mrn"]})));
    assert_eq!(one.len(), 1);
}

#[test]
fn every_tool_answers_a_ward_within_the_budget_with_trends_criticals_first() {
    let ws = ward();
    let panel = call(&ws, json!([{"tool": "list_panel", "args": {"limit": 500}}])).remove(0);
    sizes(&panel);
    let digest = digest(&ws, json!({}));
    let k_mrn = patients(&digest)[1]["mrn"].as_str().expect("mrn").to_string();
    let results = call(
        &ws,
        json!([
            {"tool": "snapshot_status"},
            {"tool": "get_patient", "args": {"mrn": k_mrn}},
            {"tool": "get_observations", "args": {"mrn": k_mrn}},
            {"tool": "get_observations", "args": {"mrn": k_mrn, "code": "2823-3"}},
            {"tool": "get_medications", "args": {"mrn": k_mrn, "include_inactive": true}},
            {"tool": "get_documents", "args": {"mrn": k_mrn}},
            {"tool": "search_documents", "args": {"query": "plan"}},
            {"list": "tools"},
        ]),
    );
    for r in &results[..7] {
        sizes(r);
    }
    let patient = answer(&results[1]);
    let latest = patient["latest_observations"].as_array().expect("latest");
    assert_eq!(latest.len(), 20, "20 codes, all within the budget");
    assert_eq!(
        (latest[0]["code"].as_str(), latest[0]["critical"].as_bool()),
        (Some("2823-3"), Some(true)),
        "critical first"
    );
    assert_eq!(latest[0]["previous"]["value"], "5.9");
    let trends = answer(&results[2])["trends"].as_array().expect("trends by default");
    assert_eq!(trends.len(), 20);
    assert_eq!(trends[0]["code"], "2823-3");
    assert_eq!(
        (trends[0]["count"].as_u64(), trends[0]["min"].as_f64(), trends[0]["max"].as_f64()),
        (Some(3), Some(5.3), Some(6.4))
    );
    let potassium = answer(&results[3])["observations"].as_array().expect("one code's results");
    assert_eq!(potassium.len(), 3);
    assert_eq!(potassium[0]["previous"]["delta"], json!(0.5));
    let search = answer(&results[6]);
    assert_eq!(search["results"].as_array().map(Vec::len), Some(10), "search pages by 10: pointers, not payloads");
    assert!(search["next_cursor"].is_string());
    let descriptions: Vec<&str> =
        results[7]["tools"].as_array().expect("tools").iter().filter_map(|t| t["description"].as_str()).collect();
    assert!(
        descriptions.iter().all(|d| d.contains("token") || d.contains("page") || d.contains("Small")),
        "{descriptions:?}"
    );
}

#[test]
fn a_role_without_results_sees_them_withheld_and_is_offered_only_its_tools() {
    let ws = Workspace::with_config(
        "",
        "[mcp]\nstdio_role = \"porter\"\n[[mcp.role]]\nname = \"porter\"\n\
         tools = [\"snapshot_status\", \"list_panel\", \"panel_changes\"]\nkinds = [\"patients\", \"panel\"]\n",
    );
    let out = ws.ingest(&["generate", "--ward", "--days", "2", "--out", "exports"]);
    assert!(out.status.success());
    assert_eq!(ws.replay(&[&ws.path("exports")]).0, 0);
    let results = call(&ws, json!([{"list": "tools"}, {"tool": "panel_changes"}, {"prompt": "pre_rounds_summary"}]));
    let mut names: Vec<&str> =
        results[0]["tools"].as_array().expect("tools").iter().filter_map(|t| t["name"].as_str()).collect();
    names.sort();
    assert_eq!(names, ["list_panel", "panel_changes", "snapshot_status"]);
    let digest = answer(&results[1]);
    assert_eq!(digest["withheld"], json!(["observations", "medications", "documents"]));
    let text = results[1]["content"][0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("WITHHELD from this role (not \"no changes\"): observations, medications, documents"),
        "{text}"
    );
    let prompt = results[2]["messages"][0]["content"]["text"].as_str().unwrap_or_default();
    assert!(prompt.contains("Results are withheld from this role") && !prompt.contains("get_patient"), "{prompt}");
}

#[test]
fn under_a_small_budget_answers_page_or_leave_out_normal_results_and_say_so() {
    let ws = Workspace::with_config("", "[mcp]\nanswer_budget = 2000\n");
    let out = ws.ingest(&["generate", "--ward", "--days", "3", "--out", "exports"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A long note: 300 lines, about 25,000 characters, on the patient of bed 0.
    let mut note = String::from(
        "MSH|^~\\&|SYNTH|GENHOSP|INGEST|GENHOSP|20261203040000-0600||MDM^T02|LONG1|P|2.5.1\r\
         EVN|T02|20261203040000\rPID|1||G0800001^^^GENHOSP^MR||LONG^NOTE\r\
         TXA|1|DS^Discharge summary|TX|20261203040000|D100^Synth^Writer|||||||LONGNOTE1|||||AU\r",
    );
    for i in 1..=300 {
        note.push_str(&format!(
            "OBX|{i}|TX|NOTE^Note||Line {i:03}: the course was uneventful and the plan stands as written.||||||F\r"
        ));
    }
    std::fs::write(ws.path("exports/2026-12-03/MDM_LONG_20261203050000.hl7"), note).expect("note");
    ws.set_clock("2026-12-03T12:00:00Z");
    assert_eq!(ws.replay(&[&ws.path("exports")]).0, 0);
    ws.set_clock("2026-12-03T12:30:00Z");
    const SMALL: usize = 6_000;
    let within = |r: &Value| {
        let text = r["content"][0]["text"].as_str().expect("text");
        assert!(text.len() <= SMALL && answer(r).to_string().len() <= SMALL, "over 6,000 bytes: {text:.300}");
    };

    let pages = digest(&ws, json!({}));
    pages.iter().for_each(within);
    assert!(pages.len() >= 8, "a small budget means more pages: {}", pages.len());
    assert_eq!(patients(&pages).len(), 33, "every patient still comes, on some page");

    let k_mrn = patients(&pages)[1]["mrn"].as_str().expect("mrn").to_string();
    let patient = call(&ws, json!([{"tool": "get_patient", "args": {"mrn": k_mrn}}])).remove(0);
    within(&patient);
    let record = answer(&patient);
    let latest = record["latest_observations"].as_array().expect("latest");
    assert!(latest.len() < 20, "normal results left out: {}", latest.len());
    assert_eq!(latest[0]["critical"], json!(true), "the critical potassium stays");
    assert!(latest.iter().any(|o| o["abnormal_flag"] != "N"));
    let omitted = &record["omitted"][0];
    assert!(omitted["what"].as_str().is_some_and(|w| w.contains("normal latest results (of 20)")), "{omitted}");
    assert!(omitted["call"].as_str().is_some_and(|c| c.starts_with("get_observations")), "{omitted}");
    let text = patient["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("Not shown (answer budget):"), "the text says what it left out: {text}");

    // A long note comes in pages that put the whole text back together, cut at line ends.
    let mut text = String::new();
    let mut cursor: Option<String> = None;
    let mut n = 0;
    loop {
        let mut args = json!({"document_id": "LONGNOTE1"});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = call(&ws, json!([{"tool": "read_document", "args": args}])).remove(0);
        within(&page);
        let a = answer(&page);
        let piece = a["text"].as_str().expect("text");
        assert!(piece.ends_with('\n') || a["next_cursor"].is_null(), "a page ends at a line end");
        text.push_str(piece);
        n += 1;
        cursor = a["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            assert_eq!(a["text_chars"].as_u64(), Some(text.chars().count() as u64));
            break;
        }
    }
    assert!(n >= 5, "{n} pages");
    assert_eq!(text.lines().count(), 300);
    assert!(
        text.lines().enumerate().all(|(i, l)| l.starts_with(&format!("Line {:03}:", i + 1))),
        "nothing lost or repeated"
    );
}
