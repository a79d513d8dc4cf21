//! `chordsim lint`: every hazard is found where the configuration has it, shown by its generated
//! scenario, taken away by its fix, and absent once the fix is applied; seed-doc's top finding
//! is chord_unlock giving up after about 4 s; exit codes 1, 0 and 2.

use std::path::Path;
use std::process::Command;

use chordsim::advise::Workload;
use chordsim::advise::lint::{Hazard, lint};
use chordsim::scenario::import::{Flags, Import};
use chordsim::scenario::{Preset, Scenario};
use chordsim::time::SimDuration;

fn config(file: &str) -> Scenario {
    let import = Import::load(Path::new(&format!("tests/data/lint/{file}")), &Flags::default()).unwrap();
    Scenario::from_preset_with(Preset::CeleryDefaults, Some(&import)).unwrap()
}

fn ids(hazards: &[Hazard]) -> Vec<&'static str> {
    hazards.iter().map(|h| h.id).collect()
}

const LONG: Workload = Workload { tests: 10, duration: SimDuration::from_secs(20 * 60) };
const SHORT: Workload = Workload { tests: 10, duration: SimDuration::from_secs(60) };

/// Each configuration with the hazards its settings predict (the rule is in each hazard's why).
fn cases() -> Vec<(String, Scenario, Workload, Vec<&'static str>)> {
    vec![
        (
            "seed-doc".into(),
            Scenario::from_preset(Preset::SeedDoc),
            SHORT,
            // max_retries=3 from the annotation; no errback, no limit; 10 tests on 6 slots;
            // five keys that do nothing (celery-semantics §10).
            vec![
                "chord_unlock_gives_up",
                "no_errback",
                "no_time_limit",
                "tests_delay_polls",
                "inert_setting",
                "inert_setting",
                "inert_setting",
                "inert_setting",
                "inert_setting",
            ],
        ),
        (
            "rhesis".into(),
            Scenario::from_preset(Preset::Rhesis),
            SHORT,
            // rhesis-model §d: acks_late without reject_on_worker_lost, no errback, the header's
            // limits in an annotation whose key never matches (so no limit either).
            vec![
                "no_errback",
                "no_time_limit",
                "acks_late_without_reject_on_worker_lost",
                "annotation_matches_no_task",
            ],
        ),
        (
            "database-ignore-result".into(),
            config("database-ignore-result.toml"),
            LONG,
            vec!["ignore_result_on_polling"],
        ),
        (
            "fix-chords-on-database".into(),
            config("fix-chords-on-database.toml"),
            LONG,
            vec!["policy_revokes_chord_unlock"],
        ),
        ("polls-for-ever".into(), config("polls-for-ever.toml"), LONG, vec!["no_time_limit", "polls_for_ever"]),
        (
            // A scenario file read as a configuration: its fix_chords policy comes along, and
            // each other hazard is shown without it.
            "fix-chords-revokes-long-run".into(),
            {
                let path = Path::new("scenarios/operators/fix-chords-revokes-long-run.toml");
                let import = Import::load(path, &Flags::default()).unwrap();
                Scenario::from_preset_with(Preset::CeleryDefaults, Some(&import)).unwrap()
            },
            Workload { tests: 3, duration: SimDuration::from_secs(150 * 60) },
            vec!["policy_revokes_chord_unlock", "no_errback", "no_time_limit", "polls_for_ever"],
        ),
        (
            "short-expiry-long-visibility".into(),
            config("short-expiry-long-visibility.toml"),
            LONG,
            vec![
                "result_expires_before_run_ends",
                "visibility_timeout_below_test_duration",
                "time_limit_above_visibility_timeout",
                "eta_beyond_visibility_timeout",
            ],
        ),
    ]
}

#[test]
fn every_configuration_has_the_hazards_its_settings_predict() {
    for (name, sc, w, want) in cases() {
        assert_eq!(ids(&lint(&sc, w)), want, "{name}");
    }
}

#[test]
fn every_demonstration_shows_its_hazard_and_its_fixed_variant_does_not() {
    let mut shown = std::collections::BTreeSet::new();
    for (name, sc, w, _) in cases() {
        for h in lint(&sc, w) {
            let Some((shows, gone)) = h.demonstrate() else { continue };
            assert!(shows, "{name}: {}'s scenario does not show it", h.id);
            match (&h.fix, gone) {
                (Some(_), Some(gone)) => assert!(gone, "{name}: {}'s fix does not take it away", h.id),
                (None, None) => {}
                other => panic!("{name}: {}: {other:?}", h.id),
            }
            shown.insert(h.id);
        }
    }
    // Every hazard with a scenario is demonstrated by at least one configuration.
    let all = [
        "chord_unlock_gives_up",
        "policy_revokes_chord_unlock",
        "result_expires_before_run_ends",
        "no_errback",
        "no_time_limit",
        "acks_late_without_reject_on_worker_lost",
        "visibility_timeout_below_test_duration",
        "time_limit_above_visibility_timeout",
        "eta_beyond_visibility_timeout",
        "ignore_result_on_polling",
        "polls_for_ever",
        "tests_delay_polls",
    ];
    assert_eq!(shown.into_iter().collect::<Vec<_>>(), {
        let mut a = all.to_vec();
        a.sort();
        a
    });
}

#[test]
fn a_hazard_is_gone_once_its_fix_is_applied() {
    for (name, sc, w, _) in cases() {
        for h in lint(&sc, w) {
            let Some(fix) = &h.fix else { continue };
            let mut fixed = sc.clone();
            fix.apply(&mut fixed);
            assert!(!ids(&lint(&fixed, w)).contains(&h.id), "{name}: {} after {fix:?}", h.id);
        }
    }
}

/// Lint finds more than explore's properties ask for: the hardened preset (harden's answer)
/// has acks_late without reject_on_worker_lost, which leaves a run terminal but Failed after a
/// child dies; nothing else.
#[test]
fn the_hardened_preset_has_only_the_hazard_harden_does_not_need_to_fix() {
    for w in [SHORT, LONG] {
        assert_eq!(
            ids(&lint(&Scenario::from_preset(Preset::Hardened), w)),
            vec!["acks_late_without_reject_on_worker_lost"]
        );
    }
    let mut fixed = Scenario::from_preset(Preset::Hardened);
    chordsim::advise::Change::RejectOnWorkerLost.apply(&mut fixed);
    assert_eq!(ids(&lint(&fixed, SHORT)), Vec::<&str>::new());
}

#[test]
fn seed_docs_top_finding_is_chord_unlock_giving_up_after_about_4s() {
    let h =
        &lint(&Scenario::from_preset(Preset::SeedDoc), Workload { tests: 3, duration: SimDuration::from_secs(5) })[0];
    assert_eq!(h.id, "chord_unlock_gives_up");
    assert!(h.bound.starts_with("gives up after 4s (1s + 3 × 1s)"), "{}", h.bound);
    // A header shorter than that is no hazard.
    let short =
        lint(&Scenario::from_preset(Preset::SeedDoc), Workload { tests: 3, duration: SimDuration::from_secs(3) });
    assert!(!ids(&short).contains(&"chord_unlock_gives_up"));
}

#[test]
fn lint_exits_1_with_hazards_0_without_and_2_on_bad_input_and_writes_runnable_scenarios() {
    let bin = env!("CARGO_BIN_EXE_chordsim");
    let clean = "tests/data/lint/clean.toml";
    let out = Command::new(bin).args(["lint", clean]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no hazard found"));
    let dir = std::env::temp_dir().join(format!("chordsim-lint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(bin).args(["lint", "--preset", "seed-doc", "--out"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1. chord_unlock_gives_up"), "{text}");
    // The written scenario is a question `check` answers: not ok as written, ok once fixed.
    let check = |f: &str| Command::new(bin).args(["check"]).arg(dir.join(f)).output().unwrap().status.code();
    assert_eq!(check("02-no-errback.toml"), Some(1));
    assert_eq!(check("02-no-errback-fixed.toml"), Some(0));
    for bad in [
        vec!["lint", "--preset", "nope"],
        vec!["lint", "--preset", "seed-doc", "--duration", "soon"],
        vec!["lint", "tests/data/invalid/malformed-toml.toml"],
    ] {
        let out = Command::new(bin).args(&bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
