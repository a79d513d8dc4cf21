//! Integration tests, one binary: shipped scenarios, determinism, the real-Celery observations,
//! model rules, bad input, and the command line.

mod bad_input;
mod cli;
mod determinism;
mod explore;
mod observations;
mod properties;
mod reports;
mod rules;
mod scenarios;

use std::path::{Path, PathBuf};

use chordsim::run::{RunResult, run};
use chordsim::scenario::Scenario;
use chordsim::trace::Note;

/// Every shipped scenario file, sorted, as `scenarios/…` relative to the package root (the
/// tests' working directory), so that nothing machine-specific reaches a snapshot.
pub fn shipped() -> Vec<PathBuf> {
    assert!(Path::new("scenarios").is_dir(), "tests run from the package root");
    chordsim::cli::collect(&[PathBuf::from("scenarios")]).expect("scenarios exist")
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
