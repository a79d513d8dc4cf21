//! The command line: `chordsim run`, `check`, `replay`, `report` and `explore`. Parses arguments (clap),
//! calls the library, prints, and maps outcomes to the documented exit codes. `inputs` finds and
//! reads the scenarios, `output` owns standard output and file writes; one file per command.

mod check;
mod explore;
mod harden;
mod inputs;
mod lint;
mod output;
mod report;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::run::Driver;

pub use harden::text as harden_text;
pub use inputs::collect;

/// Every scenario ran as expected.
pub const EXIT_OK: u8 = 0;
/// A scenario broke a property it was not expected to, or missed its expectation.
pub const EXIT_MISSED: u8 = 1;
/// Bad input or usage: a malformed scenario, a path with no scenarios, bad arguments, or output
/// that could not be written.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Interrupted (Ctrl-C, SIGTERM, SIGHUP); what was found so far is kept.
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
        /// Scenario files or folders (default: scenarios/); `-` reads one from standard input.
        paths: Vec<PathBuf>,
        #[command(flatten)]
        config: ConfigArgs,
        /// Override every scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// What carries the messages between the parts: the discrete-event engine, or
        /// turmoil's simulated TCP (slower; see the README).
        #[arg(long, value_enum, default_value_t = Driver::Events)]
        driver: Driver,
        /// JSON Lines instead of a table.
        #[arg(long)]
        json: bool,
        /// Also write a JUnit XML report here.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Ask what happens: one scenario, no [expect] or about needed; its verdict, cause chain and
    /// a timeline summary. Exits 0 when the run ends terminal with every safety property intact
    /// (or as its [expect] says, if it has one), 1 otherwise.
    Check {
        /// The scenario file, or `-` for standard input.
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
        /// The seed (default: the file's).
        #[arg(long)]
        seed: Option<u64>,
        /// What carries the messages between the parts: the discrete-event engine, or
        /// turmoil's simulated TCP (slower; see the README).
        #[arg(long, value_enum, default_value_t = Driver::Events)]
        driver: Driver,
        /// Run N seeds from the first and say how often the run ends how.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        seeds: Option<u64>,
        /// JSON Lines instead of text: a `scenario` line per seed, then a `summary`.
        #[arg(long)]
        json: bool,
    },
    /// Write the reports/ site: a matrix of every scenario under every preset, a page and a
    /// timeline picture per scenario, and summary.json.
    Report {
        /// Scenario files or folders (default: scenarios/).
        paths: Vec<PathBuf>,
        /// Where to write (default: reports/): an empty or new folder, or an earlier report's.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
    },
    /// Generate workloads and fault schedules for one configuration, and shrink every distinct
    /// failure to a minimal scenario file.
    #[command(args_conflicts_with_subcommands = true)]
    Explore {
        #[command(subcommand)]
        merge: Option<ExploreCommand>,
        #[command(flatten)]
        args: ExploreArgs,
    },
    /// The hazards of a configuration, worst first: why, the bound it computed, the fix, and a
    /// generated scenario that shows it (exit 1 when a hazard is found, 0 when none).
    Lint {
        /// A Celery configuration (what --config takes); without one, --preset's.
        #[arg(value_name = "CONFIG", conflicts_with = "config")]
        file: Option<PathBuf>,
        /// The preset under the configuration (default: its own `preset`, else celery-defaults).
        #[arg(long)]
        preset: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
        /// Header tests of the workload it is judged against.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        tests: u64,
        /// Each test's run time (e.g. "2m").
        #[arg(long, default_value = "1m")]
        duration: String,
        /// Write each hazard's scenario and its fixed variant here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The smallest set of setting, application and operator changes under which `explore`
    /// finds nothing stuck and no broken safety property, each with the scenario that needs it.
    Harden {
        /// A scenario file: its configuration, policies and workload (without one: --preset
        /// under --config, with --tests and --duration).
        file: Option<PathBuf>,
        /// The preset (without a file).
        #[arg(long, conflicts_with = "file")]
        preset: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
        /// Header tests of the workload (without a file).
        #[arg(long, default_value_t = 10, conflicts_with = "file", value_parser = clap::value_parser!(u64).range(1..=100_000))]
        tests: u64,
        /// Each test's run time (without a file).
        #[arg(long, default_value = "1m", conflicts_with = "file")]
        duration: String,
        /// Cases each verifying exploration runs.
        #[arg(long, default_value_t = 20_000)]
        cases: u64,
        /// Cases each search step runs.
        #[arg(long, default_value_t = 2_000)]
        search_cases: u64,
        /// Explore's master seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Largest generated header.
        #[arg(long, default_value_t = 12)]
        max_tests: usize,
        /// Worker threads (default: the machine's cores). The answer does not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Stop searching after this much wall-clock time (e.g. "2m"); what was found is printed.
        #[arg(long)]
        time_budget: Option<String>,
        /// Write the scenario that needs each change here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print one scenario's whole timeline and verdict.
    Replay {
        /// The scenario file, or `-` for standard input.
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
        /// Override the seed.
        #[arg(long)]
        seed: Option<u64>,
        /// What carries the messages between the parts: the discrete-event engine, or
        /// turmoil's simulated TCP (slower; see the README).
        #[arg(long, value_enum, default_value_t = Driver::Events)]
        driver: Driver,
        /// Stop the timeline at this time (e.g. "30s").
        #[arg(long)]
        until: Option<String>,
        /// Start the timeline at this time (e.g. "10m").
        #[arg(long)]
        since: Option<String>,
        /// Only the records about header test N (its messages, executions and results).
        #[arg(long, value_name = "N")]
        test: Option<u32>,
        /// Only records of these kinds, comma-separated (e.g. "fault,poll,status"; see --help).
        #[arg(long, value_name = "KINDS", value_delimiter = ',')]
        kind: Vec<String>,
        /// Health as the chord monitor sees it at these times, comma-separated (e.g. "30m,2h"):
        /// active chord_unlock tasks, stuck chords by its rule, healthy or not, and whether
        /// that was right.
        #[arg(long, value_name = "TIMES", value_delimiter = ',')]
        health_at: Vec<String>,
        /// JSON Lines instead of text: the `scenario` line, a `health` line per --health-at
        /// time, then a `summary`.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ExploreCommand {
    /// Combine the output folders of the shards of one exploration into what one unsharded run
    /// writes.
    Merge {
        /// The shards' output folders.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where to write the merged folder.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `chordsim explore`'s options.
#[derive(Args, Debug)]
struct ExploreArgs {
    /// The preset to explore (default: the configuration file's `preset`, else celery-defaults).
    #[arg(long)]
    preset: Option<String>,
    #[command(flatten)]
    config: ConfigArgs,
    /// Cases in the whole exploration.
    #[arg(long, default_value_t = 1000)]
    cases: u64,
    /// The master seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run only shard I of N (cases with index % N == I - 1).
    #[arg(long, conflicts_with = "shards")]
    shard: Option<String>,
    /// Split into N shards and run the one that the 0-based JOB_COMPLETION_INDEX names
    /// (Kubernetes Indexed Jobs): shard index + 1.
    #[arg(long)]
    shards: Option<u64>,
    /// Stop starting new cases after this much wall-clock time (e.g. "5m").
    #[arg(long)]
    time_budget: Option<String>,
    /// Where to write the counterexamples.
    #[arg(long, default_value = "explore-out")]
    out: PathBuf,
    /// JSON Lines instead of a table; no progress bar.
    #[arg(long)]
    json: bool,
    /// Also write a JUnit XML report here: one failing test case per distinct failure found,
    /// or one passing case when none was.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Largest generated header.
    #[arg(long, default_value_t = 12)]
    max_tests: usize,
    /// Worker threads (default: the machine's cores). The result does not depend on it.
    #[arg(long)]
    threads: Option<usize>,
}

/// Your own Celery configuration, under every scenario a command reads (preset < this < the
/// scenario file).
#[derive(Args, Debug, Default)]
pub struct ConfigArgs {
    /// A Celery configuration: `celery inspect conf --json` output, a JSON dump of app.conf, or
    /// TOML (a scenario file's [celery], [topology], [app], or bare settings).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The Celery version the configuration runs on (inspect conf does not say): 5.5, 5.6, 5.7.
    #[arg(long, value_name = "VERSION")]
    celery_version: Option<String>,
    /// Pool processes of each worker, as `celery worker -c N` gives them.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    concurrency: Option<u32>,
    /// How many workers consume the queue.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000))]
    workers: Option<u32>,
}

impl ConfigArgs {
    /// The flags again, for a command line that reruns with the same configuration (empty
    /// without `--config`).
    pub(super) fn again(&self) -> String {
        let mut s = String::new();
        if let Some(c) = &self.config {
            s.push_str(&format!(" --config {}", c.display()));
        }
        if let Some(v) = &self.celery_version {
            s.push_str(&format!(" --celery-version {v}"));
        }
        if let Some(c) = self.concurrency {
            s.push_str(&format!(" --concurrency {c}"));
        }
        if let Some(w) = self.workers {
            s.push_str(&format!(" --workers {w}"));
        }
        s
    }

    /// The imported configuration, if one is given; its problems are printed.
    pub(super) fn import(&self) -> Result<Option<crate::scenario::import::Import>, u8> {
        let Some(path) = &self.config else {
            // What a configuration file does not carry means nothing without one.
            let given = [
                ("--celery-version", self.celery_version.is_some()),
                ("--concurrency", self.concurrency.is_some()),
                ("--workers", self.workers.is_some()),
            ];
            return match given.iter().find(|(_, on)| *on) {
                Some((flag, _)) => {
                    Err(bad_input(&format!("{flag}: needs a configuration; expected --config FILE with it")))
                }
                None => Ok(None),
            };
        };
        let flags = crate::scenario::import::Flags {
            version: self.celery_version.clone(),
            concurrency: self.concurrency,
            workers: self.workers,
        };
        crate::scenario::import::Import::load(path, &flags).map(Some).map_err(|e| {
            output::warn_raw(&e.to_string());
            EXIT_BAD_INPUT
        })
    }
}

/// Parse the process's arguments and run; returns the exit code.
pub fn main() -> ExitCode {
    ExitCode::from(main_from(std::env::args_os()))
}

/// Parse `args` (the program's name first) and run; returns the exit code.
pub fn main_from<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Run { paths, config, seed, driver, json, junit } => match config.import() {
            Ok(import) => run::run(&paths, import.as_ref(), seed, driver, json, junit.as_deref()),
            Err(code) => code,
        },
        Command::Check { file, config, seed, driver, seeds, json } => match config.import() {
            Ok(import) => {
                let again = config.again() + driver.flag();
                check::check(&file, import.as_ref(), &again, seed, driver, seeds, json)
            }
            Err(code) => code,
        },
        Command::Report { paths, out } => report::report(&paths, &out),
        Command::Explore { merge: Some(ExploreCommand::Merge { dirs, out }), .. } => explore::merge(&dirs, &out),
        Command::Explore { merge: None, args } => explore::explore(args),
        Command::Lint { file, preset, mut config, tests, duration, out } => {
            config.config = config.config.or(file);
            let args = config;
            let duration = match crate::time::parse_duration(&duration) {
                Ok(d) if d.0 > 0 => d,
                Ok(_) => return bad_input("--duration: expected a positive duration"),
                Err(forms) => return bad_input(&format!("--duration: expected {forms}")),
            };
            match args.import() {
                Ok(import) => match inputs::base(preset.as_deref(), import.as_ref()) {
                    Ok(mut base) => {
                        if let Some(c) = &args.config {
                            base.file = c.display().to_string();
                        }
                        lint::lint(&base, crate::advise::Workload { tests: tests as usize, duration }, out.as_deref())
                    }
                    Err(e) => bad_input(&e),
                },
                Err(code) => code,
            }
        }
        Command::Harden {
            file,
            preset,
            config,
            tests,
            duration,
            cases,
            search_cases,
            seed,
            max_tests,
            threads,
            time_budget,
            out,
        } => {
            let parse = |flag: &str, v: &str| {
                crate::time::parse_duration(v).map_err(|forms| bad_input(&format!("{flag}: expected {forms}")))
            };
            let duration = match parse("--duration", &duration) {
                Ok(d) => d,
                Err(code) => return code,
            };
            let budget = match time_budget.as_deref().map(|b| parse("--time-budget", b)).transpose() {
                Ok(b) => b.map(|d| std::time::Duration::from_micros(d.0)),
                Err(code) => return code,
            };
            if threads == Some(0) {
                return bad_input("--threads 0: expected at least 1 thread");
            }
            let import = match config.import() {
                Ok(i) => i,
                Err(code) => return code,
            };
            let (base, workload) = match &file {
                Some(f) => match inputs::load(f, import.as_ref(), crate::scenario::Needs::Nothing) {
                    Ok(sc) => {
                        let longest = sc.tests.iter().map(|t| t.duration.longest()).max().unwrap_or_default();
                        let w = crate::advise::Workload { tests: sc.tests.len(), duration: longest };
                        (sc, w)
                    }
                    Err(e) => {
                        output::warn_raw(&e.to_string());
                        return EXIT_BAD_INPUT;
                    }
                },
                None => match inputs::base(preset.as_deref(), import.as_ref()) {
                    Ok(sc) => (sc, crate::advise::Workload { tests: tests as usize, duration }),
                    Err(e) => return bad_input(&e),
                },
            };
            let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let opts = crate::advise::harden::Options { base, workload, cases, search_cases, seed, max_tests, threads };
            harden::harden(&opts, budget, out.as_deref())
        }
        Command::Replay { file, config, seed, driver, until, since, test, kind, health_at, json } => {
            match config.import() {
                Ok(import) => {
                    let filter = run::Filter { since, until, test, kinds: kind, health_at, json };
                    let again = config.again() + driver.flag();
                    run::replay(&file, import.as_ref(), &again, seed, driver, &filter)
                }
                Err(code) => code,
            }
        }
    }
}

/// Print a one-line message for bad input or usage and return its exit code.
fn bad_input(msg: &str) -> u8 {
    output::warn(msg);
    EXIT_BAD_INPUT
}
