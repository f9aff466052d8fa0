//! One file, start to finish: read → sha256 → ledger (duplicate?) → parse (pure) → one SQLite
//! transaction → archive, keep, delete or quarantine. The daemon and `--replay` both come through
//! here, so what the tests prove for one holds for the other.

pub mod pdf;
pub mod source;

use chrono::{DateTime, Utc};
use ingest_config::AfterIngest;
use ingest_core::faults;
use ingest_core::model::{ManifestEntry, ParsedFile, Reject};
use ingest_core::time::{Clock, rfc3339};
use ingest_fsutil::{self as fsutil, hex};
use ingest_parse::{FileError, FileKind, ParseOptions};
use ingest_store::Writer;
use ingest_store::write::{self, FileMeta, WriteError, Written};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The disposition of a file that went in by replay: replays never move their inputs.
const REPLAYED_IN_PLACE: &str = "replayed in place";

/// What to do with the file once its fate is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// A file dropped in a watched folder: after ingest, as the source says; when it cannot be
    /// ingested, moved to quarantine.
    Live(AfterIngest),
    /// A file replayed from an archive: never moved; when it cannot be ingested, a copy goes to
    /// quarantine.
    Replay,
}

/// A ready file, handed to [`Pipeline::process`].
#[derive(Debug, Clone)]
pub struct Intake<'a> {
    pub source: &'a str,
    pub path: &'a Path,
    /// The trigger file that announced it (`NAME.done`), removed along with it.
    pub trigger: Option<PathBuf>,
    pub handling: Handling,
}

/// What became of a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ingested(Written),
    Duplicate {
        file_id: i64,
        of: i64,
    },
    Quarantined {
        file_id: i64,
        error: String,
        rejects: Vec<Reject>,
    },
    /// Shutdown arrived mid-file: rolled back, the file left where it was for the next start.
    Cancelled,
    /// A dropped PDF that neither its name nor a documents manifest identifies yet, younger than
    /// `pdf.manifest_wait`: left in place, without a ledger row, to be tried again at a rescan.
    Deferred,
}

/// What is left to do on the file system once a file's ledger row is committed (for an export
/// run, once the whole run is). The row already says where the file goes (its disposition), so a
/// crash before this is done leaves a row that [`Pipeline::finish_pending`] can finish from.
#[derive(Debug)]
struct Effect {
    file_id: i64,
    action: Action,
    /// The quarantine report, written beside the quarantined file.
    report: Option<String>,
}

/// Where a file goes once it is in (or quarantined).
#[derive(Debug, Clone, PartialEq)]
enum Action {
    /// It stays: `kept`, or `replayed in place`.
    Stay(&'static str),
    Delete,
    /// Moved (a dropped file: archive or quarantine) to exactly this path.
    Move(PathBuf),
    /// Copied (a replayed file that is quarantined) to exactly this path.
    Copy(PathBuf),
}

impl Action {
    /// What the ledger's `disposition` says of it.
    fn disposition(&self) -> String {
        match self {
            Action::Stay(how) => (*how).to_string(),
            Action::Delete => DELETED.to_string(),
            Action::Move(to) | Action::Copy(to) => to.display().to_string(),
        }
    }
}

const DELETED: &str = "deleted";
const KEPT: &str = "kept";

/// A failure that is not the file's fault (I/O, the database). The file's transaction rolled back
/// and the file stays where it is, to be tried again.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: snapshot: {source}")]
    Store { path: String, source: ingest_store::Error },
    /// The file is in (its commit stands) but could not be put where its ledger row says; it
    /// stays where it is and the move is finished at a later rescan.
    #[error("{path}: in the snapshot, but not yet moved to {to}: {source}")]
    Effect { path: String, to: String, source: std::io::Error },
}

/// The ingest pipeline over one writable snapshot.
#[derive(Debug)]
pub struct Pipeline {
    conn: Writer,
    options: ParseOptions,
    clock: Arc<dyn Clock>,
    archive_dir: PathBuf,
    quarantine_dir: PathBuf,
}

impl Pipeline {
    pub fn new(
        conn: Writer,
        options: ParseOptions,
        clock: Arc<dyn Clock>,
        archive_dir: PathBuf,
        quarantine_dir: PathBuf,
    ) -> Pipeline {
        Pipeline { conn, options, clock, archive_dir, quarantine_dir }
    }

    /// The snapshot's writer (the sources' health, retention and status queries between files).
    pub fn writer(&self) -> &Writer {
        &self.conn
    }

    /// For the daemon's other writer, retention, between files.
    pub fn writer_mut(&mut self) -> &mut Writer {
        &mut self.conn
    }

    /// Whether this file (by source, path, size and mtime) already has a ledger row.
    pub fn already_seen(&self, source: &str, path: &Path) -> Result<bool, PipelineError> {
        let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(false) };
        let mtime = mtime_of(&meta);
        write::seen_unchanged(&self.conn, source, &path.display().to_string(), meta.len(), mtime)
            .map_err(|source| PipelineError::Store { path: path.display().to_string(), source })
    }

    /// Take one ready file through the pipeline. `cancelled` is asked between messages.
    pub fn process(&mut self, intake: &Intake<'_>, cancelled: &dyn Fn() -> bool) -> Result<Outcome, PipelineError> {
        let (outcome, effect) = self.take(intake, cancelled)?;
        if let Some(effect) = effect {
            self.apply(intake, effect)?;
        }
        Ok(outcome)
    }

    /// Take the files of one export run and publish them together: one transaction around every
    /// file's own (a reader sees all of the run or none of it), then the files are archived or
    /// quarantined. A documents manifest goes first, so that the PDFs it lists are identified.
    /// Shutdown or a failure that is not a file's fault rolls the whole run back; its files stay
    /// where they are, to be taken again.
    pub fn process_run(
        &mut self,
        intakes: &[Intake<'_>],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<Outcome>, PipelineError> {
        let store = |source| PipelineError::Store { path: "export run".into(), source };
        let mut order: Vec<&Intake<'_>> = intakes.iter().collect();
        order.sort_by_key(|intake| !self.is_manifest(intake.path));
        self.conn.begin_run().map_err(store)?;
        let mut taken = Vec::with_capacity(order.len());
        for intake in &order {
            match self.take(intake, cancelled) {
                Ok((Outcome::Cancelled, _)) => {
                    self.conn.roll_back_run().map_err(store)?;
                    return Ok(vec![Outcome::Cancelled]);
                }
                Ok(taken_one) => taken.push(taken_one),
                Err(e) => {
                    self.conn.roll_back_run().map_err(store)?;
                    return Err(e);
                }
            }
        }
        faults::point("export run written, not committed");
        self.conn.commit_run().map_err(store)?;
        faults::point("export run committed");
        let mut outcomes = Vec::with_capacity(taken.len());
        for (intake, (outcome, effect)) in order.into_iter().zip(taken) {
            if let Some(effect) = effect {
                self.apply(intake, effect)?;
            }
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// Whether a file is a documents manifest (told from its name and first bytes).
    fn is_manifest(&self, path: &Path) -> bool {
        use std::io::Read;
        let mut prefix = Vec::new();
        let read = std::fs::File::open(path).and_then(|f| f.take(64 * 1024).read_to_end(&mut prefix));
        read.is_ok()
            && ingest_parse::csv_kind(&file_name(path), &prefix, &self.options)
                == Some(ingest_parse::csv::CsvKind::DocumentsManifest)
    }

    /// Do what is left on the file system once the file's ledger row is committed.
    fn apply(&self, intake: &Intake<'_>, effect: Effect) -> Result<(), PipelineError> {
        let shown = intake.path.display().to_string();
        let mut action = effect.action;
        if let Action::Move(to) | Action::Copy(to) = &mut action
            && present(to)
        {
            // Taken since it was planned (two files of one export run with the same name): the
            // next free name, and the ledger told.
            let dir = to.parent().unwrap_or(Path::new("/")).to_path_buf();
            *to = fsutil::free_name(&dir, &file_name(to));
            write::set_disposition(&self.conn, effect.file_id, &to.display().to_string())
                .map_err(|source| PipelineError::Store { path: shown.clone(), source })?;
        }
        carry_out(intake.path, intake.trigger.as_deref(), &action, effect.report.as_deref())
            .map_err(|source| PipelineError::Effect { path: shown.clone(), to: action.disposition(), source })
    }

    /// A file found in a watched folder that already has a ledger row: if a crash stopped what was
    /// to be done with it after its commit (the move to the archive or quarantine, the delete),
    /// finish that now. `Ok(true)` if the file has a row (so it is not to be taken again).
    pub fn finish_pending(&self, source: &str, path: &Path, trigger: Option<&Path>) -> Result<bool, PipelineError> {
        let shown = path.display().to_string();
        let store = |source| PipelineError::Store { path: shown.clone(), source };
        let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(false) };
        let row = write::row_of_file(&self.conn, source, &shown, meta.len(), mtime_of(&meta)).map_err(store)?;
        let Some(row) = row else { return Ok(false) };
        let Some((action, report)) = self.pending(&row, false).map_err(store)? else { return Ok(true) };
        if !same_bytes(path, &row.sha256) {
            // Another file under the same name, size and mtime: left alone, as it was before.
            return Ok(true);
        }
        tracing::info!(file_id = row.id, source, file = %safe_name(&file_name(path)), disposition = %action.disposition(),
            "finishing the move (or delete) left undone after the file's commit");
        carry_out(path, trigger, &action, report.as_deref()).map_err(|source| PipelineError::Effect {
            path: shown.clone(),
            to: action.disposition(),
            source,
        })?;
        Ok(true)
    }

    /// What is still to be done for a committed ledger row whose file is still where it was found,
    /// and the quarantine report to write if that is missing too. `copy`: the file was replayed
    /// (its quarantine is a copy; the original stays).
    fn pending(
        &self,
        row: &write::LedgerRow,
        copy: bool,
    ) -> Result<Option<(Action, Option<String>)>, ingest_store::Error> {
        let to = match row.disposition.as_deref() {
            None | Some(KEPT | REPLAYED_IN_PLACE) => return Ok(None),
            // Its archived copy was deleted by retention; the file found again is left alone.
            Some(d) if d.starts_with(write::EXPIRED) => return Ok(None),
            Some(DELETED) => return Ok(Some((Action::Delete, None))),
            Some(to) => PathBuf::from(to),
        };
        if present(&to) {
            // `carry_out` writes the report first and puts the file in place atomically, so all
            // that can be left is removing the original after a move across filesystems.
            return Ok((!copy).then_some((Action::Delete, None)));
        }
        let report = if row.status == write::FileStatus::Quarantined.as_str() && !report_path(&to).exists() {
            let rejects = write::rejects_of(&self.conn, row.id)?;
            // The first bytes of a file that is not an export are not in the ledger; the file is.
            let head = (row.kind == FileKind::Unknown.as_str())
                .then(|| first_bytes(Path::new(&row.path)).map(|b| ingest_parse::describe_head(&b)).ok())
                .flatten();
            Some(error_report(&Report { head: head.as_deref(), ..Report::of_row(row, &rejects) }))
        } else {
            None
        };
        Ok(Some((if copy { Action::Copy(to) } else { Action::Move(to) }, report)))
    }

    /// A [`Preparer`] with this pipeline's options and clock, for another thread.
    pub fn preparer(&self) -> Preparer {
        Preparer { options: self.options.clone(), clock: Arc::clone(&self.clock) }
    }

    /// Read, parse and write one file; the file system is not touched (see [`Effect`]).
    fn take(
        &mut self,
        intake: &Intake<'_>,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(Outcome, Option<Effect>), PipelineError> {
        let prepared = prepare(intake.source, intake.path, &self.options, self.clock.as_ref())?;
        self.take_prepared(intake, prepared, cancelled)
    }

    /// The second half of [`Pipeline::process`], for a file already read and parsed by a
    /// [`Preparer`] (a replay prepares the next file while this one is written).
    pub fn process_prepared(
        &mut self,
        intake: &Intake<'_>,
        prepared: Prepared,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Outcome, PipelineError> {
        let (outcome, effect) = self.take_prepared(intake, prepared, cancelled)?;
        if let Some(effect) = effect {
            self.apply(intake, effect)?;
        }
        Ok(outcome)
    }

    /// Ledger, (PDF text), one transaction: everything of a file that needs the snapshot.
    fn take_prepared(
        &mut self,
        intake: &Intake<'_>,
        prepared: Prepared,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(Outcome, Option<Effect>), PipelineError> {
        let shown = intake.path.display().to_string();
        let store = |source| PipelineError::Store { path: shown.clone(), source };
        let Prepared { received_at, size, mtime, sha256, name, content } = prepared;
        // A PDF that its source's documents manifest lists takes the manifest's export time
        // unless its own name has one.
        let (parsed, listed, kind, exported_at) = match content {
            Content::Parsed { parsed, kind, exported_at } => (Some(parsed), None, kind, exported_at),
            Content::Pdf { exported_at } => {
                let listed = write::manifest_entry(&self.conn, intake.source, &name).map_err(store)?;
                let exported_at = exported_at
                    .or_else(|| listed.as_ref().map(|(_, exported_at)| (*exported_at, "documents manifest")));
                (None, listed, FileKind::Pdf, exported_at)
            }
        };
        let (exported_at, exported_at_origin) = exported_at.unwrap_or((mtime, "mtime"));
        let note = match &parsed {
            Some(Ok((_, file))) => file.export_time_note.as_deref(),
            _ => None,
        };
        let export_time_warning = ingest_core::schedule::doubtful_export_time(
            exported_at,
            exported_at_origin,
            self.clock.now(),
            &self.options.zone,
            note,
        );
        if let Some(warning) = &export_time_warning {
            tracing::warn!(source = intake.source, file = %safe_name(&name), warning = %warning, "doubtful export time");
        }
        let mut meta = FileMeta {
            source: intake.source.to_string(),
            path: shown.clone(),
            size,
            mtime,
            sha256,
            kind: kind.as_str(),
            exported_at,
            exported_at_origin,
            received_at,
            disposition: None,
            export_time_warning,
        };

        if let Some(of) = write::find_ingested(&self.conn, &meta.sha256).map_err(store)? {
            let action = self.destination(intake, false);
            meta.disposition = Some(action.disposition());
            let file_id = write::record_duplicate(&self.conn, &meta, of, self.clock.now()).map_err(store)?;
            tracing::info!(file_id, of, source = intake.source, file = %safe_name(&file_name(intake.path)), "duplicate of an ingested file");
            return Ok((Outcome::Duplicate { file_id, of }, Some(Effect { file_id, action, report: None })));
        }

        let parsed = match parsed {
            Some(parsed) => parsed,
            None => {
                let listed = listed.map(|(entry, _)| entry);
                if listed.is_none() && self.waits_for_manifest(intake, &name, mtime) {
                    tracing::info!(source = intake.source, file = %safe_name(&name),
                        "PDF not identified yet: waiting for a documents manifest that lists it");
                    return Ok((Outcome::Deferred, None));
                }
                self.parse_pdf(intake.path, &name, &meta.sha256, listed.as_ref())?
            }
        };
        let file = match parsed {
            Ok((_, file)) => file,
            Err(error) => return self.quarantine(intake, meta, kind, &error),
        };
        let action = self.destination(intake, false);
        meta.disposition = Some(action.disposition());
        match write::write_file(&mut self.conn, &meta, &file, self.clock.now(), cancelled) {
            Ok(written) => {
                tracing::info!(
                    file_id = written.file_id,
                    source = intake.source,
                    file = %safe_name(&file_name(intake.path)),
                    exported_at = %rfc3339(meta.exported_at),
                    messages = written.messages,
                    records = written.records,
                    rejects = written.rejects,
                    "ingested"
                );
                for r in &file.rejects {
                    tracing::warn!(
                        file_id = written.file_id,
                        message = r.index,
                        line = r.line,
                        control_id = r.control_id.as_deref().unwrap_or("-"),
                        segment = r.segment.as_deref().unwrap_or("-"),
                        reason = %r.reason,
                        "message rejected"
                    );
                }
                let file_id = written.file_id;
                Ok((Outcome::Ingested(written), Some(Effect { file_id, action, report: None })))
            }
            Err(WriteError::Cancelled) => {
                tracing::info!(source = intake.source, file = %safe_name(&file_name(intake.path)), "shutdown mid-file: rolled back, left in place");
                Ok((Outcome::Cancelled, None))
            }
            Err(WriteError::Sqlite(source)) => Err(store(source)),
        }
    }

    /// Whether a dropped PDF that its name does not identify (and no manifest lists) should wait
    /// for its manifest: only in a watched folder, and only until `pdf.manifest_wait` after its mtime.
    fn waits_for_manifest(&self, intake: &Intake<'_>, name: &str, mtime: DateTime<Utc>) -> bool {
        let options = &self.options;
        let young = (self.clock.now() - mtime).to_std().map_or(true, |age| age < options.pdf.manifest_wait);
        matches!(intake.handling, Handling::Live(_))
            && young
            && ingest_parse::pdf::identify(name, &options.pdf.mappings, options.zone).is_err()
    }

    /// Extract a PDF's text in a child process (unless nothing identifies it), then parse.
    fn parse_pdf(
        &self,
        path: &Path,
        name: &str,
        sha256: &str,
        listed: Option<&ManifestEntry>,
    ) -> Result<Result<(FileKind, ParsedFile), FileError>, PipelineError> {
        let options = &self.options;
        let identified =
            listed.is_some() || ingest_parse::pdf::identify(name, &options.pdf.mappings, options.zone).is_ok();
        let extraction = if identified {
            crate::pdf::extract(path, options.pdf.timeout)
        } else {
            // parse_pdf reports the name; nothing is extracted from a file that will be quarantined.
            Err(ingest_parse::pdf::ExtractFailure::Unreadable("not extracted".into()))
        };
        match &extraction {
            Err(ingest_parse::pdf::ExtractFailure::Unavailable(reason)) => {
                return Err(PipelineError::Io {
                    path: path.display().to_string(),
                    source: std::io::Error::other(reason.clone()),
                });
            }
            Err(failure) if identified => {
                tracing::warn!(file = %safe_name(name), reason = %failure,
                    "PDF text not extracted: the document is kept with text_status \"failed\"");
            }
            _ => {}
        }
        Ok(ingest_parse::parse_pdf(name, sha256, listed, extraction, options))
    }

    /// Record a file that cannot be ingested; it is moved (or, replayed, copied) to quarantine by
    /// the [`Effect`]. A replay of a file quarantined before from the same path (a replay run
    /// again after a crash) takes the earlier row and finishes its copy if that is missing.
    fn quarantine(
        &mut self,
        intake: &Intake<'_>,
        mut meta: FileMeta,
        kind: FileKind,
        error: &FileError,
    ) -> Result<(Outcome, Option<Effect>), PipelineError> {
        let store = |source| PipelineError::Store { path: intake.path.display().to_string(), source };
        let rejects = match error {
            FileError::NothingUsable { rejects } => rejects.clone(),
            _ => Vec::new(),
        };
        let message = error.to_string();
        if intake.handling == Handling::Replay
            && let Some(row) =
                write::quarantined_before(&self.conn, intake.source, &meta.path, &meta.sha256).map_err(store)?
        {
            tracing::info!(file_id = row.id, source = intake.source, file = %safe_name(&file_name(intake.path)),
                "quarantined before from this path; not recorded again");
            let effect = self.pending(&row, true).map_err(store)?;
            let effect = effect.map(|(action, report)| Effect { file_id: row.id, action, report });
            return Ok((Outcome::Quarantined { file_id: row.id, error: message, rejects }, effect));
        }
        let action = self.destination(intake, true);
        meta.disposition = Some(action.disposition());
        let file_id =
            write::record_quarantined(&mut self.conn, &meta, &message, &rejects, self.clock.now()).map_err(store)?;
        tracing::warn!(file_id, source = intake.source, file = %safe_name(&file_name(intake.path)), error = %message, "quarantined");
        let head = match error {
            FileError::Unrecognised { head } => Some(head.as_str()),
            _ => None,
        };
        let report = error_report(&Report::of_file(&meta, kind, &message, head, &rejects, file_id));
        let effect = Effect { file_id, action, report: Some(report) };
        Ok((Outcome::Quarantined { file_id, error: message, rejects }, Some(effect)))
    }

    /// Where a file goes once it is in (`quarantined`: once it is known it cannot be).
    fn destination(&self, intake: &Intake<'_>, quarantined: bool) -> Action {
        let name = file_name(intake.path);
        let quarantine = || fsutil::free_name(&self.quarantine_dir.join(intake.source), &name);
        match (intake.handling, quarantined) {
            (Handling::Replay, false) => Action::Stay(REPLAYED_IN_PLACE),
            (Handling::Replay, true) => Action::Copy(quarantine()),
            (Handling::Live(_), true) => Action::Move(quarantine()),
            (Handling::Live(AfterIngest::Keep), false) => Action::Stay(KEPT),
            (Handling::Live(AfterIngest::Delete), false) => Action::Delete,
            (Handling::Live(AfterIngest::Archive), false) => {
                let day = self.clock.now().format("%Y/%m/%d").to_string();
                Action::Move(fsutil::free_name(&self.archive_dir.join(intake.source).join(day), &name))
            }
        }
    }
}

/// Put a committed file where its ledger row says: the quarantine report first (beside where the
/// file goes), then the trigger file removed, then the file moved, copied or deleted (a kept file
/// keeps its trigger). Every step can be done again, so a crash anywhere is finished by
/// [`Pipeline::finish_pending`].
fn carry_out(from: &Path, trigger: Option<&Path>, action: &Action, report: Option<&str>) -> std::io::Result<()> {
    if let (Some(report), Action::Move(to) | Action::Copy(to)) = (report, action) {
        if let Some(dir) = to.parent() {
            fsutil::create_private_dir(dir)?;
        }
        fsutil::write_private(&report_path(to), report.as_bytes())?;
        faults::point("quarantine report written, file not in quarantine yet");
    }
    if let (Some(trigger), Action::Delete | Action::Move(_)) = (trigger, action) {
        remove_if_present(trigger)?;
        faults::point("trigger file removed, file not moved yet");
    }
    match action {
        Action::Stay(_) => {}
        Action::Delete => {
            remove_if_present(from)?;
            faults::point("file deleted");
        }
        Action::Move(to) => {
            fsutil::move_to(from, to)?;
            faults::point("file moved");
        }
        Action::Copy(to) => {
            fsutil::copy_to(from, to)?;
            faults::point("file copied");
        }
    }
    Ok(())
}

/// Whether the file at `path` has the bytes a ledger row recorded (a link: none, as it was recorded).
fn same_bytes(path: &Path, sha256: &str) -> bool {
    match open_regular(path) {
        Ok(Ok(file)) => sha256_of(file).is_ok_and(|sha| sha == sha256),
        Ok(Err(_)) => sha256 == hex(&Sha256::digest(b"")),
        Err(_) => false,
    }
}

/// Whether something (a file, or a link as itself) is at `path`.
fn present(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn first_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = open_regular(path)?.map_err(|what| std::io::Error::other(format!("{what}: not read")))?;
    let mut head = Vec::new();
    file.take(16).read_to_end(&mut head)?;
    Ok(head)
}

/// `NAME.error.txt` beside a quarantined file.
fn report_path(quarantined: &Path) -> PathBuf {
    let mut name = quarantined.as_os_str().to_owned();
    name.push(".error.txt");
    PathBuf::from(name)
}

/// The first half of a file's way through the pipeline, which needs no snapshot: read it, hash it,
/// and (unless it is a PDF, whose text is extracted only once it is known not to be a duplicate)
/// parse it. Pure but for reading the file, so it can run on another thread.
#[derive(Debug, Clone)]
pub struct Preparer {
    options: ParseOptions,
    clock: Arc<dyn Clock>,
}

/// A file read, hashed and parsed by a [`Preparer`], waiting for its transaction.
#[derive(Debug)]
pub struct Prepared {
    received_at: DateTime<Utc>,
    size: u64,
    mtime: DateTime<Utc>,
    sha256: String,
    name: String,
    content: Content,
}

#[derive(Debug)]
enum Content {
    /// HL7 or CSV (or something unrecognised): parsed. `kind` and `exported_at` are what the
    /// ledger records, also when the file could not be parsed.
    Parsed {
        parsed: Result<(FileKind, ParsedFile), FileError>,
        kind: FileKind,
        exported_at: Option<(DateTime<Utc>, &'static str)>,
    },
    /// A PDF: its export time if its name gives one; the rest needs the snapshot.
    Pdf { exported_at: Option<(DateTime<Utc>, &'static str)> },
}

impl Preparer {
    pub fn prepare(&self, source: &str, path: &Path) -> Result<Prepared, PipelineError> {
        prepare(source, path, &self.options, self.clock.as_ref())
    }
}

/// See [`Preparer`].
fn prepare(source: &str, path: &Path, options: &ParseOptions, clock: &dyn Clock) -> Result<Prepared, PipelineError> {
    let io = |source| PipelineError::Io { path: path.display().to_string(), source };
    let received_at = clock.now();
    let name = file_name(path);
    let bad_name = match path.file_name().map(|n| n.to_str()) {
        Some(None) => Some("is not valid UTF-8"),
        Some(Some(n)) if n.chars().any(char::is_control) => Some("holds control characters"),
        _ => None,
    };
    if let Some(what) = bad_name {
        let link = std::fs::symlink_metadata(path).map_err(io)?;
        return Ok(refused(received_at, name, mtime_of(&link), link.len(), FileError::BadName { what }));
    }
    // Never through a symbolic link (it could point anywhere), never more than the limit in memory.
    let file = match open_regular(path).map_err(io)? {
        Ok(file) => file,
        Err(what) => {
            // Recorded with the link's own size and mtime, as the daemon's rescans see it.
            let link = std::fs::symlink_metadata(path).map_err(io)?;
            return Ok(refused(received_at, name, mtime_of(&link), link.len(), FileError::NotAFile { what }));
        }
    };
    let metadata = file.metadata().map_err(io)?;
    let mtime = mtime_of(&metadata);
    if metadata.len() > options.max_file_bytes {
        let error = FileError::TooLarge { size: metadata.len(), limit: options.max_file_bytes };
        tracing::info!(source, file = %safe_name(&name), bytes = metadata.len(), "taking file");
        return Ok(Prepared {
            sha256: sha256_of(file).map_err(io)?,
            ..refused(received_at, name, mtime, metadata.len(), error)
        });
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(io)?;
    tracing::info!(source, file = %safe_name(&name), bytes = bytes.len(), "taking file");
    let sha256 = hex(&Sha256::digest(&bytes));
    let content = if ingest_parse::sniff(&bytes) == FileKind::Pdf {
        Content::Pdf { exported_at: ingest_parse::exported_at_hint(&name, &bytes, options) }
    } else {
        let mut parsed = ingest_parse::parse_named(&name, &bytes, options);
        if let (Ok((_, file)), Some(locations)) = (&mut parsed, options.locations.get(source)) {
            ingest_parse::keep_to_locations(file, locations);
        }
        let (kind, exported_at) = match &parsed {
            Ok((kind, file)) => (*kind, file.exported_at),
            Err(_) => (ingest_parse::sniff_named(&name, &bytes, options), None),
        };
        Content::Parsed { parsed, kind, exported_at }
    };
    Ok(Prepared { received_at, size: bytes.len() as u64, mtime, sha256, name, content })
}

/// Open `path` for reading if it is a regular file; `Ok(Err(what))` if it is something else
/// (a symbolic link is not followed: `O_NOFOLLOW`).
fn open_regular(path: &Path) -> std::io::Result<Result<std::fs::File, &'static str>> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let kind = std::fs::symlink_metadata(path)?.file_type();
    let what = if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
        return match std::fs::OpenOptions::new().read(true).custom_flags(nofollow).open(path) {
            Ok(file) => Ok(Ok(file)),
            // Replaced by a link between the look and the open.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => Ok(Err("a symbolic link")),
            Err(e) => Err(e),
        };
    };
    Ok(Err(what))
}

/// A file that is quarantined without being parsed.
fn refused(received_at: DateTime<Utc>, name: String, mtime: DateTime<Utc>, size: u64, error: FileError) -> Prepared {
    let content = Content::Parsed { parsed: Err(error), kind: FileKind::Unknown, exported_at: None };
    Prepared { received_at, size, mtime, sha256: hex(&Sha256::digest(b"")), name, content }
}

fn sha256_of(mut file: std::fs::File) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

/// A file name as logs show it: control characters escaped, so that a name cannot forge a log line.
pub fn safe_name(name: &str) -> String {
    if name.chars().any(char::is_control) {
        name.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
    } else {
        name.to_string()
    }
}

/// What `NAME.error.txt` says: which file, what is wrong, and where. No message content (PHI)
/// but for the first bytes of a file that is not a recognised export, when they are at hand.
#[derive(Debug)]
struct Report<'a> {
    path: &'a str,
    source: &'a str,
    file_id: i64,
    received_at: DateTime<Utc>,
    size: u64,
    sha256: &'a str,
    kind: &'a str,
    error: &'a str,
    head: Option<&'a str>,
    rejects: &'a [Reject],
}

impl<'a> Report<'a> {
    fn of_file(
        meta: &'a FileMeta,
        kind: FileKind,
        error: &'a str,
        head: Option<&'a str>,
        rejects: &'a [Reject],
        file_id: i64,
    ) -> Report<'a> {
        Report {
            path: &meta.path,
            source: &meta.source,
            file_id,
            received_at: meta.received_at,
            size: meta.size,
            sha256: &meta.sha256,
            kind: kind.as_str(),
            error,
            head,
            rejects,
        }
    }

    /// From the ledger alone, when the report is written again after a crash.
    fn of_row(row: &'a write::LedgerRow, rejects: &'a [Reject]) -> Report<'a> {
        Report {
            path: &row.path,
            source: &row.source,
            file_id: row.id,
            received_at: row.received_at,
            size: row.size,
            sha256: &row.sha256,
            kind: &row.kind,
            error: row.error.as_deref().unwrap_or(""),
            head: None,
            rejects,
        }
    }
}

fn error_report(report: &Report<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "file:        {}", report.path);
    let _ = writeln!(out, "source:      {}", report.source);
    let _ = writeln!(out, "ledger id:   {}", report.file_id);
    let _ = writeln!(out, "received at: {}", rfc3339(report.received_at));
    let _ = writeln!(out, "size:        {} bytes", report.size);
    let _ = writeln!(out, "sha256:      {}", report.sha256);
    let _ = writeln!(out, "kind:        {}", report.kind);
    let _ = writeln!(out, "error:       {}", report.error);
    if let Some(head) = report.head {
        let _ = writeln!(out, "first bytes: {head}");
    }
    for r in report.rejects {
        let _ = writeln!(
            out,
            "  message {} (line {}, control id {}, {}): {}",
            r.index,
            r.line,
            r.control_id.as_deref().unwrap_or("-"),
            r.segment.as_deref().unwrap_or("-"),
            r.reason
        );
    }
    out
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A file's modification time (the ledger's `received` when nothing better is known).
pub fn mtime_of(meta: &std::fs::Metadata) -> DateTime<Utc> {
    meta.modified().map(DateTime::<Utc>::from).unwrap_or_else(|_| Utc::now())
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
