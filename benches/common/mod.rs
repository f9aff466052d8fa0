//! What the benches share: a 500-patient panel export and a configuration in a scratch directory.
//! Included with `mod common;` by each bench that needs it.

#![allow(dead_code)] // each bench uses part of it

use ingest_config::{Config, Origin};
use std::path::{Path, PathBuf};

pub const PATIENTS: usize = 500;
pub const RESULTS_PER_PATIENT: usize = 20;

pub fn mrn(i: usize) -> String {
    format!("MRN{i:05}")
}

/// A configuration with its data under `dir/data` and one source `ward`; `extra` is TOML put
/// before the source (e.g. an `[mcp]` table). Returns it and the path of its file.
pub fn config_in(dir: &Path, extra: &str) -> anyhow::Result<(Config, PathBuf)> {
    let text = format!(
        "data_dir = \"{}\"\ntime_zone = \"UTC\"\n{extra}[[source]]\nname = \"ward\"\npath = \"{}\"\n",
        dir.join("data").display(),
        dir.join("drop").display()
    );
    let path = dir.join("ingest.toml");
    std::fs::write(&path, &text)?;
    Ok((Config::from_toml(&text, Origin::File(path.clone()), dir)?, path))
}

/// One ADT batch admitting everyone, one ORU batch with RESULTS_PER_PATIENT results each,
/// all stamped now (so the snapshot is fresh).
pub fn write_panel_exports(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let ts = chrono::Utc::now().format("%Y%m%d%H%M%S+0000").to_string();
    let mut adt = format!("FHS|^~\\&|EHR|H|||{ts}\rBHS|^~\\&|EHR|H|||{ts}\r");
    let mut oru = String::new();
    for i in 0..PATIENTS {
        let m = mrn(i);
        adt.push_str(&format!(
            "MSH|^~\\&|EHR|H|I|H|{ts}||ADT^A01|A{i}|P|2.5.1\rPID|1||{m}^^^H^MR||Family{i}^Given{i}||19500101|F\r\
             PV1|1|I|{}^{}^A||||D{}^Doctor{}^Dana\r",
            ["5W", "6E", "ICU"][i % 3],
            100 + i % 40,
            i % 12,
            i % 12
        ));
        oru.push_str(&format!(
            "MSH|^~\\&|LAB|H|I|H|{ts}||ORU^R01|L{i}|P|2.5.1\rPID|1||{m}^^^H^MR\rOBR|1||F{i}^LAB|PANEL^Panel^L|||{ts}\r"
        ));
        for k in 0..RESULTS_PER_PATIENT {
            oru.push_str(&format!(
                "OBX|{}|NM|{}-{k}^Test {k}^LN||{}.{k}|mmol/L|1-10|{}|||F|||{ts}\r",
                k + 1,
                1000 + k,
                i % 9,
                if k % 5 == 0 { "H" } else { "" }
            ));
        }
    }
    adt.push_str(&format!("BTS|{PATIENTS}\rFTS|1\r"));
    std::fs::write(dir.join("adt.hl7"), adt)?;
    std::fs::write(dir.join("oru.hl7"), oru)?;
    Ok(())
}
