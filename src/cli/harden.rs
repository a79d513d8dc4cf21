//! `chordsim harden`: the smallest set of changes under which `explore` finds nothing for a
//! configuration, printed as an `app.conf` snippet and TOML lines, each with the scenario that
//! needs it (written with `--out`). Exit 0 when the suggestion is complete, 1 when the search
//! could not make explore find nothing (or was stopped), 2 on bad input.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use super::output::{Stdout, write_atomic};
use super::{EXIT_MISSED, EXIT_OK, bad_input};
use crate::advise::harden::{Hardening, Options, harden as search, with};
use crate::advise::lint::lint;
use crate::advise::render;
use crate::explore::{Report, Stop, file_name};

pub fn harden(opts: &Options, budget: Option<Duration>, out_dir: Option<&Path>) -> u8 {
    if let Some(dir) = out_dir
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return bad_input(&format!("--out {}: {e}", dir.display()));
    }
    let bar = if std::io::stderr().is_terminal() {
        let style =
            indicatif::ProgressStyle::with_template("{elapsed_precise} {spinner} {msg}").expect("a valid template");
        let bar = indicatif::ProgressBar::new_spinner().with_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let stop = Stop::new();
    // Wall-clock time only bounds how long the command runs; it never reaches the model.
    let started = Instant::now();
    let h = search(opts, &stop, &|what| {
        if budget.is_some_and(|b| started.elapsed() >= b) {
            stop.stop_cases();
        }
        bar.set_message(what.to_string());
    });
    bar.finish_and_clear();
    let mut out = Stdout::new();
    out.print(&text(opts, &h, started.elapsed()));
    if let Some(dir) = out_dir {
        // The scenario that needs each change, and what the suggestion still fails.
        let needs =
            h.changes.iter().filter_map(|n| Some((format!("Needs {}", n.change.python()), n.without.found.first()?)));
        let left = h.after.found.iter().map(|f| ("Still fails with every change".to_string(), f));
        for (why, f) in needs.chain(left) {
            let prefix = if why.starts_with("Needs") { "needs" } else { "still-fails" };
            let path = dir.join(format!("{prefix}-{}", file_name(f, None)));
            let mut sc = f.minimal.clone();
            sc.about = format!("{why}: {}", sc.about);
            if let Err(e) = write_atomic(&path, sc.to_toml().as_bytes()) {
                return out.finish(bad_input(&format!("{}: {e}", path.display())));
            }
            out.line(&format!("wrote {}", path.display()));
        }
    }
    out.finish(if h.complete() { EXIT_OK } else { EXIT_MISSED })
}

/// The answer as a person reads it.
pub fn text(opts: &Options, h: &Hardening, took: Duration) -> String {
    let b = &opts.base;
    let mut s = format!(
        "chordsim harden: {} (Celery {}, {} broker, {} backend), {} cases per exploration (seed {}, up to {} tests), {} explorations in {:.1}s\n",
        if b.file.is_empty() { format!("preset {}", b.preset.name()) } else { b.file.clone() },
        b.celery.version,
        b.topology.broker.name(),
        b.topology.backend.name(),
        opts.cases,
        opts.seed,
        opts.max_tests,
        h.explorations,
        took.as_secs_f64()
    );
    s.push_str(&format!("as it is: {}\n", summary(&h.before)));
    if h.changes.is_empty() {
        s.push_str(if h.before.failed == 0 { "nothing to change\n" } else { "no change found that helps\n" });
        return s;
    }
    let plural = if h.changes.len() == 1 { "" } else { "s" };
    s.push_str(&if h.complete() {
        format!("\n{} change{plural}, each needed:\n", h.changes.len())
    } else {
        format!("\n{} change{plural} found, but explore still finds something with all of them:\n", h.changes.len())
    });
    for n in &h.changes {
        s.push_str(&format!("  {}\n", n.change.python()));
        s.push_str(&format!("      without it: {}\n", summary(&n.without)));
    }
    s.push_str(&format!(
        "\nwith all of them: {}{}\n",
        summary(&h.after),
        if h.stopped { " (stopped early: the search did not finish)" } else { "" }
    ));
    let changes: Vec<_> = h.changes.iter().map(|n| n.change.clone()).collect();
    let (python, toml) = render(&changes);
    s.push_str(&format!("\napp.conf:\n{python}\n\nscenario TOML:\n{toml}"));
    // What explore does not ask for (a Failed run is terminal) lint may still name.
    let left = lint(&with(&opts.base, &changes), opts.workload);
    if !left.is_empty() {
        // Worst first, as lint orders them; a hazard found several times (one per key) once.
        let mut named: Vec<(&str, usize)> = Vec::new();
        for h in &left {
            match named.iter_mut().find(|(id, _)| *id == h.id) {
                Some((_, n)) => *n += 1,
                None => named.push((h.id, 1)),
            }
        }
        let ids: Vec<String> =
            named.iter().map(|(id, n)| if *n > 1 { format!("{id} ×{n}") } else { id.to_string() }).collect();
        s.push_str(&format!(
            "\nlint still finds, with these changes: {} (explore counts none of them: a Failed run is terminal, a setting that does nothing breaks nothing; `chordsim lint` says why)\n",
            ids.join(", ")
        ));
    }
    s
}

fn summary(r: &Report) -> String {
    if r.failed == 0 {
        return format!("{} cases, nothing found", r.ran);
    }
    // The most common failure (the earliest of equals), as explore signs it.
    let most = r.found.iter().max_by_key(|f| (f.count, std::cmp::Reverse(f.case)));
    // Its shrunk scenario's own words: the signature blanks the numbers out.
    let first = most.map_or(String::new(), |f| {
        let (ending, rest) = f.signature.split_once(" [").unwrap_or((&f.signature, ""));
        let broken = rest.split_once(']').map_or("", |(p, _)| p);
        let cause = f.verdict.cause.iter().find(|c| !c.starts_with("root cause: ")).or(f.verdict.cause.first());
        let what = match (cause, broken.is_empty()) {
            (Some(c), true) => c.clone(),
            (Some(c), false) => format!("breaks {broken}; {c}"),
            (None, _) => format!("breaks {broken}"),
        };
        format!("; most often ({} cases): {ending}: {what}", f.count)
    });
    format!("{} of {} cases fail, {} distinct{first}", r.failed, r.ran, r.found.len())
}
