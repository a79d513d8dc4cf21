//! `chordsim run` (every scenario against its expectation: a table, JSON Lines, JUnit) and
//! `chordsim replay` (one scenario's verdict, cause chain and whole timeline).

use std::path::{Path, PathBuf};

use super::inputs::{load, load_paths};
use super::output::{RunProgress, Stdout, warn_raw, write_atomic};
use super::{EXIT_MISSED, EXIT_OK, bad_input};
use crate::check::{HealthCall, health_call, misses};
use crate::report::{self, Row, json, junit};
use crate::run::{Driver, RunResult, run_observed, run_with_health};
use crate::scenario::import::Import;
use crate::scenario::{Needs, Scenario};
use crate::time::{SimTime, parse_duration};
use crate::trace::Note;

pub fn run(
    paths: &[PathBuf],
    import: Option<&Import>,
    seed: Option<u64>,
    driver: Driver,
    as_json: bool,
    junit: Option<&Path>,
) -> u8 {
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
        // Wall-clock time for JUnit's `time` only; it never reaches the model.
        let started = std::time::Instant::now();
        let result = observed(&sc, seed, driver);
        let seconds = started.elapsed().as_secs_f64();
        let missed = misses(&result.verdict, sc.expect.as_ref());
        if as_json {
            out.line(&json::line("scenario", &json::ScenarioLine::of(&sc, seed_used, &result.verdict, &missed)));
        }
        cases.push((
            sc.file.clone(),
            sc.name.clone(),
            missed.clone(),
            result.verdict.cause.clone(),
            seed_used,
            seconds,
        ));
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
            .map(|(file, name, missed, cause, seed, seconds)| junit::Case {
                file,
                name,
                misses: missed,
                cause,
                replay: format!("chordsim replay {file} --seed {seed}{}", driver.flag()),
                seconds: *seconds,
            })
            .collect();
        if let Err(e) = write_atomic(path, junit::render("chordsim run", &junit_cases).as_bytes()) {
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

/// Which timeline records `replay` prints.
pub struct Filter {
    /// `--since`.
    pub since: Option<String>,
    /// `--until`.
    pub until: Option<String>,
    /// `--test`.
    pub test: Option<u32>,
    /// `--kind`.
    pub kinds: Vec<String>,
    /// `--health-at`.
    pub health_at: Vec<String>,
    /// `--json`.
    pub json: bool,
}

pub fn replay(
    file: &Path,
    import: Option<&Import>,
    again: &str,
    seed: Option<u64>,
    driver: Driver,
    filter: &Filter,
) -> u8 {
    let time = |flag: &str, v: &Option<String>| -> Result<Option<SimTime>, String> {
        v.as_deref()
            .map(parse_duration)
            .transpose()
            .map(|d| d.map(|d| SimTime::ZERO + d))
            .map_err(|forms| format!("{flag}: expected {forms}"))
    };
    let (since, until) = match (time("--since", &filter.since), time("--until", &filter.until)) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => return bad_input(&e),
    };
    let mut looks = Vec::new();
    for h in &filter.health_at {
        match time("--health-at", &Some(h.clone())) {
            Ok(t) => looks.extend(t),
            Err(e) => return bad_input(&e),
        }
    }
    if let Some(k) = filter.kinds.iter().find(|k| !Note::KINDS.contains(&k.as_str())) {
        return bad_input(&format!("--kind {k}: not a kind of record; expected one of: {}", Note::KINDS.join(", ")));
    }
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
    if let Some(late) = looks.iter().find(|t| t.since(SimTime::ZERO) > sc.horizon) {
        let (late, horizon) = (late.since(SimTime::ZERO), sc.horizon);
        return bad_input(&format!(
            "--health-at {late}: after the run's horizon ({horizon}); expected a time up to {horizon}"
        ));
    }
    let mut bar = RunProgress::new(&sc.file);
    let (result, health) = run_with_health(sc.clone(), seed, driver, &looks, &mut |p| bar.update(p));
    bar.finish();
    let calls: Vec<HealthCall> = health.into_iter().map(|h| health_call(h, &result.verdict, &result.trace)).collect();
    let missed = misses(&result.verdict, sc.expect.as_ref());
    let mut out = Stdout::new();
    if filter.json {
        out.line(&json::line("scenario", &json::ScenarioLine::of(&sc, seed_used, &result.verdict, &missed)));
        for c in &calls {
            out.line(&json::line("health", c));
        }
        out.line(&json::line("summary", &json::Summary::of(1, usize::from(!missed.is_empty()))));
        return out.finish(if missed.is_empty() { EXIT_OK } else { EXIT_MISSED });
    }
    out.print(&report::verdict_text(&sc, seed_used, &result.verdict));
    if !calls.is_empty() {
        out.print(&report::health_text(&calls));
    }
    if let Some(t) = filter.test
        && t as usize >= sc.tests.len()
    {
        return out
            .finish(bad_input(&format!("--test {t}: this run has tests 0 to {}", sc.tests.len().saturating_sub(1))));
    }
    let shown = result.trace.iter().filter(|r| {
        since.is_none_or(|s| r.at >= s)
            && until.is_none_or(|u| r.at <= u)
            && filter.test.is_none_or(|t| r.note.task() == Some(crate::words::TaskRef::Header(t)))
            && (filter.kinds.is_empty() || filter.kinds.iter().any(|k| k == r.note.kind()))
    });
    out.print("\ntimeline:\n");
    for r in shown {
        out.line(&r.to_string());
    }
    if !missed.is_empty() {
        out.print(if sc.expect.is_some() {
            "\nexpectation missed:\n"
        } else {
            "\nnot ok (terminal, every safety property intact):\n"
        });
        for m in &missed {
            out.line(&format!("  - {m}"));
        }
    }
    out.line(&format!("\nreplay: chordsim replay {}{again} --seed {seed_used}", file.display()));
    out.finish(if missed.is_empty() { EXIT_OK } else { EXIT_MISSED })
}

/// Run one scenario, with a progress bar on a terminal if it takes long.
fn observed(sc: &Scenario, seed: Option<u64>, driver: Driver) -> RunResult {
    let mut bar = RunProgress::new(&sc.file);
    let result = run_observed(sc.clone(), seed, driver, &mut |p| bar.update(p));
    bar.finish();
    result
}
