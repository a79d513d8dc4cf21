//! The command line: `chordsim run`, `replay`, `report` and `explore`. Parses arguments (clap),
//! calls the library, prints, and maps outcomes to the documented exit codes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::check::misses;
use crate::report::{self, Row, json, junit, site};
use crate::run::run;
use crate::scenario::{Scenario, ScenarioError};
use crate::time::parse_duration;

/// Every scenario ran as expected.
pub const EXIT_OK: u8 = 0;
/// A scenario broke a property it was not expected to, or missed its expectation.
pub const EXIT_MISSED: u8 = 1;
/// Bad input or usage: a malformed scenario, a path with no scenarios, bad arguments.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Interrupted (Ctrl-C); what was found so far is kept.
pub const EXIT_INTERRUPTED: u8 = 130;

/// chordsim: does every chord reach a terminal status, and if not, why?
#[derive(Parser, Debug)]
#[command(name = "chordsim", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run scenarios and compare each verdict with its [expect] table.
    Run {
        /// Scenario files or folders (default: scenarios/).
        paths: Vec<PathBuf>,
        /// Override every scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// JSON Lines instead of a table.
        #[arg(long)]
        json: bool,
        /// Also write a JUnit XML report here.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Write the reports/ site: a matrix of every scenario under every preset, a page and a
    /// timeline picture per scenario, and summary.json.
    Report {
        /// Scenario files or folders (default: scenarios/).
        paths: Vec<PathBuf>,
        /// Where to write (default: reports/).
        #[arg(long, default_value = "reports")]
        out: PathBuf,
    },
    /// Generate workloads and fault schedules for one configuration, and shrink every distinct
    /// failure to a minimal scenario file.
    Explore {
        /// The preset to explore (default celery-defaults).
        #[arg(long, conflicts_with = "config")]
        preset: Option<String>,
        /// A scenario file whose configuration to explore (its workload and faults are replaced).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Cases in the whole exploration.
        #[arg(long, default_value_t = 1000)]
        cases: u64,
        /// The master seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Run only shard I of N (cases with index % N == I - 1).
        #[arg(long, default_value = "1/1")]
        shard: String,
        /// Stop starting new cases after this much wall-clock time (e.g. "5m").
        #[arg(long)]
        time_budget: Option<String>,
        /// Where to write the counterexamples.
        #[arg(long, default_value = "explore-out")]
        out: PathBuf,
        /// JSON Lines instead of a table; no progress bar.
        #[arg(long)]
        json: bool,
        /// Largest generated header.
        #[arg(long, default_value_t = 12)]
        max_tests: usize,
    },
    /// Print one scenario's whole timeline and verdict.
    Replay {
        /// The scenario file.
        file: PathBuf,
        /// Override the seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Stop the timeline at this time (e.g. "30s").
        #[arg(long)]
        until: Option<String>,
    },
}

/// Parse arguments and run; returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    ExitCode::from(match cli.command {
        Command::Run { paths, seed, json, junit } => cmd_run(paths, seed, json, junit.as_deref()),
        Command::Report { paths, out } => cmd_report(paths, &out),
        Command::Explore { preset, config, cases, seed, shard, time_budget, out, json, max_tests } => {
            let args = ExploreArgs { preset, config, cases, seed, shard, time_budget, out, json, max_tests };
            cmd_explore(args)
        }
        Command::Replay { file, seed, until } => cmd_replay(&file, seed, until.as_deref()),
    })
}

/// Scenario files under `paths`, sorted, recursing into folders.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let defaults = [PathBuf::from("scenarios")];
    let paths = if paths.is_empty() { &defaults[..] } else { paths };
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut files).map_err(|e| format!("{}: {e}", p.display()))?;
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            return Err(format!("{}: not a scenario file or a folder of them", p.display()));
        }
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Err("no scenario files (*.toml) found".to_string());
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
    Ok(())
}

fn bad_input(msg: &str) -> u8 {
    eprintln!("chordsim: {msg}");
    EXIT_BAD_INPUT
}

fn load_all(files: &[PathBuf]) -> Result<Vec<Scenario>, Vec<ScenarioError>> {
    let mut ok = Vec::new();
    let mut errs = Vec::new();
    for f in files {
        match Scenario::load(f) {
            Ok(s) => ok.push(s),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() { Ok(ok) } else { Err(errs) }
}

/// The scenario files under `paths`, all loaded; on any problem every message is printed and
/// the exit code returned. Nothing runs unless every file is valid: a partial run is never
/// reported as success.
fn load_paths(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<Scenario>), u8> {
    let files = collect(paths).map_err(|e| bad_input(&e))?;
    let scenarios = load_all(&files).map_err(|errs| {
        for e in errs {
            eprintln!("{e}");
        }
        EXIT_BAD_INPUT
    })?;
    Ok((files, scenarios))
}

fn cmd_run(paths: Vec<PathBuf>, seed: Option<u64>, as_json: bool, junit: Option<&Path>) -> u8 {
    let (_, scenarios) = match load_paths(&paths) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut rows = Vec::new();
    let mut cases = Vec::new();
    let stdout = std::io::stdout();
    let mut outh = stdout.lock();
    for sc in scenarios {
        let seed_used = seed.unwrap_or(sc.seed);
        let result = run(sc.clone(), seed);
        let missed = misses(&result.verdict, &sc.expect);
        if as_json {
            let line = json::ScenarioLine {
                file: &sc.file,
                name: &sc.name,
                seed: seed_used,
                celery: sc.celery.version.to_string(),
                verdict: &result.verdict,
                ok: missed.is_empty(),
                misses: &missed,
            };
            if writeln!(outh, "{}", json::line("scenario", &line)).is_err() {
                return EXIT_OK; // a closed pipe is not an error
            }
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
        if let Err(e) = std::fs::write(path, junit::render(&junit_cases)) {
            return bad_input(&format!("--junit {}: {e}", path.display()));
        }
    }
    let printed = if as_json {
        let summary = json::Summary {
            format_version: json::FORMAT_VERSION,
            scenarios: rows.len(),
            passed: rows.len() - failed,
            failed,
        };
        writeln!(outh, "{}", json::line("summary", &summary))
    } else {
        write!(outh, "{}", report::table(&rows))
    };
    if printed.is_err() {
        return EXIT_OK;
    }
    if failed == 0 { EXIT_OK } else { EXIT_MISSED }
}

/// A scenario's path relative to the scenarios folder, for report file names: what follows
/// `scenarios/`, else the path without `.`, `..` and root components.
fn relative(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    if let Some(i) = text.rfind("scenarios/") {
        return text[i + "scenarios/".len()..].to_string();
    }
    text.split('/').filter(|part| !part.is_empty() && *part != "." && *part != "..").collect::<Vec<_>>().join("/")
}

fn cmd_report(paths: Vec<PathBuf>, out: &Path) -> u8 {
    let (files, scenarios) = match load_paths(&paths) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let inputs: Vec<site::Input> =
        files.iter().zip(scenarios).map(|(f, scenario)| site::Input { path: relative(f), scenario }).collect();
    let mut pages = std::collections::BTreeMap::new();
    for (input, file) in inputs.iter().zip(&files) {
        if let Some(other) = pages.insert(input.path.clone(), file) {
            return bad_input(&format!(
                "{} and {} would share the report page for {}; report them separately",
                other.display(),
                file.display(),
                input.path
            ));
        }
    }
    let generated = match site::generate(&inputs, &site::shipped_presets()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    match write_site(out, &generated) {
        Ok(stale) => {
            println!("wrote {} files to {} (removed {stale} stale)", generated.len(), out.display());
            EXIT_OK
        }
        Err(e) => bad_input(&format!("{}: {e}", out.display())),
    }
}

/// Write the site, removing report files that are no longer generated.
fn write_site(out: &Path, files: &[(String, String)]) -> std::io::Result<usize> {
    std::fs::create_dir_all(out)?;
    let wanted: std::collections::BTreeSet<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    let mut stale = 0;
    for e in std::fs::read_dir(out)? {
        let p = e?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let ours = [".md", ".svg", ".json"].iter().any(|x| name.ends_with(x));
        if p.is_file() && ours && !wanted.contains(name.as_str()) {
            std::fs::remove_file(&p)?;
            stale += 1;
        }
    }
    for (path, text) in files {
        std::fs::write(out.join(path), text)?;
    }
    Ok(stale)
}

struct ExploreArgs {
    preset: Option<String>,
    config: Option<PathBuf>,
    cases: u64,
    seed: u64,
    shard: String,
    time_budget: Option<String>,
    out: PathBuf,
    json: bool,
    max_tests: usize,
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("--shard {text}: expected I/N with 1 <= I <= N, such as 2/4");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if i == 0 || n == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

fn explore_base(preset: Option<&str>, config: Option<&Path>) -> Result<crate::scenario::Scenario, String> {
    if let Some(path) = config {
        return Scenario::load(path).map_err(|e| e.to_string());
    }
    let name = preset.unwrap_or("celery-defaults");
    let Some(p) = crate::scenario::Preset::from_name(name) else {
        let names: Vec<&str> = crate::scenario::Preset::ALL.iter().map(|p| p.name()).collect();
        return Err(format!("chordsim: --preset {name}: no such preset; expected one of: {}", names.join(", ")));
    };
    Ok(Scenario::from_preset(p))
}

fn cmd_explore(a: ExploreArgs) -> u8 {
    use std::io::IsTerminal;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    if a.cases == 0 {
        return bad_input("--cases 0: expected at least 1 case");
    }
    if a.max_tests == 0 || a.max_tests > 200 {
        return bad_input("--max-tests: expected 1 to 200");
    }
    let shard = match parse_shard(&a.shard) {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    let budget = match a.time_budget.as_deref().map(parse_duration).transpose() {
        Ok(b) => b,
        Err(forms) => return bad_input(&format!("--time-budget: expected {forms}")),
    };
    let base = match explore_base(a.preset.as_deref(), a.config.as_deref()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let opts = crate::explore::Options {
        base,
        cases: a.cases,
        seed: a.seed,
        shard,
        max_tests: a.max_tests,
        threads,
        shrink_runs: 400,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let (stop, interrupted) = (stop.clone(), interrupted.clone());
        // A second handler cannot be installed in the same process; ignore that (tests).
        let _ = ctrlc::set_handler(move || {
            interrupted.store(true, Ordering::SeqCst);
            stop.store(true, Ordering::SeqCst);
        });
    }
    let in_shard = crate::explore::shard_size(a.cases, shard);
    let bar = if a.json || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        let style = indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} cases, {per_sec}, eta {eta} · {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> ");
        indicatif::ProgressBar::new(in_shard).with_style(style).with_message("Ctrl-C stops and keeps what was found")
    };
    // Wall-clock time only bounds how long the command runs; it never reaches the model.
    let started = std::time::Instant::now();
    let tick = || {
        bar.inc(1);
        if budget.is_some_and(|b| started.elapsed().as_micros() as u64 >= b.0) {
            stop.store(true, Ordering::SeqCst);
        }
    };
    let report = crate::explore::explore(&opts, &stop, &tick);
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    if let Err(e) = std::fs::create_dir_all(&a.out) {
        return bad_input(&format!("{}: {e}", a.out.display()));
    }
    let mut lines = Vec::new();
    for f in &report.found {
        let path = a.out.join(crate::explore::file_name(f));
        if let Err(e) = std::fs::write(&path, f.minimal.to_toml()) {
            return bad_input(&format!("{}: {e}", path.display()));
        }
        let tests = f.minimal.tests.len();
        let faults = f.minimal.faults.len();
        if a.json {
            #[derive(serde::Serialize)]
            struct Line<'a> {
                file: String,
                signature: &'a str,
                first_case: u64,
                cases: u64,
                tests: usize,
                faults: usize,
            }
            let line = Line {
                file: path.display().to_string(),
                signature: &f.signature,
                first_case: f.case,
                cases: f.count,
                tests,
                faults,
            };
            lines.push(json::line("found", &line));
        } else {
            lines.push(format!(
                "{} ({} cases; minimal: {tests} tests, {faults} faults)
    {}",
                path.display(),
                f.count,
                f.signature
            ));
        }
    }
    let seconds = (elapsed * 1000.0).round() / 1000.0;
    if a.json {
        #[derive(serde::Serialize)]
        struct Summary {
            format_version: u32,
            preset: &'static str,
            seed: u64,
            shard: String,
            cases_run: u64,
            cases_failed: u64,
            distinct_failures: usize,
            interrupted: bool,
            seconds: f64,
        }
        let s = Summary {
            format_version: json::FORMAT_VERSION,
            preset: opts.base.preset.name(),
            seed: a.seed,
            shard: a.shard.clone(),
            cases_run: report.ran,
            cases_failed: report.failed,
            distinct_failures: report.found.len(),
            interrupted: report.interrupted,
            seconds,
        };
        lines.push(json::line("summary", &s));
    } else {
        lines.push(format!(
            "\nexplored {} cases of preset {} (seed {}, shard {}) in {seconds}s: {} failed, {} distinct, written to {}{}",
            report.ran,
            opts.base.preset.name(),
            a.seed,
            a.shard,
            report.failed,
            report.found.len(),
            a.out.display(),
            if report.interrupted { " (stopped early)" } else { "" }
        ));
    }
    let mut out = std::io::stdout().lock();
    for l in lines {
        if writeln!(out, "{l}").is_err() {
            break;
        }
    }
    if interrupted.load(Ordering::SeqCst) {
        EXIT_INTERRUPTED
    } else if report.found.is_empty() {
        EXIT_OK
    } else {
        EXIT_MISSED
    }
}

fn cmd_replay(file: &Path, seed: Option<u64>, until: Option<&str>) -> u8 {
    let until = match until.map(parse_duration).transpose() {
        Ok(u) => u.map(|d| crate::time::SimTime::ZERO + d),
        Err(forms) => return bad_input(&format!("--until: expected {forms}")),
    };
    let sc = match Scenario::load(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    let seed_used = seed.unwrap_or(sc.seed);
    let result = run(sc.clone(), seed);
    let missed = misses(&result.verdict, &sc.expect);
    let mut text = report::verdict_text(&sc, seed_used, &result.verdict);
    text.push_str("\ntimeline:\n");
    text.push_str(&report::timeline(&result.trace, until));
    if !missed.is_empty() {
        text.push_str("\nexpectation missed:\n");
        for m in &missed {
            text.push_str(&format!("  - {m}\n"));
        }
    }
    text.push_str(&format!("\nreplay: chordsim replay {} --seed {seed_used}\n", file.display()));
    if std::io::stdout().lock().write_all(text.as_bytes()).is_err() {
        return EXIT_OK;
    }
    if missed.is_empty() { EXIT_OK } else { EXIT_MISSED }
}
