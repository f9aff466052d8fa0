//! PDF notes through the built binary: a text PDF lands and full-text search finds it; a scan is
//! kept without text; truncated, encrypted, panicking, crashing and endless PDFs each cost their
//! own text only (kept as `failed` with the reason) while the others land; a PDF that nothing
//! identifies is quarantined, or named by a documents manifest.

use crate::mcp_stdio::call;
use crate::util::mcp::answer;
use crate::util::{Daemon, LIMIT};
use crate::util::{Workspace, wait_for};
use serde_json::json;
use std::path::PathBuf;

/// A minimal PDF: the objects numbered from 1 (1 is the catalog), a correct cross-reference table.
fn pdf(objects: &[Vec<u8>], trailer_extra: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(object);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R {trailer_extra}>>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1)
            .as_bytes(),
    );
    out
}

fn stream(data: &[u8]) -> Vec<u8> {
    let mut s = format!("<< /Length {} >>\nstream\n", data.len()).into_bytes();
    s.extend_from_slice(data);
    s.extend_from_slice(b"\nendstream");
    s
}

const CATALOG: &[u8] = b"<< /Type /Catalog /Pages 2 0 R >>";
const ONE_PAGE: &[u8] = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>";
const PAGE_WITH_FONT: &[u8] =
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>";
const HELVETICA: &[u8] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>";

/// One page of Helvetica text, a line per entry.
pub(crate) fn text_pdf(lines: &[&str]) -> Vec<u8> {
    let mut content = b"BT /F1 11 Tf 72 720 Td 14 TL\n".to_vec();
    for line in lines {
        content.extend_from_slice(format!("({line}) Tj T*\n").as_bytes());
    }
    content.extend_from_slice(b"ET");
    pdf(&[CATALOG.to_vec(), ONE_PAGE.to_vec(), PAGE_WITH_FONT.to_vec(), stream(&content), HELVETICA.to_vec()], "")
}

fn write(ws: &Workspace, name: &str, bytes: &[u8]) -> PathBuf {
    let path = ws.path(&format!("exports/{name}"));
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, bytes).expect("write fixture");
    path
}

fn error_report(ws: &Workspace, name: &str) -> String {
    std::fs::read_to_string(ws.path(&format!("data/quarantine/ward/{name}.error.txt")))
        .unwrap_or_else(|e| panic!("{name}.error.txt: {e}"))
}

#[test]
fn a_text_pdf_lands_with_its_pages_and_search_finds_its_word() {
    let ws = Workspace::new();
    let path = write(
        &ws,
        "NOTE_M1_ECHO_202611240430.pdf",
        &text_pdf(&["Transthoracic echocardiogram", "LVEF 55 percent, no effusion."]),
    );
    let (code, out) = ws.replay(&[&ws.path("exports")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 ingested · 0 with rejects"), "{out}");
    assert_eq!(ws.query_strings("SELECT kind FROM source_files"), ["pdf"]);
    let sha = ws.query_strings("SELECT sha256 FROM source_files").remove(0);
    assert_eq!(
        ws.query_strings(
            "SELECT p.mrn || ' ' || d.document_id || ' ' || d.doc_type || ' ' || d.authored_at || ' ' || d.event || ' '
                    || d.page_count || ' ' || d.text_status || ' ' || d.sha256
             FROM documents d JOIN patients p ON p.id = d.patient_id"
        ),
        [format!("M1 pdf/{} ECHO 2026-11-24T10:30:00Z PDF 1 ok {sha}", &sha[..16])]
    );
    assert_eq!(
        ws.query_strings(
            "SELECT d.document_id FROM documents_fts JOIN documents d ON d.id = documents_fts.rowid
                          WHERE documents_fts MATCH 'echocardiogram'"
        ),
        [format!("pdf/{}", &sha[..16])]
    );

    let results = call(
        &ws,
        json!([
            {"tool": "search_documents", "args": {"query": "echocardiogram"}},
            {"tool": "read_document", "args": {"document_id": format!("pdf/{}", &sha[..16])}},
            {"tool": "get_documents", "args": {"mrn": "M1"}},
        ]),
    );
    let hits = answer(&results[0])["results"].as_array().expect("results").clone();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["mrn"], "M1");
    let document = &hits[0]["document"];
    assert_eq!((&document["page_count"], &document["text_status"]), (&json!(1), &json!("ok")));
    // Replayed in place: the original is where it was read.
    assert_eq!(document["original_path"], json!(path.display().to_string()));
    let read = answer(&results[1]);
    assert!(read["text"].as_str().is_some_and(|t| t.contains("LVEF 55 percent")), "{read}");
    assert_eq!(answer(&results[2])["documents"][0]["event"], "PDF");
}

#[test]
fn a_scan_and_unreadable_or_hostile_pdfs_are_kept_without_text_and_an_unnamed_pdf_is_quarantined() {
    let ws = Workspace::new();
    let good = text_pdf(&["Discharge summary: afebrile, walking."]);
    write(&ws, "NOTE_M1_DC_202611240100.pdf", &good);
    // A page with only a filled rectangle: no text layer.
    let scan = pdf(
        &[
            CATALOG.to_vec(),
            ONE_PAGE.to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << >> >>".to_vec(),
            stream(b"0 0 1 rg 100 100 200 200 re f"),
        ],
        "",
    );
    write(&ws, "NOTE_M2_SCAN_202611240110.pdf", &scan);
    write(&ws, "NOTE_M3_PN_202611240120.pdf", &good[..good.len() / 2]);
    let encrypted = pdf(
        &[
            CATALOG.to_vec(),
            ONE_PAGE.to_vec(),
            PAGE_WITH_FONT.to_vec(),
            stream(b"BT /F1 11 Tf 72 720 Td (secret) Tj ET"),
            HELVETICA.to_vec(),
            format!("<< /Filter /Standard /V 1 /R 2 /O <{}> /U <{}> /P -44 >>", "11".repeat(32), "22".repeat(32))
                .into_bytes(),
        ],
        "/Encrypt 6 0 R /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>] ",
    );
    write(&ws, "NOTE_M4_PN_202611240130.pdf", &encrypted);
    // Widths that do not fit FirstChar..LastChar: pdf-extract panics (caught in the child).
    let panicking = pdf(
        &[
            CATALOG.to_vec(),
            ONE_PAGE.to_vec(),
            PAGE_WITH_FONT.to_vec(),
            stream(b"BT /F1 11 Tf (x) Tj ET"),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /FirstChar 200 /LastChar 10 /Widths [1 2] >>"
                .to_vec(),
        ],
        "",
    );
    write(&ws, "NOTE_M5_PN_202611240140.pdf", &panicking);
    // A form XObject that draws itself: endless recursion, a stack overflow that aborts the child
    // (no catch_unwind can stop that; the process boundary does).
    let recursive = pdf(
        &[
            CATALOG.to_vec(),
            ONE_PAGE.to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /XObject << /X1 5 0 R >> >> >>".to_vec(),
            stream(b"/X1 Do"),
            b"<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /X1 5 0 R >> >> /Length 6 >>\nstream\n/X1 Do\nendstream".to_vec(),
        ],
        "",
    );
    write(&ws, "NOTE_M6_PN_202611240150.pdf", &recursive);
    write(&ws, "scan0001.pdf", &text_pdf(&["A note with no patient in its name."]));
    // The last in export order: the replay went on after every failure above.
    write(&ws, "NOTE_M7_PN_202611240400.pdf", &text_pdf(&["Progress note: stable overnight."]));

    let (code, out) = ws.replay(&[&ws.path("exports")]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("8 found · 7 ingested · 0 with rejects · 0 duplicate · 1 quarantined"), "{out}");
    // A PDF the extractor cannot read is still a note of that patient: kept without text, with why.
    assert_eq!(
        ws.query_strings(
            "SELECT p.mrn || ' ' || ifnull(d.page_count, '-') || ' ' || d.text_status || ' [' || d.text || '] '
                    || ifnull(d.text_error, '-')
             FROM documents d JOIN patients p ON p.id = d.patient_id ORDER BY p.mrn"
        ),
        [
            "M1 1 ok [Discharge summary: afebrile, walking.] -",
            "M2 1 no_text_layer [] -",
            "M3 - failed [] not a readable PDF: failed parsing cross reference table: invalid start value",
            "M4 - failed [] the PDF is encrypted (password-protected)",
            "M5 - failed [] the PDF extractor crashed on this file",
            "M6 - failed [] the PDF extractor crashed on this file",
            "M7 1 ok [Progress note: stable overnight.] -",
        ]
    );
    let report = error_report(&ws, "scan0001.pdf");
    assert!(
        report.contains(
            "error:       the PDF's file name gives no MRN and no documents manifest lists it: \
             expected NOTE_<MRN>_<DOCTYPE>_<YYYYMMDDHHMM>.pdf (notes) or a row in a documents manifest CSV"
        ),
        "{report}"
    );
    assert!(report.contains("kind:        pdf"), "{report}");
    let results = call(&ws, json!([{"tool": "get_documents", "args": {"mrn": "M4"}}]));
    let document = &answer(&results[0])["documents"][0];
    assert_eq!(
        (&document["text_status"], &document["text_error"]),
        (&json!("failed"), &json!("the PDF is encrypted (password-protected)"))
    );
    assert!(document["original_path"].as_str().is_some_and(|p| p.ends_with("NOTE_M4_PN_202611240130.pdf")));
}

#[test]
fn a_pdf_that_outlasts_the_time_limit_is_kept_without_text_and_the_next_file_lands() {
    let ws = Workspace::with_config("", "[mcp]\nport = 0\n\n[pdf]\ntimeout = \"500ms\"\n");
    // A valid page of 1.2 million text operators: seconds of work for the extractor.
    let mut content = b"BT /F1 9 Tf\n".to_vec();
    for _ in 0..1_200_000 {
        content.extend_from_slice(b"(ab) Tj 1 0 Td\n");
    }
    content.extend_from_slice(b"ET");
    let huge =
        pdf(&[CATALOG.to_vec(), ONE_PAGE.to_vec(), PAGE_WITH_FONT.to_vec(), stream(&content), HELVETICA.to_vec()], "");
    write(&ws, "NOTE_M1_PN_202611240100.pdf", &huge);
    write(&ws, "NOTE_M2_PN_202611240200.pdf", &text_pdf(&["Short note."]));
    let started = std::time::Instant::now();
    let (code, out) = ws.replay(&[&ws.path("exports")]);
    assert_eq!(code, 3, "{out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "the extractor was not stopped");
    assert!(out.contains("2 ingested · 0 with rejects · 0 duplicate · 0 quarantined"), "{out}");
    assert_eq!(
        ws.query_strings(
            "SELECT text_status || ' [' || text || '] ' || ifnull(text_error, '-') FROM documents ORDER BY id"
        ),
        ["failed [] the PDF extractor timed out after 500ms", "ok [Short note.] -"]
    );
}

#[test]
fn the_daemon_archives_a_pdf_the_document_points_at_the_original_and_a_crash_costs_only_that_text() {
    let ws = Workspace::new();
    let mut daemon = Daemon::start(&ws);
    let recursive = pdf(
        &[
            CATALOG.to_vec(),
            ONE_PAGE.to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /XObject << /X1 5 0 R >> >> >>".to_vec(),
            stream(b"/X1 Do"),
            b"<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /X1 5 0 R >> >> /Length 6 >>\nstream\n/X1 Do\nendstream".to_vec(),
        ],
        "",
    );
    std::fs::write(ws.path("drop/NOTE_M9_PN_202611240100.pdf"), recursive).expect("write");
    std::fs::write(ws.path("drop/NOTE_M1_ECHO_202611240430.pdf"), text_pdf(&["Echocardiogram: normal."]))
        .expect("write");
    wait_for("both PDFs in the ledger", LIMIT, || {
        ws.db().exists() && ws.query_i64("SELECT count(*) FROM source_files WHERE disposition IS NOT NULL") == 2
    });
    assert!(daemon.alive(), "the daemon survived the extractor's crash");
    assert_eq!(daemon.terminate(), Some(0));
    assert_eq!(
        ws.query_strings("SELECT document_id || ' ' || text_status FROM documents WHERE text_error IS NOT NULL").len(),
        1,
        "the crashing PDF is kept without text"
    );
    let archived = ws
        .query_strings(
            "SELECT f.disposition FROM source_files f JOIN documents d ON d.source_file_id = f.id
             JOIN patients p ON p.id = d.patient_id WHERE p.mrn = 'M1'",
        )
        .remove(0);
    assert!(archived.contains("/archive/ward/") && std::path::Path::new(&archived).exists(), "{archived}");
    let results = call(&ws, json!([{"tool": "get_documents", "args": {"mrn": "M1"}}]));
    assert_eq!(answer(&results[0])["documents"][0]["original_path"], json!(archived));
}

const MANIFEST: &str = "File,MRN,Document Type,Title,Author,Document Date\r\n\
    outside_0001.pdf,M8,Discharge Summary,\"Discharge summary, Lakeside General\",Dr. Imogen Vale,2026-11-20 10:00\r\n\
    ../../etc/passwd,M8,Other,Escape,,2026-11-20 10:00\r\n";

#[test]
fn a_documents_manifest_names_the_patient_of_a_pdf_whose_name_does_not() {
    let ws = Workspace::new();
    // The PDF sorts before its manifest by name and by time: the replay reads manifests first.
    write(&ws, "outside_0001.pdf", &text_pdf(&["Outside discharge summary: pneumonia, treated."]));
    write(&ws, "documents_5W_20261124_0500.csv", MANIFEST.as_bytes());
    let (code, out) = ws.replay(&[&ws.path("exports")]);
    assert_eq!(code, 3, "the path-shaped row is a reject: {out}");
    assert!(out.contains("2 found · 1 ingested · 1 with rejects · 0 duplicate · 0 quarantined"), "{out}");
    assert_eq!(
        ws.query_strings(
            "SELECT p.mrn || ' | ' || d.doc_type || ' | ' || d.title || ' | ' || d.author || ' | ' || d.authored_at
                    || ' | ' || d.text_status
             FROM documents d JOIN patients p ON p.id = d.patient_id"
        ),
        ["M8 | Discharge Summary | Discharge summary, Lakeside General | Dr. Imogen Vale | 2026-11-20T16:00:00Z | ok"]
    );
    assert_eq!(
        ws.query_strings("SELECT line || ' ' || segment || ': ' || reason FROM rejects"),
        ["3 File: a file name, not a path, is expected"]
    );
}

#[test]
fn the_daemon_holds_a_pdf_until_the_manifest_that_names_it_arrives() {
    let ws = Workspace::new();
    let mut daemon = Daemon::start(&ws);
    std::fs::write(ws.path("drop/outside_0001.pdf"), text_pdf(&["Outside discharge summary."])).expect("write");
    daemon.wait_for_log("waiting for a documents manifest that lists it", 1, LIMIT);
    assert_eq!(ws.query_i64("SELECT count(*) FROM source_files"), 0, "a held PDF has no ledger row");
    assert!(ws.path("drop/outside_0001.pdf").exists());
    std::fs::write(ws.path("drop/documents_5W_20261124_0500.csv"), MANIFEST).expect("write");
    wait_for("the PDF to land", LIMIT, || ws.query_i64("SELECT count(*) FROM documents") == 1);
    assert!(daemon.alive());
    assert_eq!(daemon.terminate(), Some(0));
    assert_eq!(ws.query_strings("SELECT p.mrn FROM documents d JOIN patients p ON p.id = d.patient_id"), ["M8"]);
    assert!(!ws.path("drop/outside_0001.pdf").exists(), "archived after ingest");
}
