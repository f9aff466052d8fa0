//! `ingest generate`: a deterministic synthetic export (for benchmarks and load tests): for N
//! patients over D days, one 05:00 export a day in `DIR/YYYY-MM-DD/` with an ADT batch (admits,
//! updates, discharges that keep the census at N), an ORU batch (results with 10–30 OBX each), MDM
//! notes, RDE orders, a census and a labs CSV, and a few PDF notes. The same seed gives the same
//! bytes. Every person, value and note is invented.

pub mod ward;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    pub out: PathBuf,
    pub patients: usize,
    pub days: usize,
    /// Result messages per patient per day.
    pub results_per_patient: usize,
    pub seed: u64,
    /// Stop after the day that brings the total over this many bytes.
    pub max_bytes: Option<u64>,
}

/// What was written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    pub days: usize,
    pub files: usize,
    pub bytes: u64,
    pub hl7_messages: usize,
    pub obx: usize,
}

const FAMILY: [&str; 16] = [
    "ALDERMOOR",
    "BRACKENRIDGE",
    "COPPERFIELDE",
    "DRAYMOSS",
    "EVERSHAW",
    "FENWICKE",
    "GLASSWELL",
    "HOLLOWAYNE",
    "INGLEBROOK",
    "JUNIPERO",
    "KESTREVEN",
    "LOWENHART",
    "MARCHBANK",
    "NORTHWOLD",
    "OSTRAVEN",
    "PELLINGHAM",
];
const GIVEN: [&str; 12] =
    ["ADA", "BRAM", "CELIA", "DORIAN", "ELSPETH", "FINN", "GWEN", "HUGO", "IONA", "JASPER", "KAYA", "LEOPOLD"];
/// LOINC code, name, unit, low, high (reference range), decimals.
const TESTS: [(&str, &str, &str, f64, f64, u32); 30] = [
    ("2823-3", "Potassium", "mmol/L", 3.5, 5.1, 1),
    ("2951-2", "Sodium", "mmol/L", 136.0, 145.0, 0),
    ("2075-0", "Chloride", "mmol/L", 98.0, 107.0, 0),
    ("1963-8", "Bicarbonate", "mmol/L", 22.0, 29.0, 0),
    ("3094-0", "Urea nitrogen", "mg/dL", 7.0, 20.0, 0),
    ("2160-0", "Creatinine", "mg/dL", 0.6, 1.2, 2),
    ("2345-7", "Glucose", "mg/dL", 70.0, 99.0, 0),
    ("17861-6", "Calcium", "mg/dL", 8.6, 10.3, 1),
    ("19123-9", "Magnesium", "mg/dL", 1.7, 2.2, 1),
    ("2777-1", "Phosphate", "mg/dL", 2.5, 4.5, 1),
    ("6690-2", "WBC", "10*3/uL", 4.0, 11.0, 1),
    ("789-8", "RBC", "10*6/uL", 4.2, 5.9, 2),
    ("718-7", "Hemoglobin", "g/dL", 12.0, 17.5, 1),
    ("4544-3", "Hematocrit", "%", 36.0, 52.0, 1),
    ("787-2", "MCV", "fL", 80.0, 100.0, 0),
    ("777-3", "Platelets", "10*3/uL", 150.0, 400.0, 0),
    ("1742-6", "ALT", "U/L", 7.0, 56.0, 0),
    ("1920-8", "AST", "U/L", 10.0, 40.0, 0),
    ("6768-6", "Alkaline phosphatase", "U/L", 44.0, 147.0, 0),
    ("1975-2", "Bilirubin total", "mg/dL", 0.1, 1.2, 1),
    ("2885-2", "Protein total", "g/dL", 6.0, 8.3, 1),
    ("1751-7", "Albumin", "g/dL", 3.5, 5.0, 1),
    ("5902-2", "Prothrombin time", "s", 11.0, 13.5, 1),
    ("6301-6", "INR", "{INR}", 0.8, 1.1, 1),
    ("2532-0", "LDH", "U/L", 140.0, 280.0, 0),
    ("2276-4", "Ferritin", "ng/mL", 24.0, 336.0, 0),
    ("2498-4", "Iron", "ug/dL", 60.0, 170.0, 0),
    ("3016-3", "TSH", "mIU/L", 0.4, 4.0, 2),
    ("2093-3", "Cholesterol", "mg/dL", 125.0, 200.0, 0),
    ("1988-5", "C reactive protein", "mg/L", 0.0, 10.0, 1),
];
const DRUGS: [(&str, &str, &str, &str, &str); 6] = [
    ("Heparin 5000 unit injection", "5000", "unit", "SC", "Q8H"),
    ("Metoprolol tartrate 25 mg tablet", "25", "mg", "PO", "BID"),
    ("Furosemide 40 mg tablet", "40", "mg", "PO", "DAILY"),
    ("Ceftriaxone 1 g injection", "1", "g", "IV", "Q24H"),
    ("Pantoprazole 40 mg tablet", "40", "mg", "PO", "DAILY"),
    ("Acetaminophen 650 mg tablet", "650", "mg", "PO", "Q6H PRN"),
];

struct Person {
    mrn: String,
    family: &'static str,
    given: &'static str,
    birth: String,
    sex: char,
    bed: String,
}

struct Generator {
    rng: Pcg64,
    next_mrn: u64,
    next_order: u64,
    next_control: u64,
    written: Written,
}

impl Generator {
    fn person(&mut self, bed: usize) -> Person {
        self.next_mrn += 1;
        let year = self.rng.random_range(1930..2005);
        let month = self.rng.random_range(1..=12);
        let day = self.rng.random_range(1..=28);
        Person {
            mrn: format!("G{:07}", self.next_mrn),
            family: FAMILY[self.rng.random_range(0..FAMILY.len())],
            given: GIVEN[self.rng.random_range(0..GIVEN.len())],
            birth: format!("{year}{month:02}{day:02}"),
            sex: if self.rng.random_bool(0.5) { 'F' } else { 'M' },
            bed: format!("G{}^{}^{}", 1 + bed / 40, 100 + bed % 40, if bed.is_multiple_of(2) { 'A' } else { 'B' }),
        }
    }

    fn control(&mut self, prefix: &str) -> String {
        self.next_control += 1;
        format!("{prefix}{:09}", self.next_control)
    }

    fn msh(&mut self, ts: &str, kind: &str, prefix: &str) -> String {
        self.written.hl7_messages += 1;
        let control = self.control(prefix);
        format!("MSH|^~\\&|SYNTH|GENHOSP|INGEST|GENHOSP|{ts}-0600||{kind}|{control}|P|2.5.1\r")
    }

    fn pid(p: &Person) -> String {
        format!("PID|1||{}^^^GENHOSP^MR||{}^{}||{}|{}\r", p.mrn, p.family, p.given, p.birth, p.sex)
    }

    fn adt(&mut self, event: &str, ts: &str, p: &Person) -> String {
        let mut m = self.msh(ts, &format!("ADT^{event}"), "ADT");
        let _ = write!(m, "EVN|{event}|{ts}\r{}", Generator::pid(p));
        let discharge = if event == "A03" { ts } else { "" };
        let _ = write!(
            m,
            "PV1|1|I|{}|||||D{}^Attending^Synth||MED||||||||||V{}||||||||||||||||||||||||{ts}|{discharge}\r",
            p.bed,
            100 + self.rng.random_range(0..20),
            p.mrn
        );
        m
    }

    fn oru(&mut self, ts: &str, drawn: &str, p: &Person) -> String {
        self.next_order += 1;
        let order = format!("F{:09}", self.next_order);
        let mut m = self.msh(ts, "ORU^R01", "LAB");
        let _ = write!(m, "{}OBR|1||{order}^LAB|PANEL^Synthetic panel^L|||{drawn}\r", Generator::pid(p));
        let count = self.rng.random_range(10..=30);
        let first = self.rng.random_range(0..TESTS.len());
        for i in 0..count {
            let (code, name, unit, low, high, decimals) = TESTS[(first + i) % TESTS.len()];
            let value = low + (high - low) * self.rng.random_range(-0.3..1.3);
            let flag = if value < low {
                "L"
            } else if value > high {
                "H"
            } else {
                "N"
            };
            let shown = format!("{value:.prec$}", prec = decimals as usize);
            let _ = write!(m, "OBX|{}|NM|{code}^{name}^LN||{shown}|{unit}|{low}-{high}|{flag}|||F|||{drawn}\r", i + 1);
            self.written.obx += 1;
        }
        m
    }

    fn mdm(&mut self, ts: &str, p: &Person) -> String {
        let mut m = self.msh(ts, "MDM^T02", "MDM");
        let doc = self.control("DOC");
        let _ = write!(m, "EVN|T02|{ts}\r{}PV1|1|I|{}\r", Generator::pid(p), p.bed);
        let _ = write!(m, "TXA|1|PN^Progress Note|TX|{ts}|D100^Synth^Writer||||||{doc}||||||AU\r");
        let lines = [
            "Subjective: slept well, no new complaints.",
            "Objective: afebrile, vitals stable, lungs clear.",
            "Assessment: improving on current therapy.",
            "Plan: continue current orders, recheck labs in the morning.",
        ];
        for (i, line) in lines.iter().enumerate() {
            let _ = write!(m, "OBX|{}|TX|NOTE^Note||{line}||||||F\r", i + 1);
        }
        m
    }

    fn rde(&mut self, ts: &str, p: &Person) -> String {
        self.next_order += 1;
        let (name, dose, unit, route, freq) = DRUGS[self.rng.random_range(0..DRUGS.len())];
        let mut m = self.msh(ts, "RDE^O11", "RX");
        let _ = write!(
            m,
            "{}ORC|NW|P{:09}^SYNTH|RX{:09}^PHARM||SC||||{ts}\rRXE|^{freq}^^{ts}|^{name}^L|{dose}||{unit}\rRXR|{route}\r",
            Generator::pid(p),
            self.next_order,
            self.next_order
        );
        m
    }
}

fn write_file(path: &Path, bytes: &[u8], written: &mut Written) -> std::io::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    file.write_all(bytes)?;
    file.flush()?;
    written.files += 1;
    written.bytes += bytes.len() as u64;
    Ok(())
}

/// A one-page PDF with a few lines of text, like the sample notes.
fn pdf(lines: &[String]) -> Vec<u8> {
    let mut content = String::from("BT /F1 11 Tf 72 720 Td 14 TL\n");
    for line in lines {
        let _ = writeln!(content, "({line}) Tj T*");
    }
    content.push_str("ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_string(),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        let _ = write!(out, "{} 0 obj\n{object}\nendobj\n", i + 1);
    }
    let xref = out.len();
    let _ = write!(out, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(out, "{offset:010} 00000 n ");
    }
    let _ = write!(out, "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1);
    out.into_bytes()
}

/// Write the export; returns what was written.
pub fn generate(spec: &Spec) -> std::io::Result<Written> {
    let mut g = Generator {
        rng: Pcg64::seed_from_u64(spec.seed),
        next_mrn: 0,
        next_order: 0,
        next_control: 0,
        written: Written::default(),
    };
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    let mut panel: Vec<Person> = (0..spec.patients).map(|bed| g.person(bed)).collect();
    for day in 0..spec.days {
        let date = start + Duration::days(day as i64);
        let at = |h: u32, m: u32| -> String {
            NaiveDateTime::new(date, chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default())
                .format("%Y%m%d%H%M%S")
                .to_string()
        };
        let export = at(5, 0);
        let dir = spec.out.join(date.format("%Y-%m-%d").to_string());
        std::fs::create_dir_all(&dir)?;

        // ADT: on the first day everyone is admitted; later, 10% leave and as many come.
        let mut adt = format!("FHS|^~\\&|SYNTH|GENHOSP|||{export}-0600\rBHS|^~\\&|SYNTH|GENHOSP|||{export}-0600\r");
        let mut count = 0;
        if day == 0 {
            for p in &panel {
                adt.push_str(&g.adt("A01", &at(1, 0), p));
                count += 1;
            }
        } else {
            for (bed, person) in panel.iter_mut().enumerate() {
                if g.rng.random_bool(0.1) {
                    let leaving = std::mem::replace(person, g.person(bed));
                    adt.push_str(&g.adt("A03", &at(2, 0), &leaving));
                    adt.push_str(&g.adt("A01", &at(3, 0), person));
                    count += 2;
                } else if g.rng.random_bool(0.05) {
                    adt.push_str(&g.adt("A08", &at(3, 30), person));
                    count += 1;
                }
            }
        }
        let _ = write!(adt, "BTS|{count}\rFTS|1\r");
        write_file(&dir.join(format!("ADT_{export}.hl7")), adt.as_bytes(), &mut g.written)?;

        let mut oru = String::new();
        let mut mdm = String::new();
        let mut rde = String::new();
        for p in &panel {
            for r in 0..spec.results_per_patient {
                oru.push_str(&g.oru(&export, &at(3, (r * 7 % 60) as u32), p));
            }
            if g.rng.random_bool(0.2) {
                mdm.push_str(&g.mdm(&at(4, 0), p));
            }
            if g.rng.random_bool(0.3) {
                rde.push_str(&g.rde(&at(4, 30), p));
            }
        }
        for (kind, text) in [("ORU", oru), ("MDM", mdm), ("RDE", rde)] {
            if !text.is_empty() {
                write_file(&dir.join(format!("{kind}_{export}.hl7")), text.as_bytes(), &mut g.written)?;
            }
        }

        let stamp = date.format("%Y%m%d").to_string();
        let mut census = String::from("MRN,Last Name,First Name,Location\r\n");
        for p in &panel {
            let _ = write!(census, "{},{},{},{}\r\n", p.mrn, p.family, p.given, p.bed.replace('^', "-"));
        }
        write_file(&dir.join(format!("census_{stamp}_0500.csv")), census.as_bytes(), &mut g.written)?;
        let mut labs = String::from("MRN,Order ID,Test Code,Test Name,Result,Units,Collected\r\n");
        for p in panel.iter().take(panel.len() / 10) {
            g.next_order += 1;
            let _ = write!(
                labs,
                "{},C{:09},2345-7,Glucose,{},mg/dL,{}\r\n",
                p.mrn,
                g.next_order,
                g.rng.random_range(70..180),
                date
            );
        }
        write_file(&dir.join(format!("labs_{stamp}_0500.csv")), labs.as_bytes(), &mut g.written)?;
        for p in panel.iter().take(panel.len().div_ceil(50)) {
            let lines = vec![
                format!("Progress note for {} {}, {}", p.given, p.family, date),
                "Stable overnight. Continue the current plan.".to_string(),
            ];
            let name = format!("NOTE_{}_PN_{}0450.pdf", p.mrn, stamp);
            write_file(&dir.join(name), &pdf(&lines), &mut g.written)?;
        }
        g.written.days += 1;
        if spec.max_bytes.is_some_and(|max| g.written.bytes >= max) {
            break;
        }
    }
    Ok(g.written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_writes_the_same_bytes_and_every_file_parses() {
        let run = |seed| {
            let dir = tempfile::tempdir().expect("tempdir");
            let spec =
                Spec { out: dir.path().into(), patients: 12, days: 2, results_per_patient: 2, seed, max_bytes: None };
            let written = generate(&spec).expect("generate");
            let mut files: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(dir.path())
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("read")))
                .collect();
            files.sort();
            (written, files)
        };
        let (written, files) = run(7);
        assert_eq!(run(7), (written.clone(), files.clone()));
        assert_ne!(run(8).1, files);
        assert_eq!(written.days, 2);
        assert!(written.files >= 2 * 5 + 2, "{written:?}");
        let options = ingest_parse::ParseOptions::default();
        for (name, bytes) in files.iter().filter(|(n, _)| !n.ends_with(".pdf")) {
            match ingest_parse::parse_named(name, bytes, &options) {
                Ok((_, parsed)) => assert!(parsed.rejects.is_empty(), "{name}: {:?}", parsed.rejects),
                Err(e) => panic!("{name}: {e}"),
            }
        }
    }
}
