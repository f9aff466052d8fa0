//! `/status`, the on-call page, in headless Chromium: two weeks of a daily export (on time, late,
//! missed, still due), a quarantined file and a rejected message on one source, a second source
//! that has never sent anything. The screenshot lands in the test output directory.

use crate::browser::Browser;
use crate::mcp_http::{CLINICIAN, HttpDaemon, OPERATIONS, mcp_tables};
use crate::util::{Workspace, hl7, raw};
use serde_json::Value;

/// The ward's daily 05:00 export (America/Chicago, 11:00Z in November), due by 05:45; an ICU
/// source with no schedule, which has sent nothing.
fn workspace() -> Workspace {
    let icu = "[[source]]\nname = \"icu\"\npath = \"icu-drop\"\n";
    let tables = format!("{icu}\n{}", mcp_tables(""));
    let ws = Workspace::with_config("expected = \"0 5 * * *\"\ngrace = \"45m\"", &tables);
    std::fs::create_dir_all(ws.path("icu-drop")).expect("icu drop");
    let exports = ws.path("exports");
    std::fs::create_dir_all(&exports).expect("exports");
    // (clock when received, export time, file, messages)
    let day = |clock: &str, ts: &str, name: &str, extra: Vec<String>| {
        ws.set_clock(clock);
        let path = exports.join(name);
        let mut messages = vec![hl7::adt("A01", &format!("C{name}"), ts, "MRN5001", "Chart", "5W^501^A")];
        messages.extend(extra);
        std::fs::write(&path, hl7::batch(ts, &messages)).expect("write");
        let out = ws.ingest(&["--replay", &path.display().to_string(), "--source", "ward"]);
        assert!(out.status.code().is_some_and(|c| c == 0 || c == 3), "{}", String::from_utf8_lossy(&out.stderr));
    };
    day("2026-11-12T10:58:00Z", "20261112045500-0600", "ADT_1112.hl7", vec![]);
    day("2026-11-13T12:30:00Z", "20261113050000-0600", "ADT_1113.hl7", vec![]);
    // A message with no patient (no PID): rejected, the rest of the file goes in.
    let no_pid = "MSH|^~\\&|EHR|GENHOSP|INGEST|GENHOSP|20261123050000-0600||ADT^A01|CTRL-NO-PID|P|2.5.1\r\
                  EVN|A01|20261123050000-0600\r"
        .to_string();
    day("2026-11-23T11:05:00Z", "20261123050000-0600", "ADT_1123.hl7", vec![no_pid]);
    ws.set_clock("2026-11-23T11:20:00Z");
    let empty = exports.join("EMPTY_1123.hl7");
    std::fs::write(&empty, "").expect("empty");
    let out = ws.ingest(&["--replay", &empty.display().to_string(), "--source", "ward"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    // Tuesday 24 November, 05:20: today's export is still due.
    ws.set_clock("2026-11-24T11:20:00Z");
    ws
}

/// What the page shows, read from the DOM the browser built (and laid out).
const FACTS: &str = r#"
const box = e => { const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; };
const section = name => {
  const s = document.querySelector(`section[data-source="${name}"]`);
  if (!s) return null;
  const svg = s.querySelector('svg.timeline');
  const frame = box(svg);
  const inside = e => { const b = box(e); return b.w > 0 && b.h > 0 && b.x >= frame.x - 1 && b.y >= frame.y - 1
      && b.x + b.w <= frame.x + frame.w + 1 && b.y + b.h <= frame.y + frame.h + 1; };
  const verdicts = {};
  for (const w of s.querySelectorAll('g.window')) verdicts[w.dataset.verdict] = (verdicts[w.dataset.verdict] || 0) + 1;
  const fill = sel => { const e = s.querySelector(sel); return e ? getComputedStyle(e).fill : null; };
  const rows = sel => [...s.querySelectorAll(sel + ' tbody tr')].map(r => [...r.cells].map(c => c.innerText.trim()));
  return {
    stale: s.dataset.stale,
    badge: s.querySelector('h2 .badge').innerText,
    reason: (s.querySelector('p.reason') || {innerText: null}).innerText,
    chart: frame,
    windows: s.querySelectorAll('g.window').length,
    verdicts,
    late_marker: s.querySelectorAll('g.window[data-verdict="late"] path.marker.late').length,
    missing_marks: s.querySelectorAll('g.window[data-verdict="missing"] path.marker.missing').length,
    marks_inside: [...s.querySelectorAll('svg.timeline .marker, svg.timeline rect.file, svg.timeline rect.band')].every(inside),
    bands_visible: [...s.querySelectorAll('rect.band')].every(b => box(b).h >= 2),
    files_drawn: s.querySelectorAll('svg.timeline rect.file').length,
    quarantined_drawn: s.querySelectorAll('svg.timeline rect.file.quarantined').length,
    day_labels: s.querySelectorAll('g.days text').length / 2,
    files: rows('table.files'),
    quarantine: rows('table.quarantine'),
    rejects: rows('table.rejects'),
    colours: { late: fill('path.marker.late'), on_time: fill('circle.marker.on_time') },
  };
};
return {
  title: document.title,
  overall: document.getElementById('overall').innerText,
  overall_stale: document.getElementById('overall').dataset.stale,
  sections: document.querySelectorAll('section.source').length,
  ward: section('ward'),
  icu: section('icu'),
  overflow: document.documentElement.scrollWidth > window.innerWidth,
  resources: performance.getEntriesByType('resource').length,
  text: document.body.innerText,
};
"#;

fn facts(browser: &Browser, url: &str) -> Value {
    browser.open(url);
    browser.eval(FACTS)
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: Chromium and chromedriver")]
fn the_status_page_draws_two_weeks_of_exports_the_quarantine_and_rejects_in_chromium() {
    let ws = workspace();
    let daemon = HttpDaemon::start(&ws);
    let url = format!("http://{}/status", daemon.authority());

    // Without a token: 401, and the browser is offered Basic (the token as the password).
    let (code, response) = raw(daemon.authority(), "GET", "/status", &[], "");
    assert_eq!(code, 401, "{response}");
    assert!(response.to_ascii_lowercase().contains("www-authenticate: basic realm=\"ingest status\""), "{response}");
    use base64::Engine as _;
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("oncall:{OPERATIONS}")));
    let (code, response) = raw(daemon.authority(), "GET", "/status", &[("Authorization", &basic)], "");
    assert_eq!(code, 200, "{response}");
    let head = response.split("\r\n\r\n").next().unwrap_or("").to_ascii_lowercase();
    assert!(head.contains("content-security-policy: default-src 'none'"), "{head}");

    let status: Value = serde_json::from_slice(&ws.ingest(&["status", "--json"]).stdout).expect("status JSON");
    let ward_json = status["sources"].as_array().expect("sources").iter().find(|s| s["name"] == "ward").expect("ward");

    let browser = Browser::start(1200, 900);
    browser.set_header("Authorization", &format!("Bearer {OPERATIONS}"));
    let page = facts(&browser, &url);
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    browser.screenshot(&shot);
    println!("status page screenshot: {}", shot.display());

    assert!(page["title"].as_str().is_some_and(|t| t.contains("STALE (icu)")), "{}", page["title"]);
    assert_eq!(page["overall_stale"], "true");
    assert_eq!(page["sections"], 2);
    let ward = &page["ward"];
    assert_eq!((ward["stale"].as_str(), ward["badge"].as_str()), (Some("false"), Some("FRESH")), "{ward}");
    // From the source's first export (12 November; the 11th's expected export came before the
    // source existed and is not counted) to 24 November: on time on the 12th and the 23rd, late on
    // the 13th (06:30), nothing on the 14th-22nd, the 24th's still due at 05:20.
    assert_eq!(ward["windows"], 13, "{ward}");
    assert_eq!(ward["verdicts"], serde_json::json!({"on_time": 2, "late": 1, "missing": 9, "pending": 1}), "{ward}");
    let windows = ward_json["timeline"]["windows"].as_array().expect("windows");
    assert_eq!(windows.len(), 13, "the page and ingest status --json agree");
    assert_eq!((ward["late_marker"].as_u64(), ward["missing_marks"].as_u64()), (Some(1), Some(9)));
    assert_eq!(ward["day_labels"], 13, "from the source's first day to today, today included");
    assert_eq!(ward["marks_inside"], true, "a mark of the chart falls outside it");
    assert_eq!(ward["bands_visible"], true);
    assert!(
        ward["chart"]["w"].as_f64().unwrap_or(0.0) > 900.0 && ward["chart"]["h"].as_f64().unwrap_or(0.0) > 200.0,
        "{ward}"
    );
    assert_ne!(ward["colours"]["late"], ward["colours"]["on_time"], "late and on time look the same");
    assert_eq!((ward["files_drawn"].as_u64(), ward["quarantined_drawn"].as_u64()), (Some(4), Some(1)));

    // The operations role sees no file names (an EHR's PDF names carry MRNs): ledger ids.
    let quarantine = ward["quarantine"].as_array().expect("quarantine rows");
    assert_eq!(quarantine.len(), 1, "{ward}");
    assert!(
        quarantine[0][0].as_str().is_some_and(|f| f.starts_with("file #") && f.ends_with("(.hl7)")),
        "{quarantine:?}"
    );
    assert_eq!(quarantine[0][2], "the file is empty");
    let rejects = ward["rejects"].as_array().expect("reject rows");
    assert_eq!(rejects.len(), 1, "{ward}");
    assert_eq!((rejects[0][1].as_str(), rejects[0][3].as_str()), (Some("2"), Some("CTRL-NO-PID")), "{rejects:?}");
    assert_eq!(ward["files"].as_array().map(Vec::len), Some(4), "{ward}");
    let text = page["text"].as_str().unwrap_or("");
    for phi in ["MRN5001", "Chart", "ADT_11", "EMPTY_1123"] {
        assert!(!text.contains(phi), "{phi} on the operations role's page");
    }

    let icu = &page["icu"];
    assert_eq!((icu["stale"].as_str(), icu["badge"].as_str()), (Some("true"), Some("STALE")), "{icu}");
    assert!(icu["reason"].as_str().is_some_and(|r| r.contains("icu")), "{icu}");
    assert_eq!((icu["windows"].as_u64(), icu["files_drawn"].as_u64()), (Some(0), Some(0)), "{icu}");
    assert!(text.contains("Nothing received in the last 14 days"), "the ICU's empty chart says nothing");
    assert_eq!(page["overflow"], false, "the page scrolls sideways at 1200 px");
    assert_eq!(page["resources"], 0, "the page loaded something besides itself");
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a {}-byte screenshot", png.len());

    // One source's page: its section only, linked from the others.
    let page = facts(&browser, &format!("{url}/ward"));
    assert_eq!((page["sections"].as_u64(), page["overall_stale"].as_str()), (Some(1), Some("false")), "{page}");
    let links = browser.eval("return [...document.querySelectorAll('nav a')].map(a => a.getAttribute('href'));");
    assert_eq!(links, serde_json::json!(["/status", "/status/ward", "/status/icu"]));
    let (code, _) = raw(daemon.authority(), "GET", "/status/nope", &[("Authorization", &basic)], "");
    assert_eq!(code, 404);
    let (code, response) = raw(daemon.authority(), "GET", "/status/ward", &[], "");
    assert!(code == 401 && response.to_ascii_lowercase().contains("www-authenticate: basic"), "{response}");

    // A clinician's token shows file names.
    browser.set_header("Authorization", &format!("Bearer {CLINICIAN}"));
    let page = facts(&browser, &url);
    assert_eq!(page["ward"]["quarantine"][0][0], "EMPTY_1123.hl7", "{}", page["ward"]);

    // Each view is in the audit log.
    let audit = std::fs::read_to_string(ws.path("data/audit.jsonl")).expect("audit");
    let views: Vec<Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["tool"] == "status_page")
        .collect();
    let who: Vec<(&str, &Value)> =
        views.iter().map(|v| (v["identity"].as_str().unwrap_or(""), &v["arguments"]["source"])).collect();
    let (all, ward) = (Value::Null, Value::from("ward"));
    assert_eq!(
        who,
        [("ops-monitor", &all), ("ops-monitor", &all), ("ops-monitor", &ward), ("dr-ward-5w", &all)],
        "{}",
        daemon.log_text()
    );
}
