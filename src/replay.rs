//! `ingest --replay PATH…`: load archived exports (backfill) in `exported_at` order through the same
//! pipeline as the daemon, with progress, a summary and an exit status that says what happened.

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ingest_config::{Config, SourceConfig};
use ingest_core::time::rfc3339;
use ingest_pipeline::{Handling, Intake, Outcome, Pipeline};
use ingest_store::{self, read};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How much of each file is read to find its export time before the replay is ordered.
const HEADER_PREFIX: usize = 64 * 1024;

/// How many prepared (read and parsed) files may wait for the writer.
const PREPARED_AHEAD: usize = 1;

/// The result of a replay, for the summary and the exit status.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub files_found: usize,
    pub ingested: usize,
    pub ingested_with_rejects: usize,
    pub duplicate: usize,
    pub quarantined: usize,
    pub failed: usize,
    pub records: usize,
    pub rejects: usize,
    /// Fields left empty in messages that went in (not an error: their records are in).
    pub field_warnings: usize,
    /// Messages of types the snapshot does not use (not an error).
    pub not_used: usize,
    /// PDFs kept without text because their text could not be extracted.
    pub text_failed: usize,
    pub interrupted: bool,
    pub seconds: f64,
    /// One line per file that needs a look (quarantined, rejects, failures).
    pub problems: Vec<String>,
}

impl Summary {
    /// The exit code: 0 all went in; 3 something quarantined or rejected (or a PDF kept without its
    /// text); 1 any other failure.
    pub fn exit_code(&self) -> u8 {
        if self.failed > 0 || self.interrupted {
            1
        } else if self.quarantined > 0 || self.rejects > 0 || self.text_failed > 0 {
            3
        } else {
            0
        }
    }

    /// Count one file's outcome; false when the replay must stop (shutdown mid-file).
    fn count(&mut self, path: &Path, outcome: Result<Outcome, ingest_pipeline::PipelineError>) -> bool {
        let shown = path.display();
        match outcome {
            Ok(Outcome::Ingested(w)) => {
                self.records += w.records;
                self.rejects += w.rejects;
                self.field_warnings += w.warnings;
                self.not_used += w.not_used;
                self.text_failed += w.text_failed;
                if w.warnings > 0 {
                    self.problems.push(format!(
                        "{shown}: {} field(s) left empty, their records kept (see `ingest status`)",
                        w.warnings
                    ));
                }
                if w.text_failed > 0 {
                    self.problems.push(format!("{shown}: PDF text not extracted; kept with text_status \"failed\""));
                }
                if w.rejects == 0 {
                    self.ingested += 1;
                } else {
                    self.ingested_with_rejects += 1;
                    self.problems.push(format!("{shown}: {} message(s) rejected (see `ingest status`)", w.rejects));
                }
            }
            Ok(Outcome::Duplicate { .. }) => self.duplicate += 1,
            Ok(Outcome::Quarantined { error, .. }) => {
                self.quarantined += 1;
                self.problems.push(format!("{shown}: quarantined: {error}"));
            }
            Ok(Outcome::Cancelled) => {
                self.interrupted = true;
                return false;
            }
            // Only a watched folder defers a PDF; a replay quarantines what nothing identifies.
            Ok(Outcome::Deferred) => {
                self.failed += 1;
                self.problems.push(format!("{shown}: not identified, left as it was"));
            }
            Err(e) => {
                self.failed += 1;
                self.problems.push(format!("failed: {e}"));
                tracing::error!(error = %e, "file failed; left as it was");
            }
        }
        true
    }
}

/// A file to replay with its export time.
#[derive(Debug)]
struct Planned {
    path: PathBuf,
    exported_at: DateTime<Utc>,
    /// A documents manifest: replayed before everything else, so that the PDFs it lists are
    /// identified whatever their own times.
    manifest: bool,
}

/// Replay `paths` (files or directories, walked recursively) into the configured snapshot under
/// source `source` (default: the only configured source, else `replay`).
pub fn run(
    config: &Config,
    paths: &[PathBuf],
    source: Option<&str>,
    cancel: &CancellationToken,
    clock: std::sync::Arc<dyn ingest_core::time::Clock>,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let source_name = match source {
        Some(name) => name.to_string(),
        None if config.sources.len() == 1 => config.sources[0].name.clone(),
        None => "replay".to_string(),
    };
    let filter = config.source(&source_name).or(config.sources.first());
    let options = config.parse_options();
    let files = plan(paths, filter, &options)?;
    let conn = ingest_store::open_writer(&config.snapshot)?;
    let mut pipeline = Pipeline::new(conn, options, clock, config.archive_dir(), config.quarantine_dir());

    let progress = Progress::new(files.len() as u64);
    let mut summary = Summary { files_found: files.len(), ..Summary::default() };
    // Two stages on two threads: this one writes file N while the preparer reads, hashes and
    // parses file N+1 (parsing is a third to a half of a replay's work). The channel holds at
    // most PREPARED_AHEAD files, so memory stays a few files' worth whatever the export's size.
    let preparer = pipeline.preparer();
    std::thread::scope(|scope| {
        let (send, prepared) = std::sync::mpsc::sync_channel(PREPARED_AHEAD);
        let (files, source_name) = (&files, source_name.as_str());
        scope.spawn(move || {
            for planned in files {
                if cancel.is_cancelled() || send.send(preparer.prepare(source_name, &planned.path)).is_err() {
                    break;
                }
            }
        });
        for (planned, prepared) in files.iter().zip(prepared) {
            if cancel.is_cancelled() {
                summary.interrupted = true;
                break;
            }
            let intake = Intake { source: source_name, path: &planned.path, trigger: None, handling: Handling::Replay };
            let outcome = prepared.and_then(|p| pipeline.process_prepared(&intake, p, &|| cancel.is_cancelled()));
            if !summary.count(&planned.path, outcome) {
                break;
            }
            progress.advance(planned, &summary);
        }
        // Dropping the receiver here stops the preparer at its next file.
    });
    // The preparer stopped early: shutdown came between two files.
    let counted =
        summary.ingested + summary.ingested_with_rejects + summary.duplicate + summary.quarantined + summary.failed;
    summary.interrupted |= counted < files.len();
    progress.finish();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Print the summary for a person: what went in, where the snapshot is, what needs a look.
pub fn print_summary(config: &Config, summary: &Summary) -> anyhow::Result<()> {
    let reader = ingest_store::open_reader(&config.snapshot)?;
    let counts = read::counts(reader.view())?;
    println!("snapshot: {}", config.snapshot.display());
    println!(
        "files: {} found · {} ingested · {} with rejects · {} duplicate · {} quarantined{}",
        summary.files_found,
        summary.ingested,
        summary.ingested_with_rejects,
        summary.duplicate,
        summary.quarantined,
        if summary.failed > 0 { format!(" · {} failed", summary.failed) } else { String::new() },
    );
    println!(
        "records written: {} · messages rejected: {}{} · {:.2} s",
        summary.records,
        summary.rejects,
        match summary.field_warnings {
            0 => String::new(),
            n => format!(" · fields left empty: {n}"),
        } + &match summary.not_used {
            0 => String::new(),
            n => format!(" · messages not used (types the snapshot does not read, or CSV rows skip_rows skips): {n}"),
        },
        summary.seconds
    );
    println!(
        "snapshot now holds: {} patients ({} on the panel) · {} results ({} abnormal)",
        counts.patients, counts.on_panel, counts.observations, counts.abnormal_observations
    );
    println!(
        "  and {} medication orders · {} problems · {} allergies · {} documents",
        counts.medications, counts.problems, counts.allergies, counts.documents
    );
    for line in &summary.problems {
        println!("  ! {line}");
    }
    if config.zone == ingest_core::time::Zone::Host {
        println!(
            "note: time_zone is not set: times without a UTC offset (CSV file names and columns, HL7 times without \
             one) were read in this host's zone; set time_zone if the EHR writes another zone's local time"
        );
    }
    if summary.interrupted {
        println!("interrupted: the file in hand was rolled back; run the same replay again to finish");
    }
    Ok(())
}

/// Every file under `paths` that the source would take, ordered by export time (then path).
fn plan(
    paths: &[PathBuf],
    filter: Option<&SourceConfig>,
    options: &ingest_parse::ParseOptions,
) -> anyhow::Result<Vec<Planned>> {
    let mut files = Vec::new();
    for root in paths {
        if !root.exists() {
            anyhow::bail!("{}: no such file or directory", root.display());
        }
        for entry in walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name() {
            let entry = entry?;
            if !entry.file_type().is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy();
            let wanted = entry.depth() == 0 || filter.is_none_or(|s| s.wants(&name));
            if wanted {
                files.push(entry.into_path());
            }
        }
    }
    let mut planned = Vec::with_capacity(files.len());
    for path in files {
        let (exported_at, manifest) = header_time(&path, options)?;
        planned.push(Planned { path, exported_at, manifest });
    }
    planned.sort_by(|a, b| {
        b.manifest.cmp(&a.manifest).then(a.exported_at.cmp(&b.exported_at)).then_with(|| a.path.cmp(&b.path))
    });
    Ok(planned)
}

/// A file's export time (from its header, else its mtime), and whether it is a documents manifest.
fn header_time(path: &Path, options: &ingest_parse::ParseOptions) -> anyhow::Result<(DateTime<Utc>, bool)> {
    let file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let meta = file.metadata()?;
    let mut prefix = Vec::with_capacity(HEADER_PREFIX);
    file.take(HEADER_PREFIX as u64).read_to_end(&mut prefix)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let manifest =
        ingest_parse::csv_kind(&name, &prefix, options) == Some(ingest_parse::csv::CsvKind::DocumentsManifest);
    let exported_at = ingest_parse::exported_at_hint(&name, &prefix, options)
        .map(|(t, _)| t)
        .unwrap_or_else(|| ingest_pipeline::mtime_of(&meta));
    Ok((exported_at, manifest))
}

/// A progress bar on a terminal, a plain line every few seconds otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    done: std::cell::Cell<u64>,
    last_line: std::cell::Cell<Instant>,
}

const PLAIN_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    fn new(total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} files · {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Progress { bar, total, done: 0.into(), last_line: Instant::now().into() }
    }

    fn advance(&self, planned: &Planned, summary: &Summary) {
        self.done.set(self.done.get() + 1);
        let msg = format!("export {} · {} records", rfc3339(planned.exported_at), summary.records);
        match &self.bar {
            Some(bar) => {
                bar.set_message(msg);
                bar.inc(1);
            }
            None if self.last_line.get().elapsed() >= PLAIN_EVERY || self.done.get() == self.total => {
                self.last_line.set(Instant::now());
                tracing::info!(
                    done = self.done.get(),
                    total = self.total,
                    records = summary.records,
                    "replay progress"
                );
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_parse::ParseOptions;

    /// A minimal HL7 file whose header says it was exported at `stamp` (HL7 `YYYYMMDDHHMMSS`).
    fn exported_at(dir: &Path, name: &str, stamp: &str) -> PathBuf {
        let path = dir.join(name);
        let message =
            format!("MSH|^~\\&|EHR|HOSP|INGEST|WARD|{stamp}||ADT^A08|{name}|P|2.5\rPID|1||M1^^^HOSP^MR||Doe^Jane\r");
        std::fs::write(&path, message).expect("write");
        path
    }

    fn names(planned: &[Planned]) -> Vec<String> {
        planned.iter().map(|p| p.path.file_name().expect("name").to_string_lossy().into_owned()).collect()
    }

    fn options() -> ParseOptions {
        ParseOptions { zone: ingest_core::time::Zone::parse("UTC").expect("zone"), ..ParseOptions::default() }
    }

    #[test]
    fn files_are_replayed_in_export_order_from_their_headers_not_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        exported_at(dir.path(), "a_tuesday.hl7", "20261125050000");
        exported_at(dir.path(), "b_monday.hl7", "20261124050000");
        exported_at(dir.path(), "c_monday_too.hl7", "20261124050000");
        let planned = plan(&[dir.path().to_path_buf()], None, &options()).expect("plan");
        // Same export time: by path.
        assert_eq!(names(&planned), ["b_monday.hl7", "c_monday_too.hl7", "a_tuesday.hl7"]);
        assert_eq!(rfc3339(planned[2].exported_at), "2026-11-25T05:00:00Z");
    }

    #[test]
    fn a_folder_gives_what_its_source_takes_and_a_named_file_goes_whatever_its_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::from_toml(
            "[[source]]\nname = \"ward\"\npath = \"drop\"\ninclude = [\"*.hl7\"]\n",
            ingest_config::Origin::BuiltIn,
            dir.path(),
        )
        .expect("config");
        let source = config.source("ward");
        exported_at(dir.path(), "ADT.hl7", "20261124050000");
        let odd = exported_at(dir.path(), "ADT.export", "20261124040000");
        let planned = plan(&[dir.path().to_path_buf()], source, &options()).expect("plan");
        assert_eq!(names(&planned), ["ADT.hl7"], "the source does not take *.export");
        let planned = plan(&[odd], source, &options()).expect("plan");
        assert_eq!(names(&planned), ["ADT.export"], "a file named on the command line is replayed");
    }

    #[test]
    fn a_path_that_does_not_exist_is_an_error_naming_it() {
        let error = plan(&[PathBuf::from("/nonexistent/exports")], None, &options()).expect_err("missing");
        assert_eq!(error.to_string(), "/nonexistent/exports: no such file or directory");
    }

    #[test]
    fn the_exit_code_is_0_when_all_went_in_3_when_something_needs_a_look_1_on_failure() {
        let summary = |f: fn(&mut Summary)| {
            let mut s = Summary { files_found: 2, ingested: 2, ..Summary::default() };
            f(&mut s);
            s.exit_code()
        };
        assert_eq!(summary(|_| {}), 0);
        assert_eq!(summary(|s| s.field_warnings = 4), 0, "an empty optional field is not a failure");
        assert_eq!(summary(|s| s.not_used = 9), 0);
        assert_eq!(summary(|s| s.quarantined = 1), 3);
        assert_eq!(summary(|s| s.rejects = 1), 3);
        assert_eq!(summary(|s| s.text_failed = 1), 3);
        assert_eq!(summary(|s| (s.quarantined, s.failed) = (1, 1)), 1);
        assert_eq!(summary(|s| s.interrupted = true), 1);
    }
}
