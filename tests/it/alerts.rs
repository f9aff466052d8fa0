//! Alerts: a source going stale, a file quarantined and a recovery reach a configured command and a
//! webhook (a receiver on loopback here), with retries and a rate limit, and no PHI in the payload.

use crate::mcp_http::{HttpDaemon, OPERATIONS, mcp_tables};
use crate::util::{LIMIT, Workspace, hl7, raw, wait_for};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One request the receiver took: its headers (lowercase names) and JSON body.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Value,
}

/// An HTTP receiver on 127.0.0.1 that answers 500 to its first request and 200 after.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&got);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream);
                let mut headers = Vec::new();
                let mut line = String::new();
                let _ = reader.read_line(&mut line); // request line
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.trim_end().split_once(':') {
                        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
                    }
                }
                let length = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok());
                let mut body = vec![0; length.unwrap_or(0)];
                let _ = reader.read_exact(&mut body);
                let first = {
                    let mut all = seen.lock().expect("lock");
                    all.push(Received { headers, body: serde_json::from_slice(&body).unwrap_or(Value::Null) });
                    all.len() == 1
                };
                let status = if first { "500 Internal Server Error" } else { "200 OK" };
                let _ = reader.get_mut().write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes(),
                );
            }
        });
        Receiver { port, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    /// The alerts delivered with 200, in order (the first request was refused and tried again).
    fn delivered(&self) -> Vec<Value> {
        self.received().into_iter().skip(1).map(|r| r.body).collect()
    }
}

fn events(alerts: &[Value]) -> Vec<String> {
    alerts.iter().map(|a| a["event"].as_str().unwrap_or("?").to_string()).collect()
}

#[test]
fn stale_quarantined_and_recovered_reach_the_command_and_the_webhook_within_the_rate_limit() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let command_out = dir.path().join("command.jsonl");
    let tables = format!(
        "{}\n\n[alerts]\ncommand = [\"/bin/sh\", \"-c\", \"cat >> \\\"$0\\\"\", \"{}\"]\n\
         webhook = \"http://127.0.0.1:{}/hook\"\nwebhook_headers = {{ Authorization = \"Bearer receiver-secret\" }}\n\
         retry_wait = \"200ms\"\nrate_limit = 3\nrate_window = \"1h\"\n",
        mcp_tables(""),
        command_out.display(),
        receiver.port
    );
    // A daily 05:00 export due by 05:45 (America/Chicago: 11:45Z); yesterday's came, and at 05:46
    // today's has not.
    let ws = Workspace::with_config("expected = \"0 5 * * *\"\ngrace = \"45m\"", &tables);
    ws.set_clock("2026-11-24T11:46:00Z");
    let yesterday = ws.path("ADT_MON.hl7");
    let ts = "20261123050000-0600";
    std::fs::write(&yesterday, hl7::batch(ts, &[hl7::adt("A01", "A0", ts, "M76", "Yesterday", "5W^502^A")]))
        .expect("yesterday's export");
    assert_eq!(ws.replay(&[&yesterday]).0, 0);
    let daemon = HttpDaemon::start(&ws);
    let delivered = |n: usize| {
        wait_for(&format!("{n} alert(s) delivered"), LIMIT, || receiver.delivered().len() >= n);
        receiver.delivered()
    };
    assert_eq!(events(&delivered(1)), ["stale"]);

    std::fs::write(ws.path("drop/EMPTY_M77.hl7"), "").expect("drop");
    assert_eq!(events(&delivered(2)), ["stale", "quarantined"]);

    let ts = "20261124055000-0600";
    let export = hl7::batch(ts, &[hl7::adt("A01", "A1", ts, "M77", "Alertson", "5W^501^A")]);
    std::fs::write(ws.path("drop/ADT_M77.hl7"), export).expect("drop");
    assert_eq!(events(&delivered(3)), ["stale", "quarantined", "recovered"]);

    // Over the limit of 3 an hour: two more quarantined files are logged, not sent.
    std::fs::write(ws.path("drop/EMPTY2.hl7"), "").expect("drop");
    std::fs::write(ws.path("drop/EMPTY3.hl7"), "").expect("drop");
    wait_for("two alerts held back", LIMIT, || daemon.log_text().matches("over the rate limit").count() == 2);
    // An hour later the next one goes, and says two were held back.
    ws.set_clock("2026-11-24T12:47:00Z");
    std::fs::write(ws.path("drop/EMPTY4.hl7"), "").expect("drop");
    let alerts = delivered(4);
    assert_eq!(events(&alerts), ["stale", "quarantined", "recovered", "quarantined"]);
    assert_eq!(alerts[3]["held_back"], 2, "{}", alerts[3]);
    assert_eq!(alerts[0]["held_back"], 0);

    // The refused first request was the stale alert, tried again with the same id.
    let received = receiver.received();
    assert_eq!(received[0].body["id"], received[1].body["id"]);
    for r in &received {
        assert!(r.headers.contains(&("authorization".into(), "Bearer receiver-secret".into())), "{:?}", r.headers);
        assert!(r.headers.contains(&("content-type".into(), "application/json".into())), "{:?}", r.headers);
    }
    let stale = &alerts[0];
    assert_eq!(stale["source"], "ward");
    assert!(stale["reason"].as_str().unwrap_or("").contains("one was expected at 2026-11-24 05:00 CST"), "{stale}");
    let quarantined = &alerts[1];
    assert_eq!(quarantined["reason"], "the file is empty");
    let file_id = quarantined["file_id"].as_i64().expect("file_id");
    let ledger = ws.query_strings(&format!("SELECT status FROM source_files WHERE id = {file_id}"));
    assert_eq!(ledger, ["quarantined"], "the alert's file_id is the quarantined file's ledger row");
    for alert in &alerts {
        let text = alert.to_string();
        for phi in ["M77", "Alertson", "EMPTY", ".hl7"] {
            assert!(!text.contains(phi), "{phi} in an alert: {text}");
        }
    }

    // The command got the same alerts, one JSON line each.
    wait_for("4 alerts run through the command", LIMIT, || {
        std::fs::read_to_string(&command_out).unwrap_or_default().lines().count() >= 4
    });
    let lines: Vec<Value> = std::fs::read_to_string(&command_out)
        .expect("command output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(
        lines.iter().map(|a| a["id"].clone()).collect::<Vec<_>>(),
        alerts.iter().map(|a| a["id"].clone()).collect::<Vec<_>>()
    );

    // Each alert is a log line too, the held-back ones included.
    let log = daemon.log_text();
    assert_eq!(log.matches("alert: ingest: source ward is STALE").count(), 1, "{log}");
    assert_eq!(log.matches("alert: ingest: a file from source ward was quarantined").count(), 4, "{log}");
    assert!(log.contains("alert delivered") && log.contains("trying again in"), "{log}");

    // And counted in /metrics.
    let bearer = format!("Bearer {OPERATIONS}");
    let (code, metrics) = raw(daemon.authority(), "GET", "/metrics", &[("Authorization", &bearer)], "");
    assert_eq!(code, 200, "{metrics}");
    for line in [
        "ingest_alerts_total{event=\"quarantined\"} 4",
        "ingest_alerts_total{event=\"stale\"} 1",
        "ingest_alerts_held_back_total{event=\"quarantined\"} 2",
        "ingest_alert_deliveries_total{via=\"webhook\",result=\"delivered\"} 4",
        "ingest_alert_deliveries_total{via=\"command\",result=\"delivered\"} 4",
    ] {
        assert!(metrics.lines().any(|l| l == line), "no {line} in\n{metrics}");
    }
}

#[test]
fn a_webhook_over_plain_http_to_another_host_is_refused() {
    let ws = Workspace::with_config("", "[alerts]\nwebhook = \"http://alerts.example.org/hook\"\n");
    let err = ws.config_error();
    assert!(err.contains("alerts.webhook") && err.contains("use https"), "{err}");
}
