//! The Python extension `chordsim._chordsim` (feature `python`, built by maturin): the command
//! line as `main(argv)` for the `chordsim` console script, and the calls the Python package
//! (`python/chordsim/`) stands on. Each takes a scenario as TOML text (and, from `from_app`, a
//! configuration as the importer reads it), runs the same library code as the command line, and
//! returns JSON; the package turns that into typed results and writes no model logic of its own.
//!
//! Signals belong to the console script (the command line installs its handlers) and to Python:
//! the long calls run on a thread of their own while this one waits without the GIL, checking
//! Python's signals every 50 ms, so Ctrl-C in pytest stops an exploration and raises
//! KeyboardInterrupt.

use std::time::{Duration, Instant};

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use serde_json::{Value, json};

use crate::advise::Workload;
use crate::advise::harden::{Hardening, Options as HardenOptions, harden as search};
use crate::explore::{Options, Report, Stop, explore};
use crate::run::{Driver, run_on};
use crate::scenario::import::{Flags, Import};
use crate::scenario::{Needs, RunStatus, Scenario, StatusFn, StatusRule};

create_exception!(_chordsim, ScenarioError, PyException, "A scenario or configuration chordsim cannot read.");

/// What `--celery-version`, `--workers` and `--concurrency` add to a configuration, as the
/// package sends them (JSON).
#[derive(serde::Deserialize, Default)]
struct FlagsJson {
    version: Option<String>,
    workers: Option<u32>,
    concurrency: Option<u32>,
}

/// A Python status rule as the model calls it: with the results as a JSON array (the package
/// wraps the user's `def status(results: list) -> str` to parse it), under the GIL.
fn status_fn(f: Py<PyAny>) -> StatusFn {
    StatusFn(std::sync::Arc::new(move |results: &str| {
        Python::attach(|py| {
            let out = f.call1(py, (results,)).map_err(|e| e.to_string())?;
            let name: String =
                out.bind(py).extract().map_err(|_| "it returned something other than a status name".to_string())?;
            RunStatus::from_name(&name).ok_or_else(|| {
                let names: Vec<&str> = RunStatus::ALL.iter().map(|s| s.name()).collect();
                format!("it returned {name:?}; expected one of: {}", names.join(", "))
            })
        })
    }))
}

/// The scenario in `toml` over the configuration in `config` (its text, as `--config` reads a
/// file: JSON or TOML) with `flags` (JSON of [`FlagsJson`]) and the Python status rule `status`,
/// named `file` in messages.
fn scenario(
    file: &str,
    toml: &str,
    config: Option<&str>,
    flags: Option<&str>,
    status: Option<Py<PyAny>>,
) -> PyResult<Scenario> {
    let import = match config {
        Some(text) => {
            let f: FlagsJson = match flags {
                Some(j) => serde_json::from_str(j).map_err(|e| ScenarioError::new_err(format!("flags: {e}")))?,
                None => FlagsJson::default(),
            };
            let flags = Flags { version: f.version, workers: f.workers, concurrency: f.concurrency };
            Some(
                Import::parse("the app's configuration", text, &flags)
                    .map_err(|e| ScenarioError::new_err(e.to_string()))?,
            )
        }
        None => None,
    };
    let mut sc = Scenario::parse_with(file, toml, import.as_ref(), Needs::Nothing)
        .map_err(|e| ScenarioError::new_err(e.to_string()))?;
    if let Some(f) = status {
        sc.app.status_rule = StatusRule::Callable(status_fn(f));
    }
    Ok(sc)
}

/// Run `work` on a thread of its own; meanwhile wait without the GIL and check Python's signals.
/// On a signal, ask `stop` to stop, wait for `work` to end, and raise the signal's exception.
fn interruptible<T: Send>(py: Python<'_>, stop: &Stop, work: impl FnOnce() -> T + Send) -> PyResult<T> {
    std::thread::scope(|s| {
        let handle = s.spawn(work);
        loop {
            py.detach(|| {
                let since = Instant::now();
                while !handle.is_finished() && since.elapsed() < Duration::from_millis(50) {
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
            if handle.is_finished() {
                return Ok(handle.join().expect("the work does not panic"));
            }
            if let Err(e) = py.check_signals() {
                stop.stop_shrinking();
                py.detach(|| handle.join().expect("the work does not panic"));
                return Err(e);
            }
        }
    })
}

/// The command line: `argv` as `sys.argv` has it; returns the exit code.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(|| crate::cli::main_from(argv))
}

/// The scenario file for the package's tables (JSON of the file's tables), read as a file is:
/// it raises ScenarioError with the reader's own message, or returns the file's text and the
/// reader's warnings (a misspelt setting: Celery would store and ignore it) and the seed the
/// file gives its runs, as JSON.
#[pyfunction]
#[pyo3(signature = (tables, config=None, flags=None))]
fn validate(tables: &str, config: Option<&str>, flags: Option<&str>) -> PyResult<String> {
    let value: Value = serde_json::from_str(tables).map_err(|e| ScenarioError::new_err(e.to_string()))?;
    let table = toml::Table::try_from(value)
        .map_err(|e| ScenarioError::new_err(format!("the scenario's tables cannot be written as TOML: {e}")))?;
    let toml = toml::to_string(&table).map_err(|e| ScenarioError::new_err(e.to_string()))?;
    let sc = scenario("scenario.toml", &toml, config, flags, None)?;
    let warnings: Vec<String> = sc.warnings.iter().map(ToString::to_string).collect();
    Ok(json!({"toml": toml, "warnings": warnings, "seed": sc.seed}).to_string())
}

/// One run: the verdict as `chordsim check --json` prints it, and the trace's records.
#[pyfunction]
#[pyo3(signature = (toml, config=None, flags=None, seed=None, status=None, driver="events"))]
#[allow(clippy::too_many_arguments)]
fn run_scenario(
    py: Python<'_>,
    toml: &str,
    config: Option<&str>,
    flags: Option<&str>,
    seed: Option<u64>,
    status: Option<Py<PyAny>>,
    driver: &str,
) -> PyResult<String> {
    let driver = <Driver as clap::ValueEnum>::from_str(driver, false).map_err(|_| {
        pyo3::exceptions::PyValueError::new_err(format!("driver {driver:?}: expected one of: events, turmoil"))
    })?;
    let sc = scenario("scenario.toml", toml, config, flags, status)?;
    let seed = seed.unwrap_or(sc.seed);
    let result = py.detach(|| run_on(sc.clone(), Some(seed), driver));
    let misses = crate::check::misses(&result.verdict, sc.expect.as_ref());
    let trace: Vec<Value> = result
        .trace
        .iter()
        .map(|r| json!({"at": r.at.since(crate::time::SimTime::ZERO).as_secs_f64(), "line": r.to_string().trim()}))
        .collect();
    let line = crate::report::json::ScenarioLine::of(&sc, seed, &result.verdict, &misses);
    Ok(json!({
        "scenario": line,
        "text": crate::report::verdict_text(&sc, seed, &result.verdict),
        "trace": trace,
    })
    .to_string())
}

/// What explore found: each failure's signature, count, first case, verdict and minimal
/// scenario as TOML.
fn report_json(r: &Report) -> Value {
    let found: Vec<Value> = r
        .found
        .iter()
        .map(|f| {
            json!({
                "signature": f.signature,
                "case": f.case,
                "count": f.count,
                "shrunk": f.shrunk,
                "verdict": f.verdict,
                "toml": f.minimal.to_toml(),
            })
        })
        .collect();
    json!({"ran": r.ran, "failed": r.failed, "interrupted": r.interrupted, "found": found})
}

/// `chordsim explore` on the scenario's configuration (its workload and faults are replaced).
#[pyfunction]
#[pyo3(signature = (toml, config=None, flags=None, cases=1000, seed=1, max_tests=12, threads=None, status=None))]
#[allow(clippy::too_many_arguments)]
fn explore_scenario(
    py: Python<'_>,
    toml: &str,
    config: Option<&str>,
    flags: Option<&str>,
    cases: u64,
    seed: u64,
    max_tests: usize,
    threads: Option<usize>,
    status: Option<Py<PyAny>>,
) -> PyResult<String> {
    let base = scenario("scenario.toml", toml, config, flags, status)?;
    let opts = Options {
        base,
        cases,
        seed,
        shard: (1, 1),
        max_tests,
        threads: threads.unwrap_or_else(default_threads),
        shrink_runs: 400,
        config: None,
        policy_endings_fail: false,
    };
    let stop = Stop::new();
    let report = interruptible(py, &stop, || explore(&opts, &stop, &|| {}))?;
    Ok(report_json(&report).to_string())
}

/// `chordsim harden` on the scenario's configuration, for a workload of `tests` tests of
/// `duration_s` seconds each.
#[pyfunction]
#[pyo3(signature = (toml, config=None, flags=None, tests=200, duration_s=60.0, cases=20000, search_cases=2000, seed=1, max_tests=12, threads=None, status=None))]
#[allow(clippy::too_many_arguments)]
fn harden_scenario(
    py: Python<'_>,
    toml: &str,
    config: Option<&str>,
    flags: Option<&str>,
    tests: usize,
    duration_s: f64,
    cases: u64,
    search_cases: u64,
    seed: u64,
    max_tests: usize,
    threads: Option<usize>,
    status: Option<Py<PyAny>>,
) -> PyResult<String> {
    let base = scenario("scenario.toml", toml, config, flags, status)?;
    let opts = HardenOptions {
        base,
        workload: Workload { tests, duration: crate::time::SimDuration::from_secs_f64(duration_s) },
        cases,
        search_cases,
        seed,
        max_tests,
        threads: threads.unwrap_or_else(default_threads),
    };
    let stop = Stop::new();
    let started = Instant::now();
    let h: Hardening = interruptible(py, &stop, || search(&opts, &stop, &|_| {}))?;
    let changes: Vec<Value> = h
        .changes
        .iter()
        .map(|n| {
            let (table, line) = n.change.toml();
            json!({"python": n.change.python(), "toml_table": table, "toml": line, "without": report_json(&n.without)})
        })
        .collect();
    Ok(json!({
        "complete": h.complete(),
        "before": report_json(&h.before),
        "after": report_json(&h.after),
        "changes": changes,
        "text": crate::cli::harden_text(&opts, &h, started.elapsed()),
    })
    .to_string())
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The extension module.
#[pymodule]
fn _chordsim(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ScenarioError", m.py().get_type::<ScenarioError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(run_scenario, m)?)?;
    m.add_function(wrap_pyfunction!(explore_scenario, m)?)?;
    m.add_function(wrap_pyfunction!(harden_scenario, m)?)?;
    Ok(())
}
