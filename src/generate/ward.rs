//! `ingest generate --ward`: one ward as a resident sees it over a few mornings, for the
//! assistant's side (answer sizes, the overnight digest). 32 beds on unit `7E`, one 05:00 export a
//! day (ADT, ORU, MDM, RDE batches and a census CSV): every patient gets a chemistry panel and a
//! CBC (20 results) and a progress note each morning. Written in on purpose, so that tests can
//! check the digest finds them:
//!
//! - bed 3: creatinine rising 1.10 → 1.60 → 2.30 mg/dL (H), and furosemide's dose changed on day 2
//!   (40 mg stopped, 80 mg ordered);
//! - bed 5: hemoglobin falling 7.4 → 7.3 → 6.8 g/dL, the last one critical (LL);
//! - bed 7: potassium 5.3 → 5.9 → 6.4 mmol/L, the last one critical (HH); patiromer new and
//!   lisinopril stopped on the last day;
//! - bed 12: metoprolol held on day 2;
//! - from day 2 on, each morning one discharge (A03) and one admission (A01) into that bed;
//! - day 2: the patient of bed 10 transferred (A02) to `7W-701-A`;
//! - the last day: the patient of bed 20 is no longer on the census, with no ADT event.
//!
//! Everything else is seeded noise; every person and value is invented.

use super::{DRUGS, Generator, Person, TESTS, Written, write_file};
use chrono::{Duration, NaiveDate};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use std::fmt::Write as _;
use std::path::Path;

/// Beds on the ward.
pub const BEDS: usize = 32;

/// The chemistry panel and the CBC: indexes into [`TESTS`].
const PANEL: [usize; 20] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19];

/// A written-in value: (bed, LOINC code, value per day, flag per day).
type Scripted = (usize, &'static str, [&'static str; 3], [&'static str; 3]);
const SCRIPTED: [Scripted; 3] = [
    (3, "2160-0", ["1.10", "1.60", "2.30"], ["N", "H", "H"]),
    (5, "718-7", ["7.4", "7.3", "6.8"], ["L", "L", "LL"]),
    (7, "2823-3", ["5.3", "5.9", "6.4"], ["H", "H", "HH"]),
];

/// Write `days` mornings of the ward into `out/YYYY-MM-DD/`.
pub fn generate(out: &Path, days: usize, seed: u64) -> std::io::Result<Written> {
    let mut g = Generator {
        rng: Pcg64::seed_from_u64(seed),
        next_mrn: 800_000,
        next_order: 0,
        next_control: 0,
        written: Written::default(),
    };
    let start = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
    let mut beds: Vec<Person> = (0..BEDS).map(|bed| ward_person(&mut g, bed)).collect();
    // Per bed, the order id of its furosemide, lisinopril and metoprolol (for the scripted changes).
    let mut orders: Vec<Vec<(String, usize)>> = vec![Vec::new(); BEDS];
    for day in 0..days {
        let date = start + Duration::days(day as i64);
        let at = |d: NaiveDate, h: u32, m: u32| format!("{}{h:02}{m:02}00", d.format("%Y%m%d"));
        let (export, yesterday) = (at(date, 5, 0), date - Duration::days(1));
        let dir = out.join(date.format("%Y-%m-%d").to_string());
        std::fs::create_dir_all(&dir)?;

        let mut adt = String::new();
        let mut count = 0;
        if day == 0 {
            for p in &beds {
                adt.push_str(&g.adt("A01", &at(yesterday, 14, 0), p));
                count += 1;
            }
        } else {
            let bed = 20 + day % 8;
            let arriving = ward_person(&mut g, bed);
            let leaving = std::mem::replace(&mut beds[bed], arriving);
            orders[bed].clear();
            adt.push_str(&g.adt("A03", &at(yesterday, 16, 0), &leaving));
            adt.push_str(&g.adt("A01", &at(yesterday, 22, 0), &beds[bed]));
            count += 2;
            if day == 1 {
                beds[10].bed = "7W^701^A".into();
                adt.push_str(&g.adt("A02", &at(yesterday, 18, 30), &beds[10]));
                count += 1;
            }
        }
        let adt = format!(
            "FHS|^~\\&|SYNTH|GENHOSP|||{export}-0600\rBHS|^~\\&|SYNTH|GENHOSP|||{export}-0600\r{adt}BTS|{count}\rFTS|1\r"
        );
        write_file(&dir.join(format!("ADT_7E_{export}.hl7")), adt.as_bytes(), &mut g.written)?;

        let (mut oru, mut mdm, mut rde) = (String::new(), String::new(), String::new());
        for (bed, p) in beds.iter().enumerate() {
            oru.push_str(&panel(&mut g, &export, &at(date, 4, 0), p, bed, day));
            mdm.push_str(&g.mdm(&at(date, 3, 0), p));
            if orders[bed].is_empty() {
                for drug in [2, 1, 4] {
                    let id = g.order(&mut rde, &at(date, 2, 0), p, DRUGS[drug], "NW", None);
                    orders[bed].push((id, drug));
                }
            }
        }
        if day == 1 {
            let (stop, _) = orders[3][0].clone();
            g.order(&mut rde, &at(date, 4, 30), &beds[3], DRUGS[2], "DC", Some(&stop));
            let (name, _, unit, route, freq) = DRUGS[2];
            let id = g.order(&mut rde, &at(date, 4, 31), &beds[3], (name, "80", unit, route, freq), "NW", None);
            orders[3][0] = (id, 2);
            let (hold, _) = orders[12][1].clone();
            g.order(&mut rde, &at(date, 4, 30), &beds[12], DRUGS[1], "HD", Some(&hold));
        }
        if day + 1 == days && days > 1 {
            g.order(
                &mut rde,
                &at(date, 4, 30),
                &beds[7],
                ("Patiromer 8.4 g powder", "8.4", "g", "PO", "DAILY"),
                "NW",
                None,
            );
            g.order(
                &mut rde,
                &at(date, 4, 30),
                &beds[7],
                ("Lisinopril 10 mg tablet", "10", "mg", "PO", "DAILY"),
                "DC",
                None,
            );
        }
        for (kind, text) in [("ORU_7E", oru), ("MDM_7E", mdm), ("RDE_7E", rde)] {
            if !text.is_empty() {
                write_file(&dir.join(format!("{kind}_{export}.hl7")), text.as_bytes(), &mut g.written)?;
            }
        }

        let mut census = String::from("MRN,Last Name,First Name,Location\r\n");
        for (bed, p) in beds.iter().enumerate() {
            if bed == 20 && day + 1 == days && days > 1 {
                continue;
            }
            let _ = write!(census, "{},{},{},{}\r\n", p.mrn, p.family, p.given, p.bed.replace('^', "-"));
        }
        let stamp = date.format("%Y%m%d");
        write_file(&dir.join(format!("census_7E_{stamp}_0500.csv")), census.as_bytes(), &mut g.written)?;
        g.written.days += 1;
    }
    Ok(g.written)
}

fn ward_person(g: &mut Generator, bed: usize) -> Person {
    let mut p = g.person(bed);
    p.bed = format!("7E^{}^{}", 701 + bed / 2, if bed.is_multiple_of(2) { 'A' } else { 'B' });
    p
}

/// The morning's chemistry panel and CBC for the patient in `bed`: normal values mostly, a few
/// abnormal, and the scripted ones.
fn panel(g: &mut Generator, export: &str, drawn: &str, p: &Person, bed: usize, day: usize) -> String {
    g.next_order += 1;
    let order = format!("F{:09}", g.next_order);
    let mut m = g.msh(export, "ORU^R01", "LAB");
    let _ = write!(m, "{}OBR|1||{order}^LAB|PANEL^Chemistry and CBC^L|||{drawn}\r", Generator::pid(p));
    for (i, test) in PANEL.iter().enumerate() {
        let (code, name, unit, low, high, decimals) = TESTS[*test];
        let scripted = SCRIPTED.iter().find(|s| s.0 == bed && s.1 == code && day < 3);
        let (shown, flag) = match scripted {
            Some((_, _, values, flags)) => (values[day].to_string(), flags[day].to_string()),
            None => {
                let span = high - low;
                let value = if g.rng.random_bool(0.15) {
                    if g.rng.random_bool(0.5) {
                        high + span * g.rng.random_range(0.05..0.4)
                    } else {
                        low - span * g.rng.random_range(0.05..0.3)
                    }
                } else {
                    low + span * g.rng.random_range(0.1..0.9)
                };
                let flag = if value < low {
                    "L"
                } else if value > high {
                    "H"
                } else {
                    "N"
                };
                (format!("{:.prec$}", value.max(0.0), prec = decimals as usize), flag.to_string())
            }
        };
        let _ = write!(m, "OBX|{}|NM|{code}^{name}^LN||{shown}|{unit}|{low}-{high}|{flag}|||F|||{drawn}\r", i + 1);
        g.written.obx += 1;
    }
    m
}

impl Generator {
    /// One RDE^O11 for `drug` (name, dose, unit, route, frequency) with order control `control`
    /// (`NW` new, `DC` stop, `HD` hold), for order `id` or a new one; returns the order id.
    fn order(
        &mut self,
        out: &mut String,
        ts: &str,
        p: &Person,
        drug: (&str, &str, &str, &str, &str),
        control: &str,
        id: Option<&str>,
    ) -> String {
        let (name, dose, unit, route, freq) = drug;
        let id = id.map(str::to_string).unwrap_or_else(|| {
            self.next_order += 1;
            format!("{:09}", self.next_order)
        });
        let status = match control {
            "DC" => "DC",
            "HD" => "HD",
            _ => "SC",
        };
        out.push_str(&self.msh(ts, "RDE^O11", "RX"));
        let _ = write!(
            out,
            "{}ORC|{control}|P{id}^SYNTH|RX{id}^PHARM||{status}||||{ts}\rRXE|^{freq}^^{ts}|^{name}^L|{dose}||{unit}\rRXR|{route}\r",
            Generator::pid(p)
        );
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ward_parses_and_holds_its_scripted_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = generate(dir.path(), 3, 7).expect("ward");
        assert_eq!(written.days, 3);
        assert_eq!(written.obx, 3 * BEDS * 20);
        let last = dir.path().join("2026-12-03");
        let census = std::fs::read_to_string(last.join("census_7E_20261203_0500.csv")).expect("census");
        assert_eq!(census.lines().count(), BEDS, "a header and 31 patients: bed 20 left the census");
        let adt = std::fs::read_to_string(dir.path().join("2026-12-02/ADT_7E_20261202050000.hl7")).expect("adt");
        assert!(adt.contains("ADT^A02") && adt.contains("7W^701^A"), "{adt}");
        let options = ingest_parse::ParseOptions::default();
        for entry in std::fs::read_dir(&last).expect("dir") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            let parsed = ingest_parse::parse_named(&name, &std::fs::read(&path).expect("read"), &options);
            let (_, parsed) = parsed.unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert!(parsed.rejects.is_empty(), "{name}: {:?}", parsed.rejects);
        }
    }
}
