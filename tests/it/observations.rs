//! The model agrees with every real-Celery observation (tests/data/observations, copied from
//! shared/celery-observations): outcome, counts, the body's and each header task's final state,
//! executions, and — within half a second, since real processes add tens of milliseconds —
//! when the run ended and when chord_unlock polled.

use std::path::Path;

use chordsim::check::Ending;
use chordsim::model::TaskRef;
use chordsim::run::run;
use chordsim::scenario::Scenario;
use chordsim::trace::Note;
use serde_json::Value;

const TIME_SLACK_S: f64 = 0.5;

fn scenario_for(json_name: &str) -> std::path::PathBuf {
    // celery-5.5.3__01_all_pass__A.json → scenarios/observed/celery-5.5__01_all_pass__A.toml
    let (version, rest) = json_name.strip_prefix("celery-").unwrap().split_once("__").unwrap();
    let minor: Vec<&str> = version.split('.').take(2).collect();
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/observed").join(format!(
        "celery-{}__{}",
        minor.join("."),
        rest.replace(".json", ".toml")
    ))
}

fn check(path: &Path) -> Vec<String> {
    let obs: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let o = &obs["observed"];
    let name = path.file_name().unwrap().to_str().unwrap();
    let sc = Scenario::load(&scenario_for(name)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sc.horizon.as_secs_f64(),
        obs["observed_for_s"].as_f64().unwrap(),
        "{name}: horizon = observation window"
    );
    let r = run(sc, None);
    let v = &r.verdict;
    let mut bad = Vec::new();
    let mut want = |what: &str, observed: String, model: String| {
        if observed != model {
            bad.push(format!("{name}: {what}: real Celery {observed}, model {model}"));
        }
    };
    let status = match v.ending {
        Ending::Terminal { status, .. } => status.name().to_string(),
        Ending::Stuck => "stuck (IN_PROGRESS)".to_string(),
    };
    want("final status", o["final_status"].as_str().unwrap().to_string(), status);
    for key in ["callback_runs", "errback_runs", "chord_unlock_runs"] {
        let model = match key {
            "callback_runs" => v.callback_runs,
            "errback_runs" => v.errback_runs,
            _ => v.chord_unlock_runs,
        };
        want(key, o[key].to_string(), model.to_string());
    }
    want("body state", o["body_state"].as_str().unwrap().to_string(), v.body_state.name().to_string());
    for (i, (state, runs)) in v.header_states.iter().zip(&v.header_runs).enumerate() {
        let t = format!("t{i}");
        want(
            &format!("{t} final state"),
            o["header_final_states"][&t].as_str().unwrap().to_string(),
            state.name().to_string(),
        );
        want(&format!("{t} executions"), o["header_executions"][&t].to_string(), runs.to_string());
    }
    if let (Some(real), Ending::Terminal { at, .. }) = (o["time_to_terminal_s"].as_f64(), v.ending)
        && (real - at.as_secs_f64()).abs() > TIME_SLACK_S
    {
        bad.push(format!("{name}: terminal at {real} s in real Celery, {at} in the model"));
    }
    let polls: Vec<f64> = r
        .trace
        .iter()
        .filter(|rec| matches!(rec.note, Note::Started { task: TaskRef::ChordUnlock, .. }))
        .map(|rec| rec.at.as_secs_f64())
        .collect();
    let real: Vec<f64> = o["chord_unlock_times_s"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    if polls.len() == real.len() && polls.iter().zip(&real).any(|(m, r)| (m - r).abs() > TIME_SLACK_S) {
        bad.push(format!("{name}: chord_unlock polled at {polls:?}, real Celery at {real:?}"));
    }
    bad
}

#[test]
fn the_model_reproduces_every_real_celery_observation() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/observations");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 46, "the 46 recorded observations");
    let bad: Vec<String> = files.iter().flat_map(|f| check(f)).collect();
    assert!(bad.is_empty(), "{} disagreements with real Celery:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn the_recorded_observations_are_the_shared_ones() {
    // shared/ sits beside the project in every checkout this team and CI use; the copy kept
    // in tests/data (so the observation test needs nothing outside the repository) must not
    // have drifted from it in either direction. Elsewhere there is nothing to compare.
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/celery-observations");
    if !shared.is_dir() {
        eprintln!("no ../shared/celery-observations here; drift not checked");
        return;
    }
    let names = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".json"))
            .collect();
        v.sort();
        v
    };
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/observations");
    assert_eq!(names(&shared), names(&ours), "the same observation files");
    for n in names(&shared) {
        assert_eq!(std::fs::read(shared.join(&n)).unwrap(), std::fs::read(ours.join(&n)).unwrap(), "{n} drifted");
    }
}
