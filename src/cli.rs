//! The command line: `chordsim run` and `chordsim replay`. Parses arguments (clap), calls the
//! library, prints, and maps outcomes to the documented exit codes in one place.

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
            return Err(format!("{}: no such file or folder", p.display()));
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

fn cmd_run(paths: Vec<PathBuf>, seed: Option<u64>, as_json: bool, junit: Option<&Path>) -> u8 {
    let files = match collect(&paths) {
        Ok(f) => f,
        Err(e) => return bad_input(&e),
    };
    // Nothing runs unless every file is valid: a partial run is never reported as success.
    let scenarios = match load_all(&files) {
        Ok(s) => s,
        Err(errs) => {
            for e in errs {
                eprintln!("{e}");
            }
            return EXIT_BAD_INPUT;
        }
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

/// A scenario's path relative to the scenarios folder, for report file names.
fn relative(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let text = text.trim_start_matches("./");
    match text.find("scenarios/") {
        Some(i) => text[i + "scenarios/".len()..].to_string(),
        None => text.to_string(),
    }
}

fn cmd_report(paths: Vec<PathBuf>, out: &Path) -> u8 {
    let files = match collect(&paths) {
        Ok(f) => f,
        Err(e) => return bad_input(&e),
    };
    let scenarios = match load_all(&files) {
        Ok(s) => s,
        Err(errs) => {
            for e in errs {
                eprintln!("{e}");
            }
            return EXIT_BAD_INPUT;
        }
    };
    let inputs: Vec<site::Input> =
        files.iter().zip(scenarios).map(|(f, scenario)| site::Input { path: relative(f), scenario }).collect();
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
