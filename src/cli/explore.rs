//! `chordsim explore` and `chordsim explore merge`. Arguments and `--out` are checked before any
//! case runs. SIGINT, SIGTERM and SIGHUP stop the exploration and keep what was found; a second
//! signal stops shrinking too, and what was found is written as far as it was shrunk. Each
//! counterexample is written whole or not at all, with `explore.json` beside them.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::output::{Stdout, warn, warn_raw, writable_dir, write_atomic};
use super::{EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_MISSED, EXIT_OK, ExploreArgs, bad_input};
use crate::explore::{self, Options, Stop, manifest};
use crate::report::{json, junit};
use crate::time::parse_duration;

/// Without `--time-budget`, an exploration projected to take longer than this says so.
const LONG: Duration = Duration::from_secs(600);

/// Where the shard index comes from with `--shards N`: Kubernetes Indexed Jobs set it, 0-based.
const JOB_INDEX: &str = "JOB_COMPLETION_INDEX";

pub fn explore(a: ExploreArgs) -> u8 {
    if a.cases == 0 {
        return bad_input("--cases 0: expected at least 1 case");
    }
    if a.max_tests == 0 || a.max_tests > 200 {
        return bad_input("--max-tests: expected 1 to 200");
    }
    if a.threads == Some(0) {
        return bad_input("--threads 0: expected at least 1 thread");
    }
    let shard = match shard(a.shard.as_deref(), a.shards, std::env::var(JOB_INDEX).ok().as_deref()) {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    let budget = match a.time_budget.as_deref().map(parse_duration).transpose() {
        Ok(b) => b.map(|d| Duration::from_micros(d.0)),
        Err(forms) => return bad_input(&format!("--time-budget: expected {forms}")),
    };
    let import = match a.config.import() {
        Ok(i) => i,
        Err(code) => return code,
    };
    let base = match super::inputs::base(a.preset.as_deref(), import.as_ref()) {
        Ok(b) => b,
        Err(e) => {
            warn_raw(&e);
            return EXIT_BAD_INPUT;
        }
    };
    for w in &base.warnings {
        warn_raw(&w.to_string());
    }
    if let Err(e) = writable_dir(&a.out) {
        return bad_input(&format!("--out {e}"));
    }
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // Counterexamples are named after the configuration explored, when one was imported.
    let config = import.as_ref().map(|i| {
        let stem = Path::new(&i.file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        stem.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
    });
    let opts = Options {
        base,
        cases: a.cases,
        seed: a.seed,
        shard,
        max_tests: a.max_tests,
        threads,
        shrink_runs: 400,
        config,
        policy_endings_fail: false,
    };

    let stop = Arc::new(Stop::new());
    let signals = Arc::new(AtomicU32::new(0));
    {
        let (stop, signals) = (stop.clone(), signals.clone());
        // A second handler cannot be installed in the same process; ignore that (tests).
        let _ = ctrlc::set_handler(move || {
            if signals.fetch_add(1, Ordering::SeqCst) == 0 {
                stop.stop_cases();
                warn("stopping: no new cases; shrinking what was found (a second signal stops shrinking)");
            } else {
                stop.stop_shrinking();
                warn("stopping shrinking: writing what was found as it is");
            }
        });
    }
    let in_shard = explore::shard_size(a.cases, shard);
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
    let started = Instant::now();
    let estimated = AtomicBool::new(false);
    let tick = || {
        bar.inc(1);
        let elapsed = started.elapsed();
        if budget.is_some_and(|b| elapsed >= b) {
            stop.stop_cases();
        }
        if elapsed >= Duration::from_secs(1) && !estimated.swap(true, Ordering::Relaxed) {
            let done = bar.position().max(1);
            let rate = done as f64 / elapsed.as_secs_f64();
            let projected = Duration::from_secs_f64((in_shard as f64 / rate).min(1e12));
            if projected > budget.unwrap_or(LONG) {
                let line = format!(
                    "chordsim: {in_shard} cases at {rate:.0} cases/s: estimate {} to explore them all{}; Ctrl-C stops early and keeps what was found",
                    human(projected),
                    budget.map_or(String::new(), |b| format!(", beyond the --time-budget of {}", human(b)))
                );
                bar.suspend(|| warn_raw(&line));
            }
        }
    };
    let report = explore::explore(&opts, &stop, &tick);
    bar.finish_and_clear();
    let seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;

    let record = manifest::of(&opts, &report);
    let mut lines = Vec::new();
    let mut failed_write = None;
    for (f, m) in report.found.iter().zip(&record.failures) {
        let path = a.out.join(&m.file);
        // The configuration explored, then only the lines that differ from it.
        let mut text = match &import {
            Some(i) => format!(
                "# Found under the configuration of {}: run it with\n#   chordsim run {}{}\n",
                i.file,
                path.display(),
                a.config.again()
            ),
            None => String::new(),
        };
        text.push_str(&f.minimal.to_toml_over(&opts.base));
        if let Err(e) = write_atomic(&path, text.as_bytes()) {
            failed_write.get_or_insert(e);
            continue;
        }
        let (tests, faults) = (f.minimal.tests.len(), f.minimal.faults.len());
        if a.json {
            #[derive(serde::Serialize)]
            struct Line<'a> {
                file: String,
                signature: &'a str,
                first_case: u64,
                cases: u64,
                tests: usize,
                faults: usize,
                shrunk: bool,
            }
            let line = Line {
                file: path.display().to_string(),
                signature: &f.signature,
                first_case: f.case,
                cases: f.count,
                tests,
                faults,
                shrunk: f.shrunk,
            };
            lines.push(json::line("found", &line));
        } else {
            let partly = if f.shrunk { "" } else { ", partly shrunk" };
            lines.push(format!(
                "{} ({} cases; minimal: {tests} tests, {faults} faults{partly})\n    {}",
                path.display(),
                f.count,
                f.signature
            ));
        }
    }
    if failed_write.is_none()
        && let Err(e) = write_atomic(&a.out.join(manifest::FILE), record.to_json().as_bytes())
    {
        failed_write = Some(e);
    }
    if failed_write.is_none()
        && let Some(path) = &a.junit
    {
        let files: Vec<String> = record.failures.iter().map(|m| a.out.join(&m.file).display().to_string()).collect();
        let misses: Vec<[String; 1]> =
            report.found.iter().map(|f| [format!("{} ({} cases)", f.signature, f.count)]).collect();
        let share = seconds / report.found.len().max(1) as f64;
        let mut cases: Vec<junit::Case<'_>> = report
            .found
            .iter()
            .zip(&files)
            .zip(&misses)
            .map(|((f, file), missed)| junit::Case {
                file,
                name: &f.signature,
                misses: missed,
                cause: &f.verdict.cause,
                replay: format!("chordsim run {file}"),
                seconds: share,
            })
            .collect();
        let none = format!("{} cases of preset {}: no failure", report.ran, opts.base.preset.name());
        if cases.is_empty() {
            cases.push(junit::Case {
                file: "explore",
                name: &none,
                misses: &[],
                cause: &[],
                replay: String::new(),
                seconds,
            });
        }
        if let Err(e) = write_atomic(path, junit::render("chordsim explore", &cases).as_bytes()) {
            failed_write = Some(format!("--junit {e}"));
        }
    }
    if let Some(e) = failed_write {
        return bad_input(&e);
    }
    let shard_text = format!("{}/{}", shard.0, shard.1);
    if a.json {
        #[derive(serde::Serialize)]
        struct Summary {
            format_version: u32,
            preset: &'static str,
            seed: u64,
            shard: String,
            threads: usize,
            cases_run: u64,
            cases_failed: u64,
            distinct_failures: usize,
            interrupted: bool,
            shrinking_stopped: bool,
            seconds: f64,
        }
        let s = Summary {
            format_version: json::FORMAT_VERSION,
            preset: opts.base.preset.name(),
            seed: a.seed,
            shard: shard_text,
            threads,
            cases_run: report.ran,
            cases_failed: report.failed,
            distinct_failures: report.found.len(),
            interrupted: report.interrupted,
            shrinking_stopped: report.shrinking_stopped,
            seconds,
        };
        lines.push(json::line("summary", &s));
    } else {
        lines.push(format!(
            "\nexplored {} cases of {} (seed {}, shard {shard_text}) in {seconds}s: {} failed, {} distinct, written to {}{}{}",
            report.ran,
            match &import {
                Some(i) => format!("{} over preset {}", i.file, opts.base.preset.name()),
                None => format!("preset {}", opts.base.preset.name()),
            },
            a.seed,
            report.failed,
            report.found.len(),
            a.out.display(),
            if report.interrupted { " (stopped early)" } else { "" },
            if report.shrinking_stopped { " (shrinking stopped)" } else { "" },
        ));
    }
    let mut out = Stdout::new();
    for l in lines {
        out.line(&l);
    }
    let code = if signals.load(Ordering::SeqCst) > 0 {
        EXIT_INTERRUPTED
    } else if report.found.is_empty() {
        EXIT_OK
    } else {
        EXIT_MISSED
    };
    out.finish(code)
}

/// The shard to run: `--shard I/N`, or `--shards N` with the 0-based index from
/// [`JOB_INDEX`], or the whole exploration.
fn shard(shard: Option<&str>, shards: Option<u64>, job_index: Option<&str>) -> Result<(u64, u64), String> {
    if let Some(text) = shard {
        let bad = || format!("--shard {text}: expected I/N with 1 <= I <= N, such as 2/4");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (i, n): (u64, u64) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if i == 0 || n == 0 || i > n {
            return Err(bad());
        }
        return Ok((i, n));
    }
    let Some(n) = shards else { return Ok((1, 1)) };
    if n == 0 {
        return Err("--shards 0: expected at least 1 shard".to_string());
    }
    let text = job_index.ok_or_else(|| {
        format!("--shards {n} needs {JOB_INDEX} (0-based, as Kubernetes Indexed Jobs set it); or give --shard I/N")
    })?;
    let index: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{JOB_INDEX}={text:?}: expected a whole number from 0 to {}", n - 1))?;
    if index >= n {
        return Err(format!("{JOB_INDEX}={index} with --shards {n}: expected an index from 0 to {}", n - 1));
    }
    Ok((index + 1, n))
}

/// What explore explores: the preset (`--preset`, else the configuration file's own `preset`,
/// else celery-defaults) under the imported configuration.
/// `1h13m`, `4m5s`, `12s`: a wall-clock duration as a person reads it.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (days, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m{sec}s"),
        (0, _, _) => format!("{h}h{m}m"),
        (d, _, _) if d >= 365 => format!("{} years", d / 365),
        _ => format!("{days}d{h}h"),
    }
}

/// `chordsim explore merge DIR… --out DIR`.
pub fn merge(dirs: &[PathBuf], out: &Path) -> u8 {
    let mut manifests = Vec::new();
    for d in dirs {
        let path = d.join(manifest::FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                return bad_input(&format!("{}: {e} (is {} an explore output folder?)", path.display(), d.display()));
            }
        };
        match serde_json::from_str::<manifest::Manifest>(&text) {
            Ok(m) if m.format_version == manifest::FORMAT_VERSION => manifests.push(m),
            Ok(m) => {
                return bad_input(&format!(
                    "{}: format_version {}; expected {}",
                    path.display(),
                    m.format_version,
                    manifest::FORMAT_VERSION
                ));
            }
            Err(e) => return bad_input(&format!("{}: not an explore manifest: {e}", path.display())),
        }
    }
    let (merged, from) = match manifest::merge(&manifests) {
        Ok(m) => m,
        Err(e) => return bad_input(&format!("explore merge: {e}")),
    };
    if out.exists() && std::fs::read_dir(out).map_or(true, |mut r| r.next().is_some()) {
        return bad_input(&format!("--out {}: expected an empty or new folder", out.display()));
    }
    if let Err(e) = writable_dir(out) {
        return bad_input(&format!("--out {e}"));
    }
    for (f, &i) in merged.failures.iter().zip(&from) {
        let src = dirs[i].join(&f.file);
        let bytes = match std::fs::read(&src) {
            Ok(b) => b,
            Err(e) => return bad_input(&format!("{}: {e}", src.display())),
        };
        if let Err(e) = write_atomic(&out.join(&f.file), &bytes) {
            return bad_input(&e);
        }
    }
    if let Err(e) = write_atomic(&out.join(manifest::FILE), merged.to_json().as_bytes()) {
        return bad_input(&e);
    }
    let mut stdout = Stdout::new();
    stdout.line(&format!(
        "merged {} shards: {} cases, {} failed, {} distinct, written to {}",
        manifests.len(),
        merged.cases_run,
        merged.cases_failed,
        merged.failures.len(),
        out.display()
    ));
    stdout.finish(if merged.failures.is_empty() { EXIT_OK } else { EXIT_MISSED })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_come_from_the_flag_or_the_job_index() {
        assert_eq!(shard(Some("2/4"), None, None), Ok((2, 4)));
        assert_eq!(shard(None, None, Some("3")), Ok((1, 1)), "no --shards: the index is not read");
        assert_eq!(shard(None, Some(4), Some("0")), Ok((1, 4)));
        assert_eq!(shard(None, Some(4), Some("3")), Ok((4, 4)));
        assert!(shard(None, Some(4), Some("4")).unwrap_err().contains("from 0 to 3"));
        assert!(shard(None, Some(4), None).unwrap_err().contains(JOB_INDEX));
        assert!(shard(None, Some(4), Some("x")).is_err());
        assert!(shard(Some("0/2"), None, None).is_err());
    }

    #[test]
    fn wall_clock_durations_read_as_a_person_says_them() {
        assert_eq!(human(Duration::from_secs(12)), "12s");
        assert_eq!(human(Duration::from_secs(245)), "4m5s");
        assert_eq!(human(Duration::from_secs(4431)), "1h13m");
        assert_eq!(human(Duration::from_secs(3 * 86_400 + 7200)), "3d2h");
        assert_eq!(human(Duration::from_secs(800 * 86_400)), "2 years");
    }
}
