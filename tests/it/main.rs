//! Integration tests, one binary: shipped scenarios, determinism, the real-Celery observations,
//! model rules, bad input, and the command line.

mod audit;
mod bad_input;
mod check;
mod citations;
mod cli;
mod determinism;
mod drivers;
mod explore;
mod harden;
mod import;
mod lint;
mod observations;
mod operators;
mod properties;
mod reports;
mod rules;
mod scenarios;

use std::path::{Path, PathBuf};

use chordsim::run::{Driver, RunResult, run, run_on};
use chordsim::scenario::Preset;
use chordsim::scenario::Scenario;
use chordsim::trace::Note;

/// Every shipped scenario file, sorted, as `scenarios/…` relative to the package root (the
/// tests' working directory), so that nothing machine-specific reaches a snapshot.
pub fn shipped() -> Vec<PathBuf> {
    assert!(Path::new("scenarios").is_dir(), "tests run from the package root");
    chordsim::cli::collect(&[PathBuf::from("scenarios")]).expect("scenarios exist")
}

/// How many `*.toml` files a folder holds.
pub fn toml_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "toml"))
        .count()
}

/// Parse a scenario from text, panicking with the rendered diagnostic if it is invalid.
pub fn parse(text: &str) -> Scenario {
    Scenario::parse("test.toml", text).unwrap_or_else(|e| panic!("{e}"))
}

/// Parse and run.
pub fn run_toml(text: &str) -> RunResult {
    run(parse(text), None)
}

/// Whether the trace has a note matching `f`.
pub fn has(r: &RunResult, f: impl Fn(&Note) -> bool) -> bool {
    r.trace.iter().any(|rec| f(&rec.note))
}

/// How many notes match `f`.
pub fn count(r: &RunResult, f: impl Fn(&Note) -> bool) -> usize {
    r.trace.iter().filter(|rec| f(&rec.note)).count()
}

/// The verdict and the whole rendered trace of a run: equal fingerprints, equal runs.
pub fn fingerprint(sc: &Scenario, seed: Option<u64>) -> String {
    fingerprint_on(sc, seed, Driver::Events)
}

/// [`fingerprint`] on `driver`.
pub fn fingerprint_on(sc: &Scenario, seed: Option<u64>, driver: Driver) -> String {
    let r = run_on(sc.clone(), seed, driver);
    let mut s = serde_json::to_string(&r.verdict).unwrap();
    for rec in &r.trace {
        s.push('\n');
        s.push_str(&rec.to_string());
    }
    s
}

/// A preset's configuration with an empty workload.
pub fn base(preset: Preset) -> Scenario {
    Scenario::from_preset(preset)
}

/// A copy of a stuck scenario that wrongly expects Completed, in a fresh temporary folder.
pub fn wrong_expectation(tag: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("chordsim-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("wrong.toml");
    let text = std::fs::read_to_string("scenarios/brief/worker-killed-early-ack.toml")
        .unwrap()
        .replace("status = \"stuck\"", "status = \"Completed\"");
    std::fs::write(&file, text).unwrap();
    (dir, file)
}
