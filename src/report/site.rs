//! The `reports/` site: `index.md` (a matrix of every scenario rerun under every preset, grouped
//! by fault kind), one `<scenario>.md` page and `<scenario>.svg` picture per scenario, and
//! `summary.json`. Everything is built in memory as (relative path, contents), sorted, with no
//! timestamps, so the committed folder is a byte-stable regression baseline.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::{compact_timeline, expected_cell, svg};
use crate::check::{Ending, Verdict, misses};
use crate::run::run;
use crate::scenario::{FaultKind, Preset, Scenario, ScenarioError};
use crate::time::SimTime;

/// A scenario and its path relative to the scenarios folder (`brief/x.toml`).
pub struct Input {
    /// Relative path.
    pub path: String,
    /// The scenario.
    pub scenario: Scenario,
}

/// Reruns under other presets get at least this much virtual time: enough for a 1 h visibility
/// timeout to pass and a sweep to restore, and for the hardened watchdog (2 h) to fire.
pub const RERUN_HORIZON: crate::time::SimDuration = crate::time::SimDuration::from_secs(3 * 3600);

/// The presets to compare, each with its TOML (normally [`Preset::toml`]).
pub fn shipped_presets() -> Vec<(Preset, String)> {
    Preset::ALL.iter().map(|p| (*p, p.toml().to_string())).collect()
}

#[derive(Serialize)]
struct CellJson {
    own: bool,
    ending: Ending,
    final_status: &'static str,
    stuck_cause: Option<String>,
    violations: Vec<&'static str>,
}

#[derive(Serialize)]
struct RowJson<'a> {
    file: &'a str,
    name: &'a str,
    group: String,
    celery: String,
    own_preset: &'static str,
    expectation_met: bool,
    presets: BTreeMap<&'static str, CellJson>,
}

/// The format version of `summary.json`. Version 2 added `files`.
pub const SUMMARY_FORMAT_VERSION: u32 = 2;

#[derive(Serialize)]
struct SummaryJson<'a> {
    format_version: u32,
    /// Every file this report wrote, itself included: what a later report may replace or
    /// remove, and nothing else.
    files: &'a [String],
    presets: Vec<&'static str>,
    scenarios: Vec<RowJson<'a>>,
}

struct Row<'a> {
    input: &'a Input,
    slug: String,
    group: String,
    own: Verdict,
    own_trace: Vec<crate::trace::Record>,
    missed: Vec<String>,
    cells: Vec<(Preset, Verdict)>,
}

/// Which group a scenario's row goes in: its fault kinds, or the header behaviour if it has none.
pub fn fault_group(sc: &Scenario) -> String {
    let mut kinds: Vec<&str> = sc
        .faults
        .iter()
        .map(|f| match f.kind {
            FaultKind::KillWorker { .. } | FaultKind::StartWorker { .. } => "worker killed",
            FaultKind::KillChild { .. } => "pool child killed",
            FaultKind::WarmShutdown { .. } | FaultKind::ColdShutdown { .. } => "shutdown",
            FaultKind::Partition { .. } => "network partition",
            FaultKind::BrokerRestart { .. } => "broker restart",
            FaultKind::BackendOutage { .. } => "backend outage",
            FaultKind::Stall { .. } => "stall",
            FaultKind::Revoke { .. } | FaultKind::CancelRun => "revoke or cancel",
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    if kinds.is_empty() { "no process or network fault".to_string() } else { kinds.join(" + ") }
}

/// The file name stem of a scenario's page and picture: `brief/x.toml` → `brief__x`.
pub fn slug(path: &str) -> String {
    path.trim_end_matches(".toml").replace(['/', '\\'], "__")
}

fn when(at: SimTime) -> String {
    if at.0 < 60_000_000 {
        format!("{:.2}s", at.as_secs_f64())
    } else {
        crate::time::SimDuration((at.0 / 1_000_000) * 1_000_000).to_string()
    }
}

fn cell_text(v: &Verdict) -> String {
    let mut s = match v.ending {
        // A policy's Failed says the chord never finished: apart from a real failure.
        Ending::Terminal { status, at } if v.ended_by.is_some() => {
            format!("{} {} by {}", status.name(), when(at), v.ended_by.map_or("", |k| k.who()))
        }
        Ending::Terminal { status, at } => format!("{} {}", status.name(), when(at)),
        Ending::Stuck => {
            let cause = v.cause.first().map(|c| one_line(c, 90)).unwrap_or_default();
            format!("**STUCK** — {cause}")
        }
    };
    if !v.violations.is_empty() {
        let names: Vec<&str> = v.violations.keys().map(|p| p.name()).collect();
        let _ = write!(s, " ⚠ {}", names.join(", "));
    }
    s
}

fn one_line(text: &str, max: usize) -> String {
    let t = text.replace('|', "\\|").replace('\n', " ");
    if t.chars().count() <= max { t } else { format!("{}…", t.chars().take(max).collect::<String>()) }
}

/// Build every file of the site.
pub fn generate(inputs: &[Input], presets: &[(Preset, String)]) -> Result<Vec<(String, String)>, ScenarioError> {
    let mut rows = Vec::new();
    for input in inputs {
        let sc = &input.scenario;
        let own = run(sc.clone(), None);
        let missed = misses(&own.verdict, sc.expect.as_ref());
        let mut cells = Vec::new();
        for (preset, text) in presets {
            let v = if *preset == sc.preset {
                own.verdict.clone()
            } else {
                let mut rerun = sc.under_preset(*preset, text)?;
                rerun.horizon = rerun.horizon.max(RERUN_HORIZON);
                run(rerun, None).verdict
            };
            cells.push((*preset, v));
        }
        rows.push(Row {
            input,
            slug: slug(&input.path),
            group: fault_group(sc),
            own: own.verdict,
            own_trace: own.trace,
            missed,
            cells,
        });
    }
    rows.sort_by(|a, b| (a.group.as_str(), a.input.path.as_str()).cmp(&(b.group.as_str(), b.input.path.as_str())));

    let mut files = vec![("index.md".to_string(), index(&rows, presets))];
    for r in &rows {
        files.push((format!("{}.md", r.slug), page(r)));
        // The picture shows the faults where this run's seed put them.
        let drawn = r.input.scenario.clone().draw();
        files.push((format!("{}.svg", r.slug), svg::render(&drawn, &r.own, &r.own_trace)));
    }
    let mut names: Vec<String> = files.iter().map(|(p, _)| p.clone()).chain(["summary.json".to_string()]).collect();
    names.sort();
    files.push(("summary.json".to_string(), summary(&rows, presets, &names)));
    files.sort();
    Ok(files)
}

/// A markdown table header: the leading columns, then one column per preset.
fn table_header(s: &mut String, first: &[&str], presets: &[(Preset, String)]) {
    let names = first.iter().copied().chain(presets.iter().map(|(p, _)| p.name()));
    let cols: Vec<&str> = names.collect();
    let _ = writeln!(s, "| {} |", cols.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(cols.len()));
}

fn index(rows: &[Row<'_>], presets: &[(Preset, String)]) -> String {
    let mut s = String::from("# chordsim report\n\n");
    s.push_str(
        "Every shipped scenario, rerun under every preset: the same workload, faults, seed and Celery \
         version and topology, with the preset's settings and application (`[celery]`, `[app]`) and at least 3 hours \
         of virtual time. ◆ marks the scenario's own preset, run as written, where its expectation \
         applies. A cell is the terminal status and when it \
         was reached, or **STUCK** with the first link of its cause chain; ⚠ lists broken safety \
         properties; \"by the watchdog\" marks a Failed that the watchdog wrote because the chord never \
         finished the run, apart from a real failure. Regenerate with `cargo run --release -- report`.\n\n",
    );
    s.push_str("## Stuck runs by fault and preset\n\n");
    table_header(&mut s, &["faults", "scenarios"], presets);
    let mut groups: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    groups.dedup();
    for g in &groups {
        let in_group: Vec<&Row<'_>> = rows.iter().filter(|r| r.group == *g).collect();
        let _ = write!(s, "| {g} | {} |", in_group.len());
        for (i, _) in presets.iter().enumerate() {
            let stuck = in_group.iter().filter(|r| r.cells[i].1.ending == Ending::Stuck).count();
            let ended: Vec<_> = in_group.iter().filter_map(|r| r.cells[i].1.ended_by).collect();
            let mut cell = if stuck == 0 { "0 stuck".to_string() } else { format!("**{stuck} stuck**") };
            if let Some(first) = ended.first() {
                let who = if ended.iter().all(|k| k == first) { first.who() } else { "an operator policy" };
                let _ = write!(cell, ", {} ended by {who}", ended.len());
            }
            let _ = write!(s, " {cell} |");
        }
        s.push('\n');
    }
    for g in &groups {
        let _ = write!(s, "\n## {g}\n\n");
        table_header(&mut s, &["scenario"], presets);
        for r in rows.iter().filter(|r| r.group == *g) {
            let mark = if r.missed.is_empty() { "" } else { " ✗ expectation missed" };
            let _ = write!(s, "| [{}]({}.md){mark} |", r.input.path.trim_end_matches(".toml"), r.slug);
            for (p, v) in &r.cells {
                let own = if *p == r.input.scenario.preset { "◆ " } else { "" };
                let _ = write!(s, " {own}{} |", cell_text(v));
            }
            s.push('\n');
        }
    }
    s
}

fn summary(rows: &[Row<'_>], presets: &[(Preset, String)], files: &[String]) -> String {
    let scenarios = rows
        .iter()
        .map(|r| RowJson {
            file: &r.input.path,
            name: &r.input.scenario.name,
            group: r.group.clone(),
            celery: r.input.scenario.celery.version.to_string(),
            own_preset: r.input.scenario.preset.name(),
            expectation_met: r.missed.is_empty(),
            presets: r
                .cells
                .iter()
                .map(|(p, v)| {
                    let cell = CellJson {
                        own: *p == r.input.scenario.preset,
                        ending: v.ending,
                        final_status: v.final_status.name(),
                        stuck_cause: (v.ending == Ending::Stuck).then(|| v.cause.first().cloned().unwrap_or_default()),
                        violations: v.violations.keys().map(|k| k.name()).collect(),
                    };
                    (p.name(), cell)
                })
                .collect(),
        })
        .collect();
    let doc = SummaryJson {
        format_version: SUMMARY_FORMAT_VERSION,
        files,
        presets: presets.iter().map(|(p, _)| p.name()).collect(),
        scenarios,
    };
    let mut out = serde_json::to_string_pretty(&doc).expect("summary serialises");
    out.push('\n');
    out
}

fn page(r: &Row<'_>) -> String {
    let sc = &r.input.scenario;
    let v = &r.own;
    let mut s = format!("# {}\n\n", sc.name);
    let _ = writeln!(s, "{}\n", sc.about.trim());
    let _ = writeln!(
        s,
        "`{}` · Celery {} · preset `{}` · seed {} · horizon {} · [back to the index](index.md)\n",
        // The file as it was read (a scenario outside scenarios/ is not there).
        sc.file,
        sc.celery.version,
        sc.preset.name(),
        sc.seed,
        sc.horizon
    );
    s.push_str("## Verdict\n\n");
    let _ = writeln!(s, "- outcome: {}", cell_text(v));
    let _ = writeln!(s, "- expected: {}", expected_cell(sc));
    if r.missed.is_empty() {
        s.push_str("- expectation met\n");
    } else {
        for m in &r.missed {
            let _ = writeln!(s, "- ✗ {m}");
        }
    }
    let _ = writeln!(
        s,
        "- collect_results ran {}, the errback {}, chord_unlock {}; body {}",
        v.callback_runs,
        v.errback_runs,
        v.chord_unlock_runs,
        v.body_state.name()
    );
    for (p, why) in &v.violations {
        let _ = writeln!(s, "- ⚠ `{}`: {why}", p.name());
    }
    if !v.cause.is_empty() {
        s.push_str("\n## Cause chain\n\n");
        for c in &v.cause {
            let _ = writeln!(s, "1. {c}");
        }
    }
    s.push_str("\n## Configuration (what differs from Celery's defaults)\n\n");
    let diffs = sc.celery.differences();
    if diffs.is_empty() {
        s.push_str("- Celery settings: all defaults\n");
    }
    for d in diffs {
        let _ = writeln!(s, "- `{d}`");
    }
    let t = &sc.topology;
    let workers: Vec<String> = t.workers.iter().map(|w| format!("{} ×{}", w.name, w.concurrency)).collect();
    let _ = writeln!(
        s,
        "- topology: {} broker{}, {} result backend, workers {}",
        if t.broker == crate::scenario::BrokerKind::Redis { "Redis" } else { "AMQP" },
        if t.broker_persistent { "" } else { " (no persistence)" },
        if t.backend == crate::scenario::BackendKind::Redis { "Redis" } else { "database" },
        workers.join(", ")
    );
    let a = &sc.app;
    let _ = writeln!(
        s,
        "- application: collect_results {}, {}{}{}",
        match a.profile {
            crate::scenario::Profile::Doc => "classifying the payload (doc profile)",
            crate::scenario::Profile::Rhesis => "counting result rows (rhesis profile)",
        },
        match a.errback {
            crate::scenario::Errback::None => "no errback",
            crate::scenario::Errback::Inline => "a new-style errback (inline)",
            crate::scenario::Errback::Task => "an old-style errback (a task)",
        },
        if a.callback == crate::scenario::CallbackBehaviour::RaiseBeforeWrite {
            ", collect_results raises"
        } else {
            ""
        },
        if a.terminal_guard { ", terminal guard" } else { "" },
    );
    for p in &sc.policies {
        let _ = writeln!(s, "- policy: {p}");
    }
    let _ = writeln!(s, "- workload: {} header tests", sc.tests.len());
    for f in &sc.faults {
        match f.until {
            Some(u) => {
                let _ = writeln!(s, "- fault at a time drawn from {}..{}: {}", f.at, u, f.kind);
            }
            None => {
                let _ = writeln!(s, "- fault at {}: {}", f.at, f.kind);
            }
        }
    }
    let _ = writeln!(s, "\n## Picture\n\n![timeline of {}]({}.svg)\n", sc.name.replace(['[', ']'], ""), r.slug);
    s.push_str("## Timeline\n\n| time | event |\n|---:|---|\n");
    for line in compact_timeline(&r.own_trace, 120) {
        let (time, event) = line.trim_start().split_once("  ").unwrap_or(("", line.trim()));
        let _ = writeln!(s, "| {time} | {} |", event.trim().replace('|', "\\|"));
    }
    s
}
