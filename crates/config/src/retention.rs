//! `[retention]`: what is kept how long.

use crate::raw::*;

/// `[retention]` (minimum necessary): how long archived exports and the patients who
/// have left every panel are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionConfig {
    /// Off (`enabled = false`): nothing is ever deleted or purged by the daemon.
    pub enabled: bool,
    /// Archived export files older than this many days are deleted. Default 30.
    pub archive_days: u32,
    /// Patients off every panel for longer than this many days are purged. Default 30.
    pub patient_days: u32,
    /// When the daemon applies it (cron, in the configured zone), besides once at start.
    /// Default hourly: `17 * * * *`.
    pub schedule: ingest_core::schedule::Cron,
}

pub(crate) fn check_retention(raw: RawRetention) -> Result<RetentionConfig, (String, String)> {
    let days = |key: &str, value: Option<u32>| match value {
        None => Ok(30),
        Some(0) => Err((
            format!("retention.{key}"),
            "must be at least 1 (to keep everything, set retention.enabled = false)".to_string(),
        )),
        Some(n) => Ok(n),
    };
    let schedule = ingest_core::schedule::Cron::parse(raw.schedule.as_deref().unwrap_or("17 * * * *"))
        .map_err(|m| ("retention.schedule".to_string(), m))?;
    Ok(RetentionConfig {
        enabled: raw.enabled.unwrap_or(true),
        archive_days: days("archive_days", raw.archive_days)?,
        patient_days: days("patient_days", raw.patient_days)?,
        schedule,
    })
}
