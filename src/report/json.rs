//! JSON Lines output of `chordsim run --json` and `chordsim check --json`: one
//! `{"type": …, "data": …}` object per line: a `warning` line for each misspelt name (before its
//! scenario's line), a `scenario` line per file (or per seed), and a closing `summary` with
//! `format_version`. The wire types live here, apart from the model.

use serde::Serialize;

use crate::check::Verdict;

/// The format version of the JSON Lines output. Version 2 added `warning` lines, and a verdict
/// whose `stop` is `event_budget` is never `ok`; version 3 says what `ok` means (`ok_means`):
/// a file without `[expect]` passes when it ends terminal with every safety property intact;
/// version 4 replaces the verdict's `by_watchdog` with `ended_by`, the operator policy that
/// wrote the terminal status (`"watchdog"`, `"fix-chords"`, …) or null, and adds `health`
/// lines (`replay --health-at`).
pub const FORMAT_VERSION: u32 = 4;

/// What `ok` was judged against.
#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OkMeans {
    /// The file's `[expect]` held.
    Expectation,
    /// No expectation: the run ended terminal with every safety property intact.
    TerminalAndSafe,
}

impl<'a> ScenarioLine<'a> {
    /// The line of one run of `sc` with `seed`, which missed `misses` (none: ok).
    pub fn of(sc: &'a crate::scenario::Scenario, seed: u64, verdict: &'a Verdict, misses: &'a [String]) -> Self {
        ScenarioLine {
            file: &sc.file,
            name: &sc.name,
            seed,
            celery: sc.celery.version.to_string(),
            verdict,
            ok: misses.is_empty(),
            ok_means: OkMeans::of(sc),
            misses,
        }
    }
}

impl OkMeans {
    /// For this scenario.
    pub fn of(sc: &crate::scenario::Scenario) -> Self {
        if sc.expect.is_some() { OkMeans::Expectation } else { OkMeans::TerminalAndSafe }
    }
}

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
    /// Passed (see `ok_means`).
    pub ok: bool,
    /// What `ok` was judged against.
    pub ok_means: OkMeans,
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

impl Summary {
    /// The summary of `scenarios` runs of which `failed` did not pass.
    pub fn of(scenarios: usize, failed: usize) -> Self {
        Summary { format_version: FORMAT_VERSION, scenarios, passed: scenarios - failed, failed }
    }
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
