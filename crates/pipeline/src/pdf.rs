//! PDF text extraction, isolated: the pipeline re-executes this binary as `ingest extract-pdf FILE`
//! (a hidden subcommand) and reads one JSON line from it. A panic is caught in the child; a crash
//! (stack overflow, abort, out of memory: its address space is capped at [`MEMORY_LIMIT`]) or a
//! hang costs the child only, which is killed at the time limit. Either way the file is
//! quarantined and the daemon goes on with the next one.

use ingest_parse::pdf::{ExtractFailure, Extraction, extract_text};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The hidden subcommand.
pub const SUBCOMMAND: &str = "extract-pdf";

/// The child's address space: an extractor that tries to allocate more fails (and the child
/// aborts) rather than pressing the host's memory.
pub const MEMORY_LIMIT: u64 = 2 << 30;

/// What the child prints: one JSON line.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    Ok(Extraction),
    Error(String),
    Panic,
}

/// The `ingest` binary that runs `extract-pdf`, when the running executable is not it (a program
/// that links the library, such as a benchmark); set once, before the first extraction.
static EXTRACTOR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Name the `ingest` binary to run as the extractor (for programs other than `ingest` itself).
pub fn use_extractor(ingest_binary: &Path) {
    let _ = EXTRACTOR.set(ingest_binary.to_path_buf());
}

/// Extract a PDF's text in a child process (this executable), killed after `timeout`.
pub fn extract(path: &Path, timeout: Duration) -> Result<Extraction, ExtractFailure> {
    let exe = match EXTRACTOR.get() {
        Some(exe) => exe.clone(),
        None => std::env::current_exe().map_err(|e| ExtractFailure::Unavailable(format!("cannot find ingest: {e}")))?,
    };
    extract_with(&exe, path, timeout)
}

/// [`extract`] with the executable named (tests run it against the built `ingest`).
pub fn extract_with(exe: &Path, path: &Path, timeout: Duration) -> Result<Extraction, ExtractFailure> {
    let mut child = Command::new(exe)
        .arg(SUBCOMMAND)
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env("RUST_BACKTRACE", "0")
        .spawn()
        .map_err(|e| ExtractFailure::Unavailable(format!("cannot start the PDF extractor: {e}")))?;
    // Read stdout on a thread so that a large text never blocks the child on a full pipe.
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut out);
        }
        out
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ExtractFailure::Crashed);
            }
        }
    };
    let out = reader.join().unwrap_or_default();
    let Some(status) = status else { return Err(ExtractFailure::TimedOut(timeout)) };
    let reply = String::from_utf8_lossy(&out)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<Reply>(l).ok());
    match (status.success(), reply) {
        (true, Some(Reply::Ok(extraction))) => Ok(extraction),
        (true, Some(Reply::Error(reason))) => Err(ExtractFailure::Unreadable(reason)),
        _ => Err(ExtractFailure::Crashed),
    }
}

/// The child: `ingest extract-pdf FILE` prints one JSON line (`{"ok":{"pages":…,"text":…}}`,
/// `{"error":…}` or `"panic"`) and exits 0; it exits 1 only when it cannot write.
pub fn child_main(path: &Path) -> ExitCode {
    // The panic message may quote the file's content: never print it.
    std::panic::set_hook(Box::new(|_| {}));
    // Best effort: where the limit cannot be set, the time limit still ends a runaway child.
    let _ = rlimit::setrlimit(rlimit::Resource::AS, MEMORY_LIMIT, MEMORY_LIMIT);
    let reply = match std::fs::read(path) {
        Err(e) => Reply::Error(format!("cannot read the file: {e}")),
        Ok(bytes) => match std::panic::catch_unwind(|| extract_text(&bytes)) {
            Ok(Ok(extraction)) => Reply::Ok(extraction),
            Ok(Err(reason)) => Reply::Error(reason),
            Err(_) => Reply::Panic,
        },
    };
    let Ok(line) = serde_json::to_string(&reply) else { return ExitCode::FAILURE };
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
