//! `chordsim explore`: finds known failures, shrinks them, writes files that replay, and gives
//! the same answer whatever the thread count or sharding.

use std::collections::BTreeSet;
use std::process::Command;

use chordsim::check::misses;
use chordsim::explore::{Options, Report, Stop, explore};
use chordsim::run::run;
use chordsim::scenario::{Preset, Scenario};

use super::base;

fn opts(preset: Preset, cases: u64, threads: usize, shard: (u64, u64)) -> Options {
    Options {
        base: base(preset),
        cases,
        seed: 1,
        shard,
        max_tests: 12,
        threads,
        shrink_runs: 400,
        config: None,
        policy_endings_fail: false,
    }
}

fn go(o: &Options) -> Report {
    explore(o, &Stop::new(), &|| {})
}

#[test]
fn seed_doc_gives_up_within_1000_cases_and_shrinks_to_at_most_2_tests_and_1_fault() {
    let r = go(&opts(Preset::SeedDoc, 1000, 2, (1, 1)));
    let give_up = r
        .found
        .iter()
        .find(|f| f.signature.contains("chord_unlock retries exhausted"))
        .expect("the chord_unlock give-up is found");
    assert!(give_up.minimal.tests.len() <= 2, "{} tests", give_up.minimal.tests.len());
    assert!(give_up.minimal.faults.len() <= 1, "{} faults", give_up.minimal.faults.len());
    assert!(give_up.minimal.about.contains("max_retries=3 from task_annotations['celery.chord_unlock']"));
}

#[test]
fn every_counterexample_replays_to_the_same_verdict() {
    for preset in [Preset::SeedDoc, Preset::Rhesis, Preset::CeleryDefaults] {
        let r = go(&opts(preset, 300, 2, (1, 1)));
        assert!(!r.found.is_empty());
        for f in &r.found {
            let text = f.minimal.to_toml();
            let sc = Scenario::parse("found.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let v = run(sc.clone(), None).verdict;
            assert_eq!(misses(&v, sc.expect.as_ref()), Vec::<String>::new(), "{}", f.signature);
            assert_eq!(chordsim::explore::signature(&v), f.signature);
        }
    }
}

#[test]
fn the_result_does_not_depend_on_the_thread_count() {
    let key = |r: &Report| r.found.iter().map(|f| (f.case, f.count, f.minimal.to_toml())).collect::<Vec<_>>();
    let one = go(&opts(Preset::Rhesis, 300, 1, (1, 1)));
    let four = go(&opts(Preset::Rhesis, 300, 4, (1, 1)));
    assert_eq!((one.ran, one.failed), (four.ran, four.failed));
    assert_eq!(key(&one), key(&four));
}

#[test]
fn shards_together_find_what_one_run_finds() {
    let whole = go(&opts(Preset::CeleryDefaults, 300, 2, (1, 1)));
    let parts: Vec<Report> = (1..=3).map(|i| go(&opts(Preset::CeleryDefaults, 300, 2, (i, 3)))).collect();
    assert_eq!(parts.iter().map(|p| p.ran).sum::<u64>(), whole.ran);
    assert_eq!(parts.iter().map(|p| p.failed).sum::<u64>(), whole.failed);
    let sigs = |r: &Report| r.found.iter().map(|f| f.signature.clone()).collect::<BTreeSet<_>>();
    let union: BTreeSet<String> = parts.iter().flat_map(sigs).collect();
    assert_eq!(union, sigs(&whole));
}

#[test]
fn hardened_survives_the_generated_fault_model() {
    let r = go(&opts(Preset::Hardened, 1000, 2, (1, 1)));
    assert_eq!(r.ran, 1000);
    assert_eq!(r.failed, 0, "{:?}", r.found.iter().map(|f| &f.signature).collect::<Vec<_>>());
}

fn chordsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_chordsim")).current_dir(env!("CARGO_MANIFEST_DIR")).args(args).output().unwrap()
}

#[test]
fn explore_rejects_bad_arguments_with_one_line_and_exit_2() {
    for args in [
        &["explore", "--preset", "paranoid"][..],
        &["explore", "--shard", "3/2"],
        &["explore", "--shard", "0/2"],
        &["explore", "--cases", "0"],
        &["explore", "--config", "no/such/file.toml"],
        &["explore", "--time-budget", "soon"],
    ] {
        let out = chordsim(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn explore_writes_files_and_reports_json_and_exit_codes() {
    let dir = std::env::temp_dir().join(format!("chordsim-explore-{}", std::process::id()));
    let d = dir.to_str().unwrap();
    let out = chordsim(&["explore", "--preset", "seed-doc", "--cases", "50", "--out", d, "--json"]);
    assert_eq!(out.status.code(), Some(1), "failures found");
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["data"]["cases_run"], 50);
    let files = super::toml_files(&dir);
    assert_eq!(files as u64, summary["data"]["distinct_failures"].as_u64().unwrap());
    let replay = chordsim(&["run", d]);
    assert_eq!(replay.status.code(), Some(0), "{}", String::from_utf8_lossy(&replay.stdout));
    let clean = chordsim(&["explore", "--preset", "hardened", "--cases", "50", "--out", d, "--json"]);
    assert_eq!(clean.status.code(), Some(0), "nothing found");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ctrl_c_stops_cleanly_with_exit_130_keeping_what_was_found() {
    let dir = std::env::temp_dir().join(format!("chordsim-interrupt-{}", std::process::id()));
    let child = Command::new(env!("CARGO_BIN_EXE_chordsim"))
        .args(["explore", "--preset", "seed-doc", "--cases", "100000000", "--json", "--out", dir.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let text = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(summary["data"]["interrupted"], true);
    assert!(summary["data"]["cases_run"].as_u64().unwrap() > 0);
    assert!(super::toml_files(&dir) > 0, "what was found is kept");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn explore_writes_junit_one_failing_case_per_distinct_failure() {
    let dir = std::env::temp_dir().join(format!("chordsim-explore-junit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let xml = dir.join("junit.xml");
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&dir).unwrap();
    let out = chordsim(&[
        "explore",
        "--preset",
        "seed-doc",
        "--cases",
        "40",
        "--threads",
        "1",
        "--out",
        out_dir.to_str().unwrap(),
        "--junit",
        xml.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "seed-doc gives up polling: {}", String::from_utf8_lossy(&out.stderr));
    let doc = std::fs::read_to_string(&xml).unwrap();
    let found = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "toml"))
        .count();
    assert!(found > 0);
    assert_eq!(doc.matches("<testcase ").count(), found, "{doc}");
    assert_eq!(doc.matches("<failure ").count(), found, "{doc}");
    assert!(doc.contains("<testsuite name=\"chordsim explore\""), "{doc}");
    assert!(doc.contains("chordsim run "), "each failure says how to rerun its counterexample");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_counterexample_holds_only_what_differs_from_its_configuration() {
    // Every shipped scenario, written over its preset's configuration, reads back the same.
    for f in super::shipped() {
        let sc = Scenario::load(&f).unwrap();
        let base = Scenario::from_preset(sc.preset);
        let text = sc.to_toml_over(&base);
        let again = Scenario::parse("again.toml", &text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", f.display()));
        assert_eq!(again.to_toml(), sc.to_toml(), "{}:\n{text}", f.display());
        assert!(text.lines().count() < sc.to_toml().lines().count(), "{}", f.display());
    }
}

#[test]
fn exploring_an_imported_configuration_names_and_writes_counterexamples_over_it() {
    let dir = std::env::temp_dir().join(format!("chordsim-explore-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out_dir = dir.join("out");
    let conf = "tests/data/config/inspect-conf.json";
    let out = chordsim(&[
        "explore",
        "--config",
        conf,
        "--celery-version",
        "5.5",
        "--cases",
        "30",
        "--threads",
        "1",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("cases of {conf} over preset celery-defaults")));
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    assert!(!files.is_empty());
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("inspect-conf-"), "named after the configuration: {name}");
        let text = std::fs::read_to_string(f).unwrap();
        assert!(text.starts_with(&format!("# Found under the configuration of {conf}: run it with\n")), "{text}");
        assert!(!text.contains("\n[celery]\n"), "the configuration is the imported one: {text}");
        let run = chordsim(&["run", f.to_str().unwrap(), "--config", conf, "--celery-version", "5.5"]);
        assert_eq!(run.status.code(), Some(0), "it replays as found: {}", String::from_utf8_lossy(&run.stdout));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One generated case in eight adds an operator policy that revokes or purges (the stuck-chord
/// crons), drawn from its own stream; the rest keep the configuration's policies alone.
#[test]
fn generated_cases_include_operator_policies() {
    let base = base(Preset::SeedDoc);
    let with: usize =
        (0..400).filter(|&i| chordsim::explore::generate(&base, 1, i, 12).policies.len() > base.policies.len()).count();
    assert!((25..=75).contains(&with), "{with} of 400 cases have a generated policy");
    // They act: on seed-doc's polling backend, some of them revoke chord_unlock or purge the
    // queues, and the cause chain says so.
    let acted = (0..400)
        .map(|i| chordsim::explore::generate(&base, 1, i, 12))
        .filter(|sc| sc.policies.len() > base.policies.len())
        .map(|sc| run(sc, None).verdict)
        .filter(|v| v.cause.iter().any(|c| c.contains("revoked chord_unlock") || c.contains("purged")))
        .count();
    assert!(acted > 0, "no generated policy acted in 400 cases");
}
