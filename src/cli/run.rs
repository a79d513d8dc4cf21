//! `chordsim run` (every scenario against its expectation: a table, JSON Lines, JUnit) and
//! `chordsim replay` (one scenario's verdict, cause chain and whole timeline).

use std::path::{Path, PathBuf};

use super::inputs::{load, load_paths};
use super::output::{RunProgress, Stdout, warn_raw, write_atomic};
use super::{EXIT_MISSED, EXIT_OK, bad_input};
use crate::check::misses;
use crate::report::{self, Row, json, junit};
use crate::run::{RunResult, run_observed};
use crate::scenario::import::Import;
use crate::scenario::{Needs, Scenario};
use crate::time::parse_duration;

pub fn run(paths: &[PathBuf], import: Option<&Import>, seed: Option<u64>, as_json: bool, junit: Option<&Path>) -> u8 {
    let (_, scenarios) = match load_paths(paths, import) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut rows = Vec::new();
    let mut cases = Vec::new();
    let mut out = Stdout::new();
    // A warning about the imported configuration comes once, not once per scenario.
    let mut warned = std::collections::BTreeSet::new();
    for sc in scenarios {
        for w in &sc.warnings {
            if !warned.insert(w.to_string()) {
                continue;
            }
            warn_raw(&w.to_string());
            if as_json {
                out.line(&json::line("warning", w));
            }
        }
        let seed_used = seed.unwrap_or(sc.seed);
        let result = observed(&sc, seed);
        let missed = misses(&result.verdict, sc.expect.as_ref());
        if as_json {
            let line = json::ScenarioLine {
                file: &sc.file,
                name: &sc.name,
                seed: seed_used,
                celery: sc.celery.version.to_string(),
                verdict: &result.verdict,
                ok: missed.is_empty(),
                ok_means: json::OkMeans::of(&sc),
                misses: &missed,
            };
            out.line(&json::line("scenario", &line));
        }
        cases.push((sc.file.clone(), sc.name.clone(), missed.clone(), result.verdict.cause.clone(), seed_used));
        rows.push(Row {
            file: sc.file.clone(),
            outcome: report::outcome_cell(&result.verdict),
            expected: report::expected_cell(&sc),
            ok: missed.is_empty(),
            misses: missed,
        });
    }
    let failed = rows.iter().filter(|r| !r.ok).count();
    if let Some(path) = junit {
        let junit_cases: Vec<junit::Case<'_>> = cases
            .iter()
            .map(|(file, name, missed, cause, seed)| junit::Case {
                file,
                name,
                misses: missed,
                cause,
                replay: format!("chordsim replay {file} --seed {seed}"),
            })
            .collect();
        if let Err(e) = write_atomic(path, junit::render(&junit_cases).as_bytes()) {
            return out.finish(bad_input(&format!("--junit {e}")));
        }
    }
    if as_json {
        out.line(&json::line("summary", &json::Summary::of(rows.len(), failed)));
    } else {
        out.print(&report::table(&rows));
    }
    out.finish(if failed == 0 { EXIT_OK } else { EXIT_MISSED })
}

pub fn replay(file: &Path, import: Option<&Import>, again: &str, seed: Option<u64>, until: Option<&str>) -> u8 {
    let until = match until.map(parse_duration).transpose() {
        Ok(u) => u.map(|d| crate::time::SimTime::ZERO + d),
        Err(forms) => return bad_input(&format!("--until: expected {forms}")),
    };
    let sc = match load(file, import, Needs::Nothing) {
        Ok(s) => s,
        Err(e) => {
            warn_raw(&e.to_string());
            return super::EXIT_BAD_INPUT;
        }
    };
    for w in &sc.warnings {
        warn_raw(&w.to_string());
    }
    let seed_used = seed.unwrap_or(sc.seed);
    let result = observed(&sc, seed);
    let missed = misses(&result.verdict, sc.expect.as_ref());
    let mut out = Stdout::new();
    out.print(&report::verdict_text(&sc, seed_used, &result.verdict));
    out.print("\ntimeline:\n");
    out.print(&report::timeline(&result.trace, until));
    if !missed.is_empty() {
        out.print("\nexpectation missed:\n");
        for m in &missed {
            out.line(&format!("  - {m}"));
        }
    }
    out.line(&format!("\nreplay: chordsim replay {}{again} --seed {seed_used}", file.display()));
    out.finish(if missed.is_empty() { EXIT_OK } else { EXIT_MISSED })
}

/// Run one scenario, with a progress bar on a terminal if it takes long.
fn observed(sc: &Scenario, seed: Option<u64>) -> RunResult {
    let mut bar = RunProgress::new(&sc.file);
    let result = run_observed(sc.clone(), seed, &mut |p| bar.update(p));
    bar.finish();
    result
}
