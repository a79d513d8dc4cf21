//! `chordsim check`: ask what happens. One scenario, expectations optional: its verdict, cause
//! chain and a timeline summary; or, with `--seeds N`, how often it ends how over N seeds
//! (outcomes, stuck runs grouped by cause, terminal-time percentiles).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::inputs::load;
use super::output::{Stdout, warn_raw};
use super::{EXIT_BAD_INPUT, EXIT_MISSED, EXIT_OK};
use crate::check::{Ending, misses};
use crate::report::{self, json};
use crate::run::{Driver, run_on};
use crate::scenario::import::Import;
use crate::scenario::{Needs, Scenario};
use crate::time::SimDuration;

/// Lines of the timeline summary.
const SUMMARY_LINES: usize = 40;

/// `chordsim check FILE`.
/// `again` is the configuration's flags, for the commands it prints.
pub fn check(
    file: &Path,
    import: Option<&Import>,
    again: &str,
    seed: Option<u64>,
    driver: Driver,
    seeds: Option<u64>,
    as_json: bool,
) -> u8 {
    let sc = match load(file, import, Needs::Nothing) {
        Ok(s) => s,
        Err(e) => {
            warn_raw(&e.to_string());
            return EXIT_BAD_INPUT;
        }
    };
    for w in &sc.warnings {
        warn_raw(&w.to_string());
    }
    let first = seed.unwrap_or(sc.seed);
    match seeds {
        None => one(&sc, file, again, first, driver, as_json),
        Some(n) => many(&sc, file, again, first, driver, n, as_json),
    }
}

fn one(sc: &Scenario, file: &Path, again: &str, seed: u64, driver: Driver, as_json: bool) -> u8 {
    let result = run_on(sc.clone(), Some(seed), driver);
    let missed = misses(&result.verdict, sc.expect.as_ref());
    let mut out = Stdout::new();
    if as_json {
        out.line(&json::line("scenario", &json::ScenarioLine::of(sc, seed, &result.verdict, &missed)));
        out.line(&json::line("summary", &json::Summary::of(1, usize::from(!missed.is_empty()))));
        return out.finish(if missed.is_empty() { EXIT_OK } else { EXIT_MISSED });
    }
    out.print(&report::verdict_text(sc, seed, &result.verdict));
    out.print("\ntimeline (summary; `chordsim replay` prints it whole):\n");
    for line in report::compact_timeline(&result.trace, SUMMARY_LINES) {
        out.line(&format!("  {line}"));
    }
    out.print(&format!("\n{}\n", answer(sc, &missed)));
    out.line(&format!("replay: chordsim replay {}{again} --seed {seed}", file.display()));
    out.finish(if missed.is_empty() { EXIT_OK } else { EXIT_MISSED })
}

/// What passing means, and whether this run did.
fn answer(sc: &Scenario, missed: &[String]) -> String {
    let rule = if sc.expect.is_some() { "as its [expect] says" } else { "terminal, every safety property intact" };
    if missed.is_empty() {
        return format!("ok: {rule}");
    }
    let mut s = format!("not ok ({rule}):");
    for m in missed {
        let _ = write!(s, "\n  - {m}");
    }
    s
}

/// One group of runs that ended alike.
struct Group {
    runs: u64,
    first_seed: u64,
}

fn many(sc: &Scenario, file: &Path, again: &str, first: u64, driver: Driver, n: u64, as_json: bool) -> u8 {
    let mut out = Stdout::new();
    let mut outcomes: BTreeMap<String, Group> = BTreeMap::new();
    let mut not_ok: BTreeMap<String, Group> = BTreeMap::new();
    let mut terminal: Vec<SimDuration> = Vec::new();
    let mut failed = 0;
    for seed in first..first.saturating_add(n) {
        let result = run_on(sc.clone(), Some(seed), driver);
        let v = &result.verdict;
        let missed = misses(v, sc.expect.as_ref());
        if as_json {
            out.line(&json::line("scenario", &json::ScenarioLine::of(sc, seed, v, &missed)));
        }
        let outcome = match v.ending {
            Ending::Terminal { status, at } => {
                terminal.push(at.since(crate::time::SimTime::ZERO));
                status.name().to_string()
            }
            Ending::Stuck => "stuck".to_string(),
        };
        outcomes.entry(outcome).or_insert(Group { runs: 0, first_seed: seed }).runs += 1;
        if !missed.is_empty() {
            failed += 1;
            let key = crate::explore::signature(v);
            not_ok.entry(key).or_insert(Group { runs: 0, first_seed: seed }).runs += 1;
        }
    }
    if as_json {
        out.line(&json::line("summary", &json::Summary::of(n as usize, failed)));
        return out.finish(if failed == 0 { EXIT_OK } else { EXIT_MISSED });
    }
    let mut s = format!("{} ({}), seeds {first}..={}: {n} runs\n", sc.name, sc.file, first + (n - 1));
    let parts: Vec<String> = outcomes.iter().map(|(k, g)| format!("{k} {}", g.runs)).collect();
    let _ = writeln!(s, "outcomes: {}", parts.join(", "));
    terminal.sort();
    if !terminal.is_empty() {
        let pick = |q: f64| terminal[((terminal.len() - 1) as f64 * q).round() as usize].human();
        let _ = writeln!(
            s,
            "time to terminal ({} runs): p50 {}, p90 {}, p99 {}, max {}",
            terminal.len(),
            pick(0.5),
            pick(0.9),
            pick(0.99),
            terminal[terminal.len() - 1].human()
        );
    }
    if not_ok.is_empty() {
        let _ = writeln!(s, "\nok: every run {}", answer(sc, &[]).trim_start_matches("ok: "));
    } else {
        let _ = writeln!(s, "\nnot ok in {failed} of {n} runs, by cause:");
        let mut groups: Vec<(&String, &Group)> = not_ok.iter().collect();
        groups.sort_by(|a, b| b.1.runs.cmp(&a.1.runs).then(a.0.cmp(b.0)));
        for (key, g) in groups {
            let _ = writeln!(s, "  {:>5}  {key}", g.runs);
            let _ = writeln!(s, "         first: chordsim check {}{again} --seed {}", file.display(), g.first_seed);
        }
    }
    out.print(&s);
    out.finish(if failed == 0 { EXIT_OK } else { EXIT_MISSED })
}
