//! `chordsim harden`: its suggestion, applied, makes explore on 20,000 cases find nothing, and
//! removing any one change makes it find something again (on two configurations); the answer
//! does not depend on the number of threads; the CLI prints it in the user's terms.

use std::process::Command;

use chordsim::advise::Workload;
use chordsim::advise::harden::{Options, harden, with};
use chordsim::explore::{self, Stop};
use chordsim::scenario::{Preset, Scenario};
use chordsim::time::SimDuration;

fn opts(preset: Preset, cases: u64, threads: usize) -> Options {
    Options {
        base: Scenario::from_preset(preset),
        workload: Workload { tests: 10, duration: SimDuration::from_secs(60) },
        cases,
        search_cases: 2_000,
        seed: 1,
        max_tests: 12,
        threads,
    }
}

/// Explore `sc` on `cases` cases as harden judges it.
fn failures(sc: Scenario, cases: u64) -> u64 {
    let o = explore::Options {
        base: sc,
        cases,
        seed: 1,
        shard: (1, 1),
        max_tests: 12,
        threads: 4,
        shrink_runs: 0,
        config: None,
        policy_endings_fail: true,
    };
    explore::explore(&o, &Stop::new(), &|| {}).failed
}

#[test]
fn the_suggestion_leaves_nothing_to_find_and_every_change_is_needed() {
    for preset in [Preset::SeedDoc, Preset::Rhesis] {
        let o = opts(preset, 20_000, 4);
        let h = harden(&o, &Stop::new(), &|_| {});
        assert!(h.before.failed > 0, "{}: something to fix", preset.name());
        assert!(h.complete(), "{}: {:?}", preset.name(), h.after.found.first().map(|f| &f.signature));
        let changes: Vec<_> = h.changes.iter().map(|n| n.change.clone()).collect();
        assert_eq!(failures(with(&o.base, &changes), 20_000), 0, "{}: applied, nothing is found", preset.name());
        for i in 0..changes.len() {
            let mut without = changes.clone();
            let c = without.remove(i);
            assert!(failures(with(&o.base, &without), 20_000) > 0, "{}: {c:?} is needed", preset.name());
            assert!(!h.changes[i].without.found.is_empty(), "a scenario that needs {c:?}");
        }
    }
}

#[test]
fn the_answer_does_not_depend_on_the_number_of_threads() {
    let answer = |threads| {
        let h = harden(&opts(Preset::CeleryDefaults, 3_000, threads), &Stop::new(), &|_| {});
        let changes: Vec<_> = h.changes.iter().map(|n| (n.change.clone(), n.without.failed)).collect();
        (changes, h.before.failed, h.after.failed, h.explorations)
    };
    assert_eq!(answer(1), answer(3));
}

/// The hardened preset is harden's answer for Celery's defaults and the default workload.
#[test]
fn the_hardened_preset_is_what_harden_prints_for_the_default_workload() {
    let h = harden(&opts(Preset::CeleryDefaults, 20_000, 4), &Stop::new(), &|_| {});
    let changes: Vec<_> = h.changes.iter().map(|n| n.change.clone()).collect();
    let answer = with(&Scenario::from_preset(Preset::CeleryDefaults), &changes);
    let hardened = Scenario::from_preset(Preset::Hardened);
    // The same configuration, written out, apart from the preset's name.
    let text = |sc: &Scenario| {
        sc.to_toml()
            .lines()
            .filter(|l| !l.starts_with("preset") && !l.starts_with("name") && !l.starts_with("about"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(text(&answer), text(&hardened));
}

#[test]
fn a_configuration_with_nothing_to_find_needs_no_change() {
    let h = harden(&opts(Preset::Hardened, 5_000, 4), &Stop::new(), &|_| {});
    assert_eq!(h.before.failed, 0);
    assert!(h.changes.is_empty() && h.complete());
}

#[test]
fn the_cli_prints_the_changes_as_app_conf_and_toml_and_writes_what_needs_them() {
    let dir = std::env::temp_dir().join(format!("chordsim-harden-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_chordsim"))
        .args(["harden", "--preset", "celery-defaults", "--cases", "3000", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("each needed:"), "{text}");
    assert!(text.contains("app.conf:\n") && text.contains("scenario TOML:\n"), "{text}");
    assert!(text.contains("app.conf.task_acks_late = True"), "{text}");
    // What explore does not count, lint still names.
    assert!(text.contains("lint still finds, with these changes: acks_late_without_reject_on_worker_lost"), "{text}");
    let written: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!written.is_empty());
    // Each written scenario replays to what it recorded.
    for f in &written {
        let run = Command::new(env!("CARGO_BIN_EXE_chordsim")).arg("run").arg(f).output().unwrap();
        assert_eq!(run.status.code(), Some(0), "{}", f.display());
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_chordsim")).args(["harden", "--preset", "nope"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
