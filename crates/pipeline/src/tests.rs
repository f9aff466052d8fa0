//! One file through the pipeline on a real snapshot in a temp dir: where it goes, what the ledger
//! says, and what a shutdown mid-file leaves.

use super::*;
use ingest_core::time::SystemClock;
use ingest_store::FileStatus;

/// A registration (A01) for `mrn` on ward 5 West, exported at 05:00 on 24 November.
fn admission(mrn: &str, control: &str) -> String {
    format!(
        "MSH|^~\\&|EHR|HOSP|INGEST|WARD|20261124050000||ADT^A01|{control}|P|2.5\r\
         EVN|A01|20261124050000\r\
         PID|1||{mrn}^^^HOSP^MR||Doe^Jane||19600101|F\r\
         PV1|1|I|5W^501^A\r"
    )
}

struct Bench {
    dir: tempfile::TempDir,
    pipeline: Pipeline,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = ingest_store::open_writer(&dir.path().join("snapshot.db")).expect("snapshot");
        let pipeline = Pipeline::new(
            writer,
            ParseOptions::default(),
            Arc::new(SystemClock),
            dir.path().join("archive"),
            dir.path().join("quarantine"),
        );
        std::fs::create_dir_all(dir.path().join("drop")).expect("drop folder");
        Bench { dir, pipeline }
    }

    fn drop_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join("drop").join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }

    fn process(&mut self, path: &Path, handling: Handling, cancelled: bool) -> Outcome {
        let intake = Intake { source: "ward", path, trigger: None, handling };
        self.pipeline.process(&intake, &|| cancelled).expect("process")
    }

    fn files_under(&self, dir: &str) -> Vec<PathBuf> {
        walkdir::WalkDir::new(self.dir.path().join(dir))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.into_path())
            .collect()
    }

    fn patients(&self) -> i64 {
        ingest_store::read::counts(self.pipeline.writer().view()).expect("counts").patients
    }
}

const ARCHIVE: Handling = Handling::Live(AfterIngest::Archive);

#[test]
fn a_dropped_file_goes_in_is_archived_and_the_same_bytes_again_are_a_duplicate() {
    let mut bench = Bench::new();
    let first = bench.drop_file("ADT_1.hl7", admission("M1", "C1").as_bytes());
    let Outcome::Ingested(written) = bench.process(&first, ARCHIVE, false) else { panic!("not ingested") };
    assert_eq!((written.status, written.messages, written.rejects), (FileStatus::Ingested, 1, 0));
    assert_eq!(bench.patients(), 1);
    assert!(!first.exists(), "the dropped file was not moved");
    let archived = bench.files_under("archive/ward");
    assert_eq!(archived.len(), 1, "{archived:?}");
    assert_eq!(std::fs::read_to_string(&archived[0]).expect("archived"), admission("M1", "C1"));

    let twin = bench.drop_file("ADT_1_again.hl7", admission("M1", "C1").as_bytes());
    match bench.process(&twin, ARCHIVE, false) {
        Outcome::Duplicate { of, .. } => assert_eq!(of, written.file_id),
        other => panic!("not a duplicate: {other:?}"),
    }
    assert_eq!(bench.patients(), 1);
}

#[test]
fn a_file_that_is_no_export_is_quarantined_with_its_report_and_the_next_one_goes_in() {
    let mut bench = Bench::new();
    let garbage = bench.drop_file("garbage.hl7", b"\x00\x01binary junk\xff\xfe");
    let Outcome::Quarantined { error, .. } = bench.process(&garbage, ARCHIVE, false) else { panic!("not quarantined") };
    assert!(error.contains("not a recognised export"), "{error}");
    let moved = bench.dir.path().join("quarantine/ward/garbage.hl7");
    assert!(moved.exists() && !garbage.exists());
    let report = std::fs::read_to_string(report_path(&moved)).expect("the report beside it");
    assert!(report.contains("garbage.hl7") && report.contains("not a recognised export"), "{report}");

    let good = bench.drop_file("ADT_2.hl7", admission("M2", "C2").as_bytes());
    assert!(matches!(bench.process(&good, ARCHIVE, false), Outcome::Ingested(_)));
    assert_eq!(bench.patients(), 1);
}

#[test]
fn a_replayed_file_stays_where_it_is_and_a_bad_one_is_copied_to_quarantine() {
    let mut bench = Bench::new();
    let good = bench.drop_file("ADT_1.hl7", admission("M1", "C1").as_bytes());
    assert!(matches!(bench.process(&good, Handling::Replay, false), Outcome::Ingested(_)));
    assert!(good.exists(), "a replay moved its input");
    assert!(bench.files_under("archive").is_empty());

    let garbage = bench.drop_file("garbage.hl7", b"not an export at all");
    assert!(matches!(bench.process(&garbage, Handling::Replay, false), Outcome::Quarantined { .. }));
    assert!(garbage.exists(), "a replay moved its input");
    assert!(bench.dir.path().join("quarantine/ward/garbage.hl7").exists(), "no copy in quarantine");
}

#[test]
fn a_shutdown_mid_file_leaves_nothing_in_and_the_file_where_it_was() {
    let mut bench = Bench::new();
    let path = bench.drop_file("ADT_1.hl7", admission("M1", "C1").as_bytes());
    assert_eq!(bench.process(&path, ARCHIVE, true), Outcome::Cancelled);
    assert_eq!(bench.patients(), 0);
    assert!(path.exists());
    assert!(bench.files_under("archive").is_empty());
    // The next start takes it whole.
    assert!(matches!(bench.process(&path, ARCHIVE, false), Outcome::Ingested(_)));
    assert_eq!(bench.patients(), 1);
}
