//! JSON Lines output of `chordsim run --json`: one `{"type": …, "data": …}` object per line: a
//! `warning` line for each misspelt name (before its scenario's line), a `scenario` line per
//! file, and a closing `summary` with `format_version`. The wire types live here, apart from the
//! model.

use serde::Serialize;

use crate::check::Verdict;

/// The format version of the JSON Lines output. Version 2 added `warning` lines, and a verdict
/// whose `stop` is `event_budget` is never `ok`.
pub const FORMAT_VERSION: u32 = 2;

/// One scenario's result.
#[derive(Serialize)]
pub struct ScenarioLine<'a> {
    /// Scenario file.
    pub file: &'a str,
    /// Scenario name.
    pub name: &'a str,
    /// Seed used.
    pub seed: u64,
    /// Celery version.
    pub celery: String,
    /// The verdict.
    pub verdict: &'a Verdict,
    /// Expectation held.
    pub ok: bool,
    /// Missed expectations.
    pub misses: &'a [String],
}

/// The closing line.
#[derive(Serialize)]
pub struct Summary {
    /// Output format version.
    pub format_version: u32,
    /// Scenarios run.
    pub scenarios: usize,
    /// As expected.
    pub passed: usize,
    /// Not as expected.
    pub failed: usize,
}

/// Serialise one envelope line.
pub fn line<T: Serialize>(kind: &str, data: &T) -> String {
    #[derive(Serialize)]
    struct Envelope<'a, T> {
        #[serde(rename = "type")]
        kind: &'a str,
        data: &'a T,
    }
    serde_json::to_string(&Envelope { kind, data }).expect("wire types serialise")
}
