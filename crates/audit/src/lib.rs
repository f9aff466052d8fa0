//! The access log: every MCP call appends one JSON line, hash-chained to the line before, so that
//! `ingest audit verify` can show that nobody edited, deleted, reordered or cut lines (ARCHITECTURE.md: no answer leaves unaudited).
//!
//! # On disk
//!
//! `PATH` holds one compact JSON object per line, `\n`-terminated:
//!
//! ```text
//! {"seq":1,"time":"2026-11-24T05:31:02.123Z","identity":"token:ward-5west","role":"clinician",
//!  "transport":"http","tool":"patient_summary","arguments":{"mrn":"MRN1"},"mrns":["MRN1"],
//!  "result":"ok","records":3,"prev":"000…000"}
//! ```
//!
//! (shown wrapped here; on disk it is one line). `seq` is the line's 1-based number and `prev` the hex
//! SHA-256 of the previous line's exact bytes without its newline (64 zeros for line 1). Verification
//! hashes the raw bytes of each line; it never re-serializes parsed JSON, so any byte changed in a
//! line breaks the next line's `prev`.
//!
//! `PATH.head` (0600) records where the log ends. It is what catches the end of the log being edited
//! or cut: the chain alone cannot tell a log whose last lines were removed from a shorter log, nor an
//! edited last line. It holds two slots of 160 bytes, each a line of space-padded JSON:
//!
//! ```text
//! {"seq":5,"hash":"<sha256 of line 5>","check":"<16 hex>"}␠␠␠…
//! {"seq":4,"hash":"<sha256 of line 4>","check":"<16 hex>"}␠␠␠…
//! ```
//!
//! Line N's head goes into slot N mod 2 (slot 0 first), overwritten in place and `fdatasync`ed, so
//! the other slot always holds line N−1's: a write torn by a power cut spoils only the slot being
//! written, which its `check` (the first 16 hex digits of SHA-256 over `"<seq>:<hash>"`) shows, and
//! the head is then the other slot, one line behind. An in-place overwrite of a block that exists
//! needs no journal commit of the filesystem; the head used to be a temp file renamed into place,
//! whose two extra metadata commits per call were the slowest part of an MCP call while a replay
//! was writing. A head of the older one-object form is still read, and rewritten in slots the first
//! time the log is appended to.
//!
//! # What the chain proves, and what it does not
//!
//! - An edited byte, a deleted line, an inserted line or two swapped lines: `verify` names the first
//!   line where the chain breaks (for an edited line that may be the line after it).
//! - A last line cut mid-way (a torn write or a truncation): the line is not valid JSON or has no
//!   newline; `open` refuses such a log rather than repair it.
//! - Whole lines cut from the end, or the last line edited: only detectable through `PATH.head`.
//!   A missing head file next to a non-empty log is itself reported as broken.
//! - Someone who can write the files can rewrite every line after an edit, and the head file, or
//!   delete both files: nothing on this machine can show that. Copies kept off the machine can:
//!   ship the log to journald/syslog forwarded elsewhere, or (since the log itself is PHI: it holds
//!   MRNs and arguments) at least ship the head's `seq` and `hash` now and then — they carry no PHI
//!   and pin down everything before them.
//!
//! # Concurrency and durability
//!
//! Appends from several processes (the daemon's HTTP server and a local `ingest mcp`) stay one linear
//! chain: each append takes an exclusive `flock` on the log, re-reads the tail, writes the line with
//! one `write` on an `O_APPEND` descriptor, `fdatasync`s, and writes the head's slot, then unlocks.
//! Within a process, an [`AuditLog`] is shared by reference, and threads that append at the same
//! time are committed as a group: while one group is written and fsynced, the next calls queue,
//! and the first of them writes all queued lines in one `write` with one `fdatasync`. Each call
//! still returns only once its own line is durable.
//! A crash between the log write and the head update leaves the head one line behind; `verify`
//! accepts exactly that (when the head matches the line before the last) and the next append
//! brings the head up to date. Every call does blocking I/O and fsyncs: from async code, call it in
//! `spawn_blocking`.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use serde_json::error::Category;
use sha2::{Digest, Sha256};

use ingest_core::time::Clock;
use ingest_fsutil as fsutil;

/// The `prev` of line 1, and the hash a head file records for an empty log.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What one MCP call did. Fields are written in this order.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    /// UTC, RFC 3339 with milliseconds, e.g. `2026-11-24T05:31:02.123Z`; set by [`AuditLog::append`].
    pub time: String,
    /// Who: the token's identity, or `local:<user> (uid N)` for stdio (from the OS, not `$USER`).
    pub identity: String,
    pub role: String,
    /// `stdio`, `http` or `bridge`.
    pub transport: String,
    /// The tool, resource (`resource:patient://MRN1`) or prompt name.
    pub tool: String,
    pub arguments: serde_json::Value,
    /// MRNs touched by the answer.
    pub mrns: Vec<String>,
    /// `ok`, `error: <short reason>` or `refused: <why>`.
    pub result: String,
    /// Records returned.
    pub records: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The chain does not hold: `line` is the first line found wrong (for a log cut short, the first
    /// line missing), `reason` says what is wrong in words a compliance officer can act on.
    #[error("audit log {}: {reason}", path.display())]
    Broken { path: PathBuf, line: u64, reason: String },
    #[error("audit log {}: cannot encode the entry: {source}", path.display())]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// An open access log, appended to by every MCP session of this process.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    head_path: PathBuf,
    clock: Arc<dyn Clock>,
    /// Opened read + `O_APPEND`; used by one committing thread at a time (see `Queue::committing`),
    /// and by one process at a time through `flock`.
    file: File,
    queue: Mutex<Queue>,
    /// Signalled when a group has been committed.
    committed: Condvar,
}

/// Entries waiting to be written, and what became of those written. Calls that arrive while a
/// group is being written and fsynced wait, and the next group takes all of them with one write
/// and one `fdatasync` (group commit): under 50 concurrent sessions the log's fsyncs, not the
/// answers, set the pace, and one fsync per call capped a daemon at about 45 calls a second.
#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<(u64, AuditEntry)>,
    next_ticket: u64,
    /// A thread is writing a group (it holds the file until it is done).
    committing: bool,
    /// Outcomes of written tickets not yet collected by their callers.
    done: std::collections::HashMap<u64, Result<(), AuditError>>,
}

impl AuditLog {
    /// Open or create (0600; a missing parent directory is created 0700) the log at `path` for
    /// appending, and check that its end is intact: the last line is a complete JSON line and agrees
    /// with `PATH.head`. A torn or cut log is an error naming the path and the line, never repaired
    /// here — appending to it would hide the damage. To start over, move both files aside (keep them
    /// as evidence); the next open starts a new chain.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<AuditLog, AuditError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsutil::create_private_dir(parent).map_err(io_error(parent))?;
        }
        let file =
            OpenOptions::new().read(true).append(true).create(true).mode(0o600).open(path).map_err(io_error(path))?;
        let log = AuditLog {
            path: path.to_path_buf(),
            head_path: head_path(path),
            clock,
            file,
            queue: Mutex::new(Queue::default()),
            committed: Condvar::new(),
        };
        {
            let file = &log.file;
            let _lock = Flock::exclusive(file, &log.path)?;
            let tail = read_tail(file, &log.path)?;
            let head = read_head(&log.head_path)?;
            if head.is_none() && tail.seq == 0 {
                // A new log gets its head before its first line, so a head never goes missing by a crash.
                write_head(&log.head_path, &tail)?;
            } else {
                check_head(&log.path, &log.head_path, &tail, head.as_ref())?;
            }
        }
        Ok(log)
    }

    /// Append one entry durably: it returns once the line is written and `fdatasync`ed and the head
    /// file follows it. `entry.time` is overwritten from the clock when the line is written, so
    /// times follow the chain's order. Fails, appending nothing, if the log's end is not intact
    /// (see [`AuditLog::open`]). Entries appended at the same time from several threads are written
    /// together, in the order they arrived, with one write and one `fdatasync`.
    pub fn append(&self, entry: AuditEntry) -> Result<(), AuditError> {
        let mut queue = self.queue();
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.waiting.push((ticket, entry));
        loop {
            if let Some(outcome) = queue.done.remove(&ticket) {
                return outcome;
            }
            if queue.committing {
                queue = self.committed.wait(queue).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // Commit everything waiting, this entry included, as one group.
            queue.committing = true;
            let group = std::mem::take(&mut queue.waiting);
            drop(queue);
            let outcome = self.commit(group.iter().map(|(_, entry)| entry));
            queue = self.queue();
            queue.committing = false;
            for (t, _) in &group {
                queue.done.insert(*t, outcome.as_ref().map(|_| ()).map_err(|e| e.shared()));
            }
            self.committed.notify_all();
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Write `entries` as consecutive lines: one `write`, one `fdatasync`, then the head.
    fn commit<'e>(&self, entries: impl Iterator<Item = &'e AuditEntry>) -> Result<(), AuditError> {
        let path = &self.path;
        let file = &self.file;
        let _lock = Flock::exclusive(file, path)?;
        let tail = read_tail(file, path)?;
        let head = read_head(&self.head_path)?;
        check_head(path, &self.head_path, &tail, head.as_ref())?;
        if head.is_none_or(|h| h.seq != tail.seq) {
            // One line behind after a crash (checked above): catch up first, so it never falls two behind.
            write_head(&self.head_path, &tail)?;
        }

        let time = self.clock.now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut bytes = Vec::new();
        let mut last = Tail { len: tail.len, ..tail.clone() };
        for entry in entries {
            let entry = AuditEntry { time: time.clone(), ..entry.clone() };
            let seq = last.seq + 1;
            let line = serde_json::to_vec(&LineOut { seq, entry: &entry, prev: &last.hash })
                .map_err(|source| AuditError::Encode { path: path.clone(), source })?;
            let hash = line_hash(&line);
            bytes.extend_from_slice(&line);
            bytes.push(b'\n');
            last = Tail { seq, hash, prev: last.hash, len: tail.len + bytes.len() as u64 };
        }
        if let Err(source) = (&*file).write_all(&bytes) {
            // Take back a partial write of our own (disk full), so the log is not left torn.
            let _ = file.set_len(tail.len);
            return Err(AuditError::Io { path: path.clone(), source });
        }
        file.sync_data().map_err(io_error(path))?;
        write_head(&self.head_path, &last)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AuditError {
    /// The same error for each caller of a group that failed together.
    fn shared(&self) -> AuditError {
        match self {
            AuditError::Io { path, source } => {
                AuditError::Io { path: path.clone(), source: io::Error::new(source.kind(), source.to_string()) }
            }
            AuditError::Broken { path, line, reason } => {
                AuditError::Broken { path: path.clone(), line: *line, reason: reason.clone() }
            }
            AuditError::Encode { path, source } => {
                AuditError::Io { path: path.clone(), source: io::Error::other(source.to_string()) }
            }
        }
    }
}

/// The head file kept beside the log at `log`: `PATH.head`.
pub fn head_path(log: &Path) -> PathBuf {
    let mut name = OsString::from(log.as_os_str());
    name.push(".head");
    PathBuf::from(name)
}

/// Check the whole chain of the log at `path` and its head file. `Ok(number of lines)`, or the first
/// broken line and why. A missing or empty log without a head file verifies as 0 lines. Takes a
/// shared lock, so it waits for an append in progress and never sees half a line being written.
///
/// For `ingest audit verify`: print the count on `Ok` and exit 0; print the error and exit 1 on
/// [`AuditError::Broken`]; exit 2 when the log could not be read at all ([`AuditError::Io`]).
pub fn verify(path: &Path) -> Result<u64, AuditError> {
    let head_path = head_path(path);
    let file = match File::open(path) {
        Ok(file) => Some(file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => return Err(AuditError::Io { path: path.to_path_buf(), source }),
    };
    let _lock = file.as_ref().map(|f| Flock::shared(f, path)).transpose()?;

    let mut tail = Tail::empty();
    if let Some(file) = &file {
        let mut reader = BufReader::new(file);
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            if reader.read_until(b'\n', &mut bytes).map_err(io_error(path))? == 0 {
                break;
            }
            let n = tail.seq + 1;
            let complete = bytes.last() == Some(&b'\n');
            if complete {
                bytes.pop();
            }
            let line = parse_line(&bytes, complete).map_err(|problem| problem.at(path, n))?;
            if line.seq != n {
                let reason = format!(
                    "line {n} says it is line {} (lines before it were deleted or inserted, or lines were reordered)",
                    line.seq
                );
                return Err(broken(path, n, reason));
            }
            if line.prev != tail.hash {
                let reason = if n == 1 {
                    "line 1: prev hash is not the start of a chain (lines deleted from the start?)".to_string()
                } else {
                    format!("line {n}: prev hash does not match line {} (edited, deleted or reordered)", n - 1)
                };
                return Err(broken(path, n, reason));
            }
            tail = Tail { seq: n, hash: line_hash(&bytes), prev: line.prev, len: 0 };
        }
    }
    let head = read_head(&head_path)?;
    check_head(path, &head_path, &tail, head.as_ref())?;
    Ok(tail.seq)
}

/// A line as written: `seq`, the entry's fields in order, then `prev`.
#[derive(Serialize)]
struct LineOut<'a> {
    seq: u64,
    #[serde(flatten)]
    entry: &'a AuditEntry,
    prev: &'a str,
}

/// A line as read back; only used to check it, never re-serialized.
#[derive(Deserialize)]
struct LineIn {
    seq: u64,
    prev: String,
    #[serde(flatten)]
    #[allow(dead_code)]
    entry: AuditEntry,
}

/// One slot of `PATH.head` (see the module docs). `check` is absent only in the older one-object form.
#[derive(Debug, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    check: Option<String>,
}

/// Bytes per head slot, newline included: room for a 20-digit `seq`.
const HEAD_SLOT: usize = 160;

impl Head {
    fn of(tail: &Tail) -> Head {
        Head { seq: tail.seq, hash: tail.hash.clone(), check: Some(head_check(tail.seq, &tail.hash)) }
    }

    /// The slot as written: JSON, spaces up to `HEAD_SLOT - 1`, newline.
    fn slot(&self, head_path: &Path) -> Result<Vec<u8>, AuditError> {
        let mut bytes =
            serde_json::to_vec(self).map_err(|source| AuditError::Encode { path: head_path.to_path_buf(), source })?;
        bytes.resize(HEAD_SLOT - 1, b' ');
        bytes.push(b'\n');
        Ok(bytes)
    }
}

fn head_check(seq: u64, hash: &str) -> String {
    let digest = format!("{:x}", Sha256::digest(format!("{seq}:{hash}")));
    digest[..16].to_string()
}

/// Where the chain ends: the last line's number and hash, the hash it chains to, and the file's length.
#[derive(Debug, Clone)]
struct Tail {
    seq: u64,
    hash: String,
    prev: String,
    len: u64,
}

impl Tail {
    fn empty() -> Tail {
        Tail { seq: 0, hash: GENESIS.to_string(), prev: GENESIS.to_string(), len: 0 }
    }
}

/// What is wrong with a line, before we know its number.
#[derive(Debug, Clone, Copy)]
enum Problem {
    NotJson,
    NotAnEntry,
    NoNewline,
}

impl Problem {
    fn at(self, path: &Path, n: u64) -> AuditError {
        let reason = match self {
            Problem::NotJson => format!("line {n} is not valid JSON (edited or truncated)"),
            Problem::NotAnEntry => format!("line {n} is valid JSON but not an audit entry (edited)"),
            Problem::NoNewline => format!("line {n} has no newline at its end (truncated, or a write was torn)"),
        };
        broken(path, n, reason)
    }
}

/// Parse one line (`bytes` without its newline; `complete` if it had one).
fn parse_line(bytes: &[u8], complete: bool) -> Result<LineIn, Problem> {
    let line = serde_json::from_slice::<LineIn>(bytes).map_err(|e| match e.classify() {
        Category::Data => Problem::NotAnEntry,
        _ => Problem::NotJson,
    })?;
    if !complete {
        return Err(Problem::NoNewline);
    }
    Ok(line)
}

/// Read the log's last line (cheap: from the end backwards) and check that it is complete.
fn read_tail(file: &File, path: &Path) -> Result<Tail, AuditError> {
    let len = file.metadata().map_err(io_error(path))?.len();
    if len == 0 {
        return Ok(Tail::empty());
    }
    let mut last = [0u8];
    file.read_exact_at(&mut last, len - 1).map_err(io_error(path))?;
    let complete = last[0] == b'\n';
    let end = if complete { len - 1 } else { len };

    const CHUNK: u64 = 8192;
    let mut start = end;
    let mut bytes = Vec::new();
    while start > 0 {
        let from = start.saturating_sub(CHUNK);
        let mut chunk = vec![0u8; (start - from) as usize];
        file.read_exact_at(&mut chunk, from).map_err(io_error(path))?;
        let newline = chunk.iter().rposition(|&b| b == b'\n');
        if let Some(i) = newline {
            chunk.drain(..=i);
        }
        chunk.extend_from_slice(&bytes);
        bytes = chunk;
        start = newline.map_or(from, |i| from + i as u64 + 1);
        if newline.is_some() {
            break;
        }
    }

    let line = match parse_line(&bytes, complete) {
        Ok(line) => line,
        // Say which line: count them (only on this error path).
        Err(problem) => return Err(problem.at(path, count_newlines(file, path, start)? + 1)),
    };
    Ok(Tail { seq: line.seq, hash: line_hash(&bytes), prev: line.prev, len })
}

/// Newlines in the first `upto` bytes of `file`.
fn count_newlines(file: &File, path: &Path, upto: u64) -> Result<u64, AuditError> {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut at, mut count) = (0u64, 0u64);
    while at < upto {
        let want = buf.len().min((upto - at) as usize);
        let got = file.read_at(&mut buf[..want], at).map_err(io_error(path))?;
        if got == 0 {
            break;
        }
        count += buf[..got].iter().filter(|&&b| b == b'\n').count() as u64;
        at += got as u64;
    }
    Ok(count)
}

/// The head: the slot with the higher `seq` among those whose `check` holds (or the one object of
/// the older form). `Err` if no slot holds: the file was edited.
fn read_head(head_path: &Path) -> Result<Option<Head>, AuditError> {
    let bytes = match fs::read(head_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(AuditError::Io { path: head_path.to_path_buf(), source }),
    };
    let not_valid =
        |reason: &str| AuditError::Broken { path: head_path.to_path_buf(), line: 0, reason: reason.to_string() };
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').filter(|l| !l.trim_ascii().is_empty()).collect();
    if let [only] = lines[..]
        && let Ok(head @ Head { check: None, .. }) = serde_json::from_slice::<Head>(only)
    {
        return Ok(Some(head));
    }
    lines
        .iter()
        .filter_map(|line| serde_json::from_slice::<Head>(line).ok())
        .filter(|head| head.check.as_deref() == Some(head_check(head.seq, &head.hash).as_str()))
        .max_by_key(|head| head.seq)
        .map(Some)
        .ok_or_else(|| not_valid("the head file holds no valid slot (edited?)"))
}

/// Does the head file agree with where the log ends? Equal, or one line behind (a crash between the
/// log write and the head update), is fine.
fn check_head(path: &Path, head_path: &Path, tail: &Tail, head: Option<&Head>) -> Result<(), AuditError> {
    let n = tail.seq;
    let Some(head) = head else {
        if n == 0 {
            return Ok(());
        }
        let reason = format!(
            "the head file {} is missing (deleted?), so lines cut from the end of the log cannot be ruled out",
            head_path.display()
        );
        return Err(broken(path, n, reason));
    };
    if head.seq > n {
        let reason = format!("the log ends at line {n} but the head file says {} lines (truncated)", head.seq);
        return Err(broken(path, n + 1, reason));
    }
    if head.seq == n {
        if head.hash == tail.hash {
            return Ok(());
        }
        let reason = if n == 0 {
            "the log is empty but the head file does not describe an empty log (edited?)".to_string()
        } else {
            format!("line {n} does not match the head file's hash (the last line was edited)")
        };
        return Err(broken(path, n, reason));
    }
    if head.seq + 1 == n && head.hash == tail.prev {
        return Ok(());
    }
    let reason = format!(
        "the head file says {} lines but the log has {n}, and they do not join up (the head file is stale or was replaced)",
        head.seq
    );
    Err(broken(path, n, reason))
}

/// Record `tail` as the head: its slot overwritten in place and `fdatasync`ed. A head file that is
/// missing or not in slots (new, or the older form) is written whole instead: both slots, in a 0600
/// temp file that is fsynced and renamed over it. Callers hold the log's exclusive lock.
fn write_head(head_path: &Path, tail: &Tail) -> Result<(), AuditError> {
    let slot = Head::of(tail).slot(head_path)?;
    let at = (tail.seq % 2) as usize * HEAD_SLOT;
    if let Ok(file) = OpenOptions::new().write(true).open(head_path)
        && file.metadata().is_ok_and(|m| m.len() == 2 * HEAD_SLOT as u64)
    {
        file.write_all_at(&slot, at as u64).map_err(io_error(head_path))?;
        return file.sync_data().map_err(io_error(head_path));
    }

    // Both slots: this line's, and the line before's in the other (genesis stands in for it on line 0).
    let before = Tail { seq: tail.seq.saturating_sub(1), hash: tail.prev.clone(), ..Tail::empty() };
    let other = if tail.seq == 0 { Head::of(tail) } else { Head::of(&before) };
    let mut body = vec![0u8; 2 * HEAD_SLOT];
    body[at..at + HEAD_SLOT].copy_from_slice(&slot);
    let other_at = HEAD_SLOT - at;
    body[other_at..other_at + HEAD_SLOT].copy_from_slice(&other.slot(head_path)?);
    let mut tmp = OsString::from(head_path.as_os_str());
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fsutil::write_private(&tmp, &body).map_err(io_error(&tmp))?;
    fs::rename(&tmp, head_path).map_err(io_error(head_path))?;
    if let Some(dir) = head_path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = File::open(dir)
    {
        let _ = dir.sync_all(); // best effort: a lost rename leaves the head one behind, which verify accepts
    }
    Ok(())
}

fn line_hash(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn broken(path: &Path, line: u64, reason: String) -> AuditError {
    AuditError::Broken { path: path.to_path_buf(), line, reason }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> AuditError + '_ {
    move |source| AuditError::Io { path: path.to_path_buf(), source }
}

/// An advisory `flock` on the log, released on drop (also on every error path).
struct Flock<'a>(&'a File);

impl<'a> Flock<'a> {
    fn exclusive(file: &'a File, path: &Path) -> Result<Flock<'a>, AuditError> {
        file.lock().map_err(io_error(path))?;
        Ok(Flock(file))
    }

    fn shared(file: &'a File, path: &Path) -> Result<Flock<'a>, AuditError> {
        file.lock_shared().map_err(io_error(path))?;
        Ok(Flock(file))
    }
}

impl Drop for Flock<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    #[derive(Debug)]
    struct FixedClock(DateTime<Utc>);

    impl Clock for FixedClock {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    fn clock() -> Arc<dyn Clock> {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 5, 31, 2).single().expect("valid time")
            + chrono::Duration::milliseconds(123);
        Arc::new(FixedClock(t))
    }

    fn entry(n: u64) -> AuditEntry {
        AuditEntry {
            time: "ignored".into(),
            identity: "token:ward-5west".into(),
            role: "clinician".into(),
            transport: "http".into(),
            tool: "patient_summary".into(),
            arguments: json!({ "mrn": format!("MRN{n}") }),
            mrns: vec![format!("MRN{n}")],
            result: "ok".into(),
            records: n,
        }
    }

    /// A log of `n` entries in a fresh directory (`audit/` does not exist yet).
    fn log_of(n: u64) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit").join("access.jsonl");
        let log = AuditLog::open(&path, clock()).expect("open");
        for i in 1..=n {
            log.append(entry(i)).expect("append");
        }
        (dir, path)
    }

    fn lines(path: &Path) -> Vec<Vec<u8>> {
        let bytes = fs::read(path).expect("read log");
        let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        assert_eq!(lines.pop(), Some(Vec::new()), "log ends with a newline");
        lines
    }

    fn write_lines(path: &Path, lines: &[Vec<u8>]) {
        let mut bytes = lines.join(&b'\n');
        bytes.push(b'\n');
        fs::write(path, bytes).expect("write log");
    }

    fn broken_at(result: Result<u64, AuditError>) -> (u64, String) {
        match result {
            Err(AuditError::Broken { line, reason, .. }) => (line, reason),
            other => panic!("expected a broken chain, got {other:?}"),
        }
    }

    #[test]
    fn five_appends_verify_as_five_lines_in_the_documented_form() {
        let (_dir, path) = log_of(5);
        assert_eq!(verify(&path).expect("verify"), 5);

        let lines = lines(&path);
        let first = String::from_utf8(lines[0].clone()).expect("utf-8");
        assert_eq!(
            first,
            format!(
                concat!(
                    r#"{{"seq":1,"time":"2026-11-24T05:31:02.123Z","identity":"token:ward-5west","role":"clinician","#,
                    r#""transport":"http","tool":"patient_summary","arguments":{{"mrn":"MRN1"}},"mrns":["MRN1"],"#,
                    r#""result":"ok","records":1,"prev":"{}"}}"#
                ),
                GENESIS
            )
        );
        let second: serde_json::Value = serde_json::from_slice(&lines[1]).expect("json");
        assert_eq!(second["seq"], 2);
        assert_eq!(second["prev"], line_hash(&lines[0]));
        assert_eq!(GENESIS.len(), 64);

        let head = fs::read(head_path(&path)).expect("head");
        assert_eq!(head.len(), 2 * HEAD_SLOT);
        let slot = |i: usize| -> serde_json::Value {
            let bytes = &head[i * HEAD_SLOT..(i + 1) * HEAD_SLOT];
            assert_eq!(bytes.last(), Some(&b'\n'), "slot {i} ends with a newline");
            serde_json::from_slice(bytes).expect("slot json")
        };
        let check = |seq: u64, hash: &str| format!("{:x}", Sha256::digest(format!("{seq}:{hash}")))[..16].to_string();
        let hash5 = line_hash(&lines[4]);
        let hash4 = line_hash(&lines[3]);
        assert_eq!(slot(1), json!({ "seq": 5, "hash": hash5, "check": check(5, &hash5) }));
        assert_eq!(slot(0), json!({ "seq": 4, "hash": hash4, "check": check(4, &hash4) }));
    }

    /// The head as `verify` reads it: (seq, hash).
    fn head_of(path: &Path) -> (u64, String) {
        let head = read_head(&head_path(path)).expect("head").expect("a head file");
        (head.seq, head.hash)
    }

    #[test]
    fn a_torn_head_slot_leaves_the_head_one_line_behind_and_the_next_append_repairs_it() {
        let (_dir, path) = log_of(5);
        let head = head_path(&path);
        let mut bytes = fs::read(&head).expect("head");
        bytes[HEAD_SLOT + 20..HEAD_SLOT + 60].fill(b'7'); // line 5's slot, half rewritten
        fs::write(&head, &bytes).expect("tear");
        assert_eq!(head_of(&path).0, 4);
        assert_eq!(verify(&path).expect("one line behind verifies"), 5);
        AuditLog::open(&path, clock()).expect("open").append(entry(6)).expect("append");
        assert_eq!(verify(&path).expect("verify"), 6);
        assert_eq!(head_of(&path).0, 6);
        let again = fs::read(&head).expect("head");
        assert_ne!(again[HEAD_SLOT..], bytes[HEAD_SLOT..], "line 5's slot was rewritten on the way");
    }

    #[test]
    fn a_head_file_with_no_valid_slot_is_reported() {
        let (_dir, path) = log_of(3);
        let head = head_path(&path);
        let bytes = String::from_utf8(fs::read(&head).expect("head")).expect("utf-8");
        fs::write(&head, bytes.replace("\"seq\":3", "\"seq\":9").replace("\"seq\":2", "\"seq\":8")).expect("edit");
        let (_, reason) = broken_at(verify(&path));
        assert_eq!(reason, "the head file holds no valid slot (edited?)");
    }

    #[test]
    fn a_head_of_the_older_one_object_form_is_read_and_rewritten_in_slots() {
        let (_dir, path) = log_of(3);
        let hash3 = line_hash(&lines(&path)[2]);
        fs::write(head_path(&path), format!("{{\"seq\":3,\"hash\":\"{hash3}\"}}\n")).expect("old form");
        assert_eq!(verify(&path).expect("verify"), 3);
        AuditLog::open(&path, clock()).expect("open").append(entry(4)).expect("append");
        assert_eq!(fs::metadata(head_path(&path)).expect("head").len(), 2 * HEAD_SLOT as u64);
        assert_eq!(verify(&path).expect("verify"), 4);
        assert_eq!(head_of(&path).0, 4);
    }

    #[test]
    fn the_entry_round_trips_and_time_comes_from_the_clock() {
        let (_dir, path) = log_of(1);
        let line: serde_json::Value = serde_json::from_slice(&lines(&path)[0]).expect("json");
        let back: AuditEntry = serde_json::from_value(line).expect("entry");
        assert_eq!(back, AuditEntry { time: "2026-11-24T05:31:02.123Z".into(), ..entry(1) });
    }

    #[test]
    fn reopening_continues_the_chain() {
        let (_dir, path) = log_of(2);
        let log = AuditLog::open(&path, clock()).expect("reopen");
        for i in 3..=5 {
            log.append(entry(i)).expect("append");
        }
        assert_eq!(verify(&path).expect("verify"), 5);
        let last: serde_json::Value = serde_json::from_slice(&lines(&path)[4]).expect("json");
        assert_eq!(last["seq"], 5);
    }

    #[test]
    fn any_byte_edited_in_line_3_is_detected_at_line_3_or_4() {
        let (_dir, path) = log_of(5);
        let original = fs::read(&path).expect("read");
        let lines = lines(&path);
        let start = lines[0].len() + lines[1].len() + 2;
        let end = start + lines[2].len() + 1; // including its newline
        for at in start..end {
            let mut edited = original.clone();
            edited[at] ^= 0x01;
            fs::write(&path, &edited).expect("write");
            let (line, reason) = broken_at(verify(&path));
            assert!(line == 3 || line == 4, "byte {at}: line {line}: {reason}");
        }
    }

    #[test]
    fn an_edited_mrn_in_line_3_breaks_the_chain_at_line_4() {
        let (_dir, path) = log_of(5);
        let mut lines = lines(&path);
        let text = String::from_utf8(lines[2].clone()).expect("utf-8").replace("MRN3", "MRN9");
        lines[2] = text.into_bytes();
        write_lines(&path, &lines);
        let (line, reason) = broken_at(verify(&path));
        assert_eq!(line, 4);
        assert_eq!(reason, "line 4: prev hash does not match line 3 (edited, deleted or reordered)");
        // The daemon must not chain onto an edited log without anyone noticing: verify still fails after.
        AuditLog::open(&path, clock()).expect("open").append(entry(6)).expect("append");
        assert_eq!(broken_at(verify(&path)).0, 4);
    }

    #[test]
    fn an_edited_last_line_is_caught_by_the_head_file() {
        let (_dir, path) = log_of(5);
        let mut lines = lines(&path);
        let text = String::from_utf8(lines[4].clone()).expect("utf-8").replace("\"ok\"", "\"no\"");
        lines[4] = text.into_bytes();
        write_lines(&path, &lines);
        let (line, reason) = broken_at(verify(&path));
        assert_eq!(line, 5);
        assert!(reason.contains("head file"), "{reason}");
        assert_eq!(broken_at(AuditLog::open(&path, clock()).map(|_| 0)).0, 5);
    }

    #[test]
    fn a_deleted_line_is_detected_where_it_was() {
        let (_dir, path) = log_of(5);
        let mut lines = lines(&path);
        lines.remove(1);
        write_lines(&path, &lines);
        let (line, reason) = broken_at(verify(&path));
        assert_eq!(line, 2);
        assert!(reason.starts_with("line 2 says it is line 3"), "{reason}");
    }

    #[test]
    fn a_deleted_line_with_renumbered_seqs_is_still_detected() {
        let (_dir, path) = log_of(5);
        let mut lines = lines(&path);
        lines.remove(1);
        for (i, line) in lines.iter_mut().enumerate().skip(1) {
            let text = String::from_utf8(line.clone()).expect("utf-8");
            *line = text.replacen(&format!("\"seq\":{}", i + 2), &format!("\"seq\":{}", i + 1), 1).into_bytes();
        }
        write_lines(&path, &lines);
        let (line, reason) = broken_at(verify(&path));
        assert_eq!(line, 2);
        assert_eq!(reason, "line 2: prev hash does not match line 1 (edited, deleted or reordered)");
    }

    #[test]
    fn swapped_lines_are_detected_at_the_first_of_them() {
        let (_dir, path) = log_of(5);
        let mut lines = lines(&path);
        lines.swap(1, 2);
        write_lines(&path, &lines);
        let (line, reason) = broken_at(verify(&path));
        assert_eq!(line, 2);
        assert!(reason.contains("reordered"), "{reason}");
    }

    #[test]
    fn a_line_cut_mid_way_is_detected_and_open_refuses_it() {
        let (_dir, path) = log_of(5);
        let len = fs::metadata(&path).expect("metadata").len();
        let file = OpenOptions::new().write(true).open(&path).expect("open for truncation");
        file.set_len(len - 20).expect("truncate");
        let (line, reason) = broken_at(verify(&path));
        assert_eq!(line, 5);
        assert_eq!(reason, "line 5 is not valid JSON (edited or truncated)");

        match AuditLog::open(&path, clock()) {
            Err(AuditError::Broken { path: p, line, reason }) => {
                assert_eq!((p.as_path(), line), (path.as_path(), 5));
                assert_eq!(reason, "line 5 is not valid JSON (edited or truncated)");
            }
            other => panic!("open must refuse a torn log, got {other:?}"),
        }
    }

    #[test]
    fn a_last_line_missing_only_its_newline_is_detected() {
        let (_dir, path) = log_of(5);
        let len = fs::metadata(&path).expect("metadata").len();
        OpenOptions::new().write(true).open(&path).expect("open").set_len(len - 1).expect("truncate");
        let (line, reason) = broken_at(verify(&path));
        assert_eq!(line, 5);
        assert!(reason.contains("no newline"), "{reason}");
        assert_eq!(broken_at(AuditLog::open(&path, clock()).map(|_| 0)).0, 5);
    }

    #[test]
    fn a_dropped_last_line_is_caught_by_the_head_file_and_open_refuses_to_hide_it() {
        let (_dir, path) = log_of(5);
        let mut lines = lines(&path);
        lines.pop();
        write_lines(&path, &lines);
        let (line, reason) = broken_at(verify(&path));
        assert_eq!(line, 5);
        assert_eq!(reason, "the log ends at line 4 but the head file says 5 lines (truncated)");
        // Appending would overwrite the head and erase the evidence: open refuses instead.
        assert_eq!(broken_at(AuditLog::open(&path, clock()).map(|_| 0)).0, 5);
    }

    #[test]
    fn a_missing_head_next_to_a_non_empty_log_is_reported() {
        let (_dir, path) = log_of(3);
        fs::remove_file(head_path(&path)).expect("remove head");
        let (line, reason) = broken_at(verify(&path));
        assert_eq!(line, 3);
        assert!(reason.contains("is missing"), "{reason}");
    }

    #[test]
    fn a_head_one_line_behind_after_a_crash_verifies_and_the_next_append_catches_up() {
        let (_dir, path) = log_of(3);
        let stale = fs::read(head_path(&path)).expect("head");
        let log = AuditLog::open(&path, clock()).expect("open");
        log.append(entry(4)).expect("append");
        fs::write(head_path(&path), &stale).expect("restore stale head"); // as if the rename was lost
        assert_eq!(verify(&path).expect("verify"), 4);
        log.append(entry(5)).expect("append");
        assert_eq!(verify(&path).expect("verify"), 5);
        assert_eq!(head_of(&path).0, 5);
    }

    #[test]
    fn a_missing_or_empty_log_without_head_verifies_as_zero_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("access.jsonl");
        assert_eq!(verify(&path).expect("missing"), 0);
        fs::write(&path, b"").expect("create empty");
        assert_eq!(verify(&path).expect("empty"), 0);
        AuditLog::open(&path, clock()).expect("open");
        assert_eq!(verify(&path).expect("opened, nothing appended"), 0);
    }

    #[test]
    fn log_and_head_are_0600_in_a_0700_directory() {
        let (dir, path) = log_of(1);
        let mode = |p: &Path| fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&head_path(&path)), 0o600);
        assert_eq!(mode(&dir.path().join("audit")), 0o700);
    }

    #[test]
    fn two_handles_appending_alternately_keep_one_chain() {
        let (_dir, path) = log_of(0);
        let a = AuditLog::open(&path, clock()).expect("open a");
        let b = AuditLog::open(&path, clock()).expect("open b");
        for i in 0..10 {
            a.append(entry(2 * i + 1)).expect("append a");
            b.append(entry(2 * i + 2)).expect("append b");
        }
        assert_eq!(verify(&path).expect("verify"), 20);
    }

    #[test]
    fn many_threads_appending_at_once_each_get_their_line_once_and_in_their_order() {
        let (_dir, path) = log_of(0);
        let log = Arc::new(AuditLog::open(&path, clock()).expect("open"));
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    for i in 0..50 {
                        log.append(entry(t * 1000 + i)).expect("append");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        assert_eq!(verify(&path).expect("verify"), 400);
        let records: Vec<u64> = lines(&path)
            .iter()
            .map(|l| {
                serde_json::from_slice::<serde_json::Value>(l).expect("json")["records"].as_u64().expect("records")
            })
            .collect();
        for t in 0..8 {
            let mine: Vec<u64> = records.iter().copied().filter(|r| r / 1000 == t).collect();
            assert_eq!(mine, (0..50).map(|i| t * 1000 + i).collect::<Vec<_>>(), "thread {t}'s lines");
        }
    }

    #[test]
    fn handles_shared_by_threads_keep_one_chain() {
        let (_dir, path) = log_of(0);
        let handles = [
            Arc::new(AuditLog::open(&path, clock()).expect("open")),
            Arc::new(AuditLog::open(&path, clock()).expect("open")),
        ];
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let log = Arc::clone(&handles[t % 2]);
                std::thread::spawn(move || {
                    for i in 0..25 {
                        log.append(entry(i)).expect("append");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        assert_eq!(verify(&path).expect("verify"), 100);
    }
}
