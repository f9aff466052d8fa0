//! A corpus of over 200 malformed files, made here, dropped into a watched folder at once: each is
//! quarantined or rejected with a reason, nothing is followed out of the folder, the daemon stays
//! up (and takes a good file after them), and its peak memory stays bounded.

use crate::util::{Daemon, Workspace, hl7, samples, wait_for};
use rand::{RngExt, SeedableRng};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn batch(messages: usize) -> String {
    let msgs: Vec<String> = (0..messages)
        .map(|m| {
            let results = [("2345-7", "101", "mg/dL", ""), ("2823-3", "4.1", "mmol/L", "")];
            hl7::oru(&format!("T{m}"), "202611240400", &format!("MRN{m:03}"), &format!("O{m}"), &results)
        })
        .collect();
    hl7::batch("20261124050000-0600", &msgs)
}

/// A good export: one patient admitted.
fn admission(mrn: &str, family: &str) -> String {
    hl7::batch("20261124050000-0600", &[hl7::adt("A01", &format!("A-{mrn}"), "202611240400", mrn, family, "5W^1^A")])
}

/// Writes the corpus into `drop`; returns the names written (some are not UTF-8).
fn write_corpus(drop: &Path, outside: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>| files.push((drop.join(name), bytes));

    // Truncated batches: cut anywhere, the trailers are gone.
    let whole = batch(5).into_bytes();
    let trailer = whole.windows(4).position(|w| w == b"BTS|").expect("BTS");
    for i in 0..80 {
        let at = 20 + (trailer - 20) * i / 80;
        add(&format!("ORU_cut_{i:02}.hl7"), whole[..at].to_vec());
    }
    // Binary garbage, some of it behind a plausible header.
    let mut rng = rand_pcg::Pcg64::seed_from_u64(8);
    for i in 0..50 {
        let len = rng.random_range(1..64 * 1024);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if i % 3 == 0 {
            bytes.splice(0..0, b"MSH|^~\\&|".iter().copied());
        }
        add(&format!("binary_{i:02}.hl7"), bytes);
    }
    // Nothing in it.
    add("empty.hl7", Vec::new());
    add("newlines.hl7", b"\n\n\r\n\r".to_vec());
    add("spaces.hl7", b"    \t  ".to_vec());
    add("nul.hl7", vec![0; 1024]);
    add("nul.csv", vec![0; 1024]);
    add("labs_5W_empty.csv", Vec::new());
    // A 4 MB line, and a message of 100,000 segments.
    add("huge_line.hl7", [b"MSH|^~\\&|".to_vec(), vec![b'A'; 4 << 20]].concat());
    let mut long =
        String::from("MSH|^~\\&|LAB|H|||202611240500||ORU^R01|BIG|P|2.5\rPID|1||MRN900^^^H^MR\rOBR|1||F1|P\r");
    for k in 0..100_000 {
        long.push_str(&format!("OBX|{k}|NM|||5|mg\r"));
    }
    add("segments_100k.hl7", long.into_bytes());
    // Encodings that are not text the parser can find MSH in.
    let text = batch(1);
    add("utf16le.hl7", text.encode_utf16().flat_map(u16::to_le_bytes).collect());
    add("utf16be.hl7", text.encode_utf16().flat_map(u16::to_be_bytes).collect());
    add("utf32.hl7", text.chars().flat_map(|c| (c as u32).to_le_bytes()).collect());
    add("ebcdic.hl7", vec![0xD4, 0xE2, 0xC8, 0x4F, 0x5F, 0xA1, 0xE0, 0x50, 0x4F]);
    // CSV traps: every row wrong in some way (or no row at all).
    let header =
        "MRN,Order ID,Test Code,Code System,Test Name,Result,Units,Reference Range,Flag,Status,Collected,Resulted\n";
    let traps: Vec<String> = vec![
        header.to_string(),
        "Patient;Test;Value\nMRN1;x;1\n".into(),
        "\u{feff}MRN;Order ID;Test Code\nMRN1;F1;1558-6\n".into(),
        format!("{header}MRN1,F1,1558-6,LN,\"Glucose,96,mg/dL,70-99,N,F,2026-11-24 04:10,2026-11-24 04:55\n"),
        format!("{header}MRN1,F1,1558-6,LN,Glucose,96\n"),
        format!("{header}MRN1,F1,1558-6,LN,Glucose,96,mg/dL,70-99,N,F,yesterday,soon\n"),
        format!("{header},F1,1558-6,LN,Glucose,96,mg/dL,70-99,N,F,2026-11-24 04:10,2026-11-24 04:55\n"),
        format!("{header}MRN1,F1,1558-6,LN,\"Glu\ncose\",96,mg/dL,70-99,N,F,2026-11-24 04:1\0,2026-11-24 04:55\n"),
        format!("{header}MRN1,F1,1558-6,LN,{},96\n", "G".repeat(1 << 20)),
        format!("{}{}\nMRN1,F1\n", header.trim_end(), ",extra".repeat(10_000)),
    ];
    for i in 0..30 {
        add(&format!("labs_5W_2026112{}_trap{i:02}.csv", i % 5), traps[i % traps.len()].clone().into_bytes());
    }
    // PDFs named for a patient, so their text is tried: nested, looping, cut, bombs, lies.
    let sample_pdf = std::fs::read(samples().join("2026-11-24/NOTE_MRN57552_ECHO_202611240500.pdf")).expect("pdf");
    let mut pdfs: Vec<Vec<u8>> = vec![
        b"%PDF-1.7\n".to_vec(),
        [b"%PDF-1.4\n1 0 obj\n".to_vec(), vec![b'['; 200_000], vec![b']'; 200_000], b"\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF".to_vec()].concat(),
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [2 0 R] /Count 1 /Parent 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF".to_vec(),
        b"%PDF-1.4\nxref\n0 1\n0000000000 65535 f \ntrailer << /Size 99999999 /Root 7 0 R >>\nstartxref\n999999999\n%%EOF".to_vec(),
        b"%PDF-1.4\n3 0 obj << /Length 999999999999 >> stream\nabc\nendstream endobj\n%%EOF".to_vec(),
        flate_bomb(),
    ];
    for i in 0..18 {
        pdfs.push(sample_pdf[..sample_pdf.len() * (i + 1) / 20].to_vec());
    }
    for (i, pdf) in pdfs.into_iter().enumerate() {
        add(&format!("NOTE_MRN57552_BAD{i:02}_202611240500.pdf"), pdf);
    }
    // Names no export has.
    for name in ["bell\u{7}.hl7", "new\nline.hl7", "esc\u{1b}[31mred.hl7"] {
        add(name, batch(1).into_bytes());
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for (path, bytes) in files {
        std::fs::write(&path, bytes).expect("write");
        out.push(path);
    }
    let latin1 = drop.join(OsStr::from_bytes(b"caf\xe9.hl7"));
    std::fs::write(&latin1, batch(1)).expect("latin-1 name");
    out.push(latin1);
    // Links out of the folder, one to a good export that must not be taken.
    std::fs::write(outside.join("good.hl7"), admission("MRN-OUTSIDE", "OUTSIDER")).expect("outside");
    for (name, target) in [
        ("link_passwd.hl7", PathBuf::from("/etc/passwd")),
        ("link_outside.hl7", outside.join("good.hl7")),
        ("link_dangling.hl7", PathBuf::from("/nonexistent/x.hl7")),
        ("link_dir.hl7", outside.to_path_buf()),
    ] {
        let link = drop.join(name);
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        out.push(link);
    }
    out
}

/// A PDF whose one stream inflates to 256 MB of zeros.
fn flate_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        z.write_all(&zeros).expect("compress");
    }
    let stream = z.finish().expect("compress");
    let mut pdf = format!(
        "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n\
         3 0 obj << /Type /Page /Parent 2 0 R /Contents 4 0 R >> endobj\n4 0 obj << /Length {} /Filter /FlateDecode >> stream\n",
        stream.len()
    )
    .into_bytes();
    pdf.extend_from_slice(&stream);
    pdf.extend_from_slice(b"\nendstream endobj\ntrailer << /Root 1 0 R >>\n%%EOF");
    pdf
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("kB")
}

#[test]
fn two_hundred_malformed_files_are_each_quarantined_or_rejected_with_a_reason_and_the_daemon_lives() {
    let ws = Workspace::new();
    let outside = ws.path("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    let files = write_corpus(&ws.path("drop"), &outside);
    assert!(files.len() >= 200, "{} files", files.len());

    let mut daemon = Daemon::start(&ws);
    wait_for("every malformed file to be dealt with", Duration::from_secs(240), || {
        std::fs::read_dir(ws.path("drop")).expect("drop").next().is_none()
    });
    assert!(daemon.alive(), "the daemon died:\n{}", daemon.log_text());

    // Each file: quarantined with an error, or in with its rejects named, or in with the fields
    // it could not read named, or (a PDF) kept with its text refused and why.
    let conn = ws.reader();
    let mut outcomes: std::collections::BTreeMap<String, usize> = Default::default();
    for file in &files {
        let path = file.display().to_string();
        let row: Option<(i64, String, Option<String>, i64)> = conn
            .query_row("SELECT id, status, error, rejects FROM source_files WHERE path = ?1", [&path], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .ok();
        let Some((id, status, error, rejects)) = row else { panic!("{path:?}: no ledger row") };
        let reason = match status.as_str() {
            "quarantined" => error.filter(|e| !e.is_empty()).map(|e| e.split(':').next().unwrap_or("").to_string()),
            "ingested_with_rejects" if rejects > 0 => conn
                .query_row("SELECT reason FROM rejects WHERE source_file_id = ?1 LIMIT 1", [id], |r| {
                    r.get::<_, String>(0)
                })
                .ok()
                .map(|r| format!("rejects: {}", r.split(':').next().unwrap_or(""))),
            "ingested" => conn
                .query_row(
                    "SELECT text_error FROM documents WHERE source_file_id = ?1 AND text_status = 'failed'",
                    [id],
                    |r| r.get::<_, String>(0),
                )
                .ok()
                .map(|e| format!("pdf text: {}", e.chars().take(40).collect::<String>()))
                // An unreadable optional cell (a time) leaves it empty, warned, and the row lands.
                .or_else(|| {
                    conn.query_row(
                        "SELECT field || ' left empty' FROM field_warnings WHERE source_file_id = ?1 LIMIT 1",
                        [id],
                        |r| r.get::<_, String>(0),
                    )
                    .ok()
                }),
            // The same bytes as a trap that went in (with its unreadable cells warned).
            "duplicate" => Some("duplicate".to_string()),
            _ => None,
        };
        let Some(reason) = reason else { panic!("{path:?}: {status} without a reason") };
        *outcomes.entry(reason).or_default() += 1;
    }
    eprintln!("{} malformed files:", files.len());
    for (reason, n) in &outcomes {
        eprintln!("  {n:4}  {reason}");
    }

    // Nothing was followed out of the folder.
    assert_eq!(ws.query_i64("SELECT count(*) FROM patients WHERE mrn = 'MRN-OUTSIDE'"), 0);
    for entry in walkdir::WalkDir::new(ws.path("data/quarantine")).follow_links(false) {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let bytes = std::fs::read(entry.path()).expect("read");
            assert!(!bytes.windows(8).any(|w| w == b"root:x:0"), "{}: /etc/passwd was copied", entry.path().display());
        }
    }
    assert!(outside.join("good.hl7").exists(), "a link's target is never moved");

    // Still up and working: a good file after all that goes in.
    std::fs::write(ws.path("drop/ADT_after.hl7"), admission("MRN-AFTER", "AFTERWARD")).expect("good");
    wait_for("a good file after the bad ones", Duration::from_secs(30), || {
        ws.query_i64("SELECT count(*) FROM patients WHERE mrn = 'MRN-AFTER'") == 1
    });
    let peak = peak_rss_kib(daemon.pid());
    eprintln!("daemon peak RSS: {} MB", peak / 1024);
    assert!(peak < 200 * 1024, "peak RSS {} MB", peak / 1024);
    let log = daemon.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains("new\nline"), "a control character in a name reached the log raw");
}

#[test]
fn a_file_over_max_file_mb_is_quarantined_unread_with_its_size_and_sha256() {
    let ws = Workspace::new();
    let config = std::fs::read_to_string(ws.config()).expect("config");
    std::fs::write(ws.config(), format!("max_file_mb = 1\n{config}")).expect("config");
    std::fs::create_dir_all(ws.path("exports")).expect("exports");
    let big = batch(6000).into_bytes();
    assert!(big.len() > 1 << 20);
    std::fs::write(ws.path("exports/ORU_big.hl7"), &big).expect("big");
    std::fs::write(ws.path("exports/ORU_small.hl7"), batch(3)).expect("small");
    let (code, out) = ws.replay(&[&ws.path("exports")]);
    assert_eq!(code, 3, "{out}");
    let row = ws.query_strings(
        "SELECT status || ' ' || size || ' ' || sha256 || ' ' || error FROM source_files WHERE path LIKE '%big%'",
    );
    use sha2::Digest;
    let sha = format!("{:x}", sha2::Sha256::digest(&big));
    assert_eq!(
        row,
        [format!(
            "quarantined {} {sha} the file is {} bytes, more than max_file_mb allows (1048576 bytes): it was not read",
            big.len(),
            big.len()
        )]
    );
    assert_eq!(ws.query_i64("SELECT count(*) FROM source_files WHERE status = 'ingested'"), 1, "the small one goes in");
}
