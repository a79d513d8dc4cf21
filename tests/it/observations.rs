//! The model agrees with the real-Celery observations (tests/data/observations and its wave2/,
//! copied from shared/celery-observations): outcome, counts, the body's and each header task's
//! final state and executions, and time — within half a second, since real processes add tens of
//! milliseconds. Wave 2 is held to more: every execution start and poll within 0.5 s, and the
//! terminal time inside the range of the experiment's repeats, give or take max(0.5 s, 5 %).
//! Each observed scenario sets only what its experiment's setup says.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chordsim::check::Ending;
use chordsim::run::{RunResult, run};
use chordsim::scenario::Scenario;
use chordsim::trace::Note;
use chordsim::words::{TaskRef, TaskState};
use serde_json::Value;

const TIME_SLACK_S: f64 = 0.5;

/// Observations the model does not reproduce yet, each with what is missing (the fidelity
/// issue stays open while this list is not empty).
const NOT_REPRODUCED: &[(&str, &str)] = &[];

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/observations")
}

/// Every observation file, relative to tests/data/observations (`wave2/…` for wave 2).
fn observations() -> Vec<String> {
    let mut out = Vec::new();
    for (dir, prefix) in [(data(), ""), (data().join("wave2"), "wave2/")] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().to_string();
            if name.ends_with(".json") {
                out.push(format!("{prefix}{name}"));
            }
        }
    }
    out.sort();
    out
}

fn load(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(data().join(rel)).unwrap()).unwrap()
}

/// celery-5.5.3__01_all_pass__A.json → scenarios/observed/celery-5.5__01_all_pass__A.toml
fn scenario_for(rel: &str) -> PathBuf {
    let json_name = rel.rsplit('/').next().unwrap();
    let (version, rest) = json_name.strip_prefix("celery-").unwrap().split_once("__").unwrap();
    let minor: Vec<&str> = version.split('.').take(2).collect();
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/observed").join(format!(
        "celery-{}__{}",
        minor.join("."),
        rest.replace(".json", ".toml")
    ))
}

fn starts(r: &RunResult, task: TaskRef) -> Vec<f64> {
    r.trace
        .iter()
        .filter(|rec| matches!(&rec.note, Note::Started { task: t, .. } if *t == task))
        .map(|rec| rec.at.as_secs_f64())
        .collect()
}

/// When each execution's body began, as the experiments record it (the test function's first
/// line): after the pool's dispatch, and with task_track_started after STARTED is stored.
fn body_starts(r: &RunResult, sc: &Scenario, task: TaskRef) -> Vec<f64> {
    let overhead = sc.topology.task_overhead.as_secs_f64();
    let mut out = Vec::new();
    let mut waiting = false;
    for rec in &r.trace {
        match &rec.note {
            Note::Started { task: t, .. } if *t == task => {
                if sc.celery.track_started {
                    waiting = true;
                } else {
                    out.push(rec.at.as_secs_f64() + overhead);
                }
            }
            Note::Stored { task: t, state: TaskState::Started, .. } if *t == task && waiting => {
                waiting = false;
                out.push(rec.at.as_secs_f64() + overhead);
            }
            _ => {}
        }
    }
    out
}

/// The terminal times of the repeats of observations matching `same`.
fn terminal_times(all: &BTreeMap<String, Value>, same: impl Fn(&Value) -> bool) -> Vec<f64> {
    all.values()
        .filter(|o| same(o))
        .flat_map(|o| o["all_repeats"].as_array().unwrap().iter().filter_map(|r| r["time_to_terminal_s"].as_f64()))
        .collect()
}

/// Whether a case shows two timing modes: in some version, repeats of one variant whose
/// terminal times differ by more than the tolerance (max(0.5 s, 5 %)) a model run is checked
/// to: two timings this check tells apart, from one configuration. 19 does (a prefetched copy or
/// not); 16b does (a late copy's STARTED before or after its first copy's SUCCESS, 8 s apart);
/// 17 does (5.7 A: 1.65 and 2.25 s, the stop loop's k = 1 and k = 2 bands, docs/calibration.md).
/// Then either mode is accepted in every version.
fn two_modes(obs: &Value, all: &BTreeMap<String, Value>) -> bool {
    let versions: BTreeSet<&str> = all.values().filter_map(|o| o["celery_version"].as_str()).collect();
    versions.iter().any(|version| {
        ["A", "B", "C", "R"].iter().any(|variant| {
            let times = terminal_times(all, |o| {
                o["case"] == obs["case"] && o["variant"] == *variant && o["celery_version"] == *version
            });
            let (lo, hi) = times.iter().fold((f64::MAX, f64::MIN), |(l, h), t| (l.min(*t), h.max(*t)));
            !times.is_empty() && hi - lo > TIME_SLACK_S.max(0.05 * hi)
        })
    })
}

/// The repeats a model run may match: this experiment's, or for a case with two timing modes,
/// those of its variant in any version. Each is an observation file: its summary of every
/// repeat, and its one repeat observed field by field.
fn candidates<'a>(obs: &'a Value, all: &'a BTreeMap<String, Value>, modes: bool) -> Vec<&'a Value> {
    if !modes {
        return vec![obs];
    }
    let mut out = vec![obs];
    out.extend(
        all.values().filter(|o| o["case"] == obs["case"] && o["variant"] == obs["variant"] && !std::ptr::eq(*o, obs)),
    );
    out
}

fn check(rel: &str, all: &BTreeMap<String, Value>) -> Vec<String> {
    let obs = &all[rel];
    let sc = Scenario::load(&scenario_for(rel)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sc.horizon.as_secs_f64(),
        obs["observed_for_s"].as_f64().unwrap(),
        "{rel}: horizon = observation window"
    );
    let r = run(sc.clone(), None);
    let modes = two_modes(obs, all);
    let candidates = candidates(obs, all, modes);
    // All counts and times of one repeat: this one's, or another version's of the same mode.
    let tries: Vec<Vec<String>> = candidates.iter().map(|c| disagreements(rel, c, &r, all)).collect();
    // Or, for a case with two timing modes, a repeat known only by its summary: its status,
    // counts and terminal time (its polls and starts were not recorded).
    let summary =
        modes && candidates.iter().flat_map(|c| c["all_repeats"].as_array().unwrap()).any(|rep| summary_fits(rep, &r));
    let mut bad =
        if summary || tries.iter().any(Vec::is_empty) { Vec::new() } else { tries.into_iter().next().unwrap() };
    if rel.starts_with("wave2/") {
        // The terminal time inside the candidates' repeats, give or take the tolerance (a
        // summary that fits has checked its own).
        if let (false, Ending::Terminal { at, .. }) = (summary, r.verdict.ending) {
            let times = terminal_times(all, |x| candidates.iter().any(|c| std::ptr::eq(*c, x)));
            let (lo, hi) = times.iter().fold((f64::MAX, f64::MIN), |(l, h), t| (l.min(*t), h.max(*t)));
            let slack = TIME_SLACK_S.max(0.05 * hi);
            let at = at.as_secs_f64();
            if times.is_empty() || at < lo - slack || at > hi + slack {
                bad.push(format!("{rel}: terminal at {at:.3} s in the model, real repeats {times:?} (± {slack:.2} s)"));
            }
        }
        bad.extend(start_disagreements(rel, &r, &sc, all, modes));
    }
    bad
}

/// Whether the model run `r` has a repeat's status, counts and terminal time (within the
/// tolerance), all that `all_repeats` records of it.
fn summary_fits(repeat: &Value, r: &RunResult) -> bool {
    let v = &r.verdict;
    let (status, at) = match v.ending {
        Ending::Terminal { status, at } => (status.name().to_string(), Some(at.as_secs_f64())),
        Ending::Stuck => ("stuck (IN_PROGRESS)".to_string(), None),
    };
    let time_fits = match (repeat["time_to_terminal_s"].as_f64(), at) {
        (Some(real), Some(at)) => (real - at).abs() <= TIME_SLACK_S.max(0.05 * real),
        (None, None) => true,
        _ => false,
    };
    repeat["final_status"].as_str() == Some(status.as_str())
        && repeat["callback_runs"] == v.callback_runs
        && repeat["errback_runs"] == v.errback_runs
        && repeat["chord_unlock_runs"] == v.chord_unlock_runs
        && time_fits
}

/// Where the model run `r` of `rel`'s scenario disagrees with the repeat observed in `c`.
fn disagreements(rel: &str, c: &Value, r: &RunResult, all: &BTreeMap<String, Value>) -> Vec<String> {
    let o = &c["observed"];
    let wave2 = rel.starts_with("wave2/");
    let v = &r.verdict;
    let mut bad = Vec::new();
    let against = if std::ptr::eq(c, &all[rel]) {
        String::new()
    } else {
        format!(" (against Celery {} {})", c["celery_version"].as_str().unwrap(), c["variant"].as_str().unwrap())
    };
    let mut want = |what: &str, observed: String, model: String| {
        if observed != model {
            bad.push(format!("{rel}: {what}: real Celery {observed}, model {model}{against}"));
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
        // A test missing from header_executions ran 0 times.
        let real_runs = o["header_executions"].get(&t).map_or("0".to_string(), |x| x.to_string());
        want(&format!("{t} executions"), real_runs, runs.to_string());
    }
    let model_polls = starts(r, TaskRef::ChordUnlock);
    let real_polls: Vec<f64> =
        o["chord_unlock_times_s"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    if model_polls.len() == real_polls.len()
        && model_polls.iter().zip(&real_polls).any(|(m, r)| (m - r).abs() > TIME_SLACK_S)
    {
        bad.push(format!("{rel}: chord_unlock polled at {model_polls:?}, real Celery at {real_polls:?}"));
    }
    if !wave2
        && let (Some(real), Ending::Terminal { at, .. }) = (o["time_to_terminal_s"].as_f64(), v.ending)
        && (real - at.as_secs_f64()).abs() > TIME_SLACK_S
    {
        bad.push(format!("{rel}: terminal at {real} s in real Celery, {at} in the model"));
    }
    bad
}

/// Where each header task's execution starts in `r` disagree with this observation's, or, for
/// a case with two timing modes, with every observation of the case (a mode whose repeat was
/// observed field by field only in another variant: 19's prefetched copy).
fn start_disagreements(
    rel: &str,
    r: &RunResult,
    sc: &Scenario,
    all: &BTreeMap<String, Value>,
    modes: bool,
) -> Vec<String> {
    let obs = &all[rel];
    let candidates: Vec<&Value> =
        if modes { all.values().filter(|x| x["case"] == obs["case"]).collect() } else { vec![obs] };
    let mut bad = Vec::new();
    for i in 0..r.verdict.header_runs.len() {
        let t = format!("t{i}");
        let model = body_starts(r, sc, TaskRef::Header(i as u32));
        let fits = |c: &&Value| {
            let real: Vec<f64> = c["observed"]["header_execution_starts_s"]
                .get(&t)
                .and_then(Value::as_array)
                .map_or(Vec::new(), |a| a.iter().map(|x| x.as_f64().unwrap()).collect());
            real.len() == model.len() && real.iter().zip(&model).all(|(a, b)| (a - b).abs() <= TIME_SLACK_S)
        };
        if !candidates.iter().any(fits) {
            let real = &obs["observed"]["header_execution_starts_s"][&t];
            bad.push(format!("{rel}: {t} started at {model:?} in the model, {real} in real Celery"));
        }
    }
    bad
}

#[test]
fn the_model_reproduces_the_real_celery_observations() {
    let names = observations();
    assert_eq!(names.len(), 94, "the 46 observations of wave 1 and the 48 of wave 2");
    let all: BTreeMap<String, Value> = names.iter().map(|n| (n.clone(), load(n))).collect();
    let mut bad = Vec::new();
    let mut still_wrong = Vec::new();
    for n in &names {
        let known = NOT_REPRODUCED.iter().any(|(k, _)| k == n);
        if known {
            if scenario_for(n).exists() && check(n, &all).is_empty() {
                still_wrong.push(format!("{n} is reproduced now: take it off NOT_REPRODUCED"));
            }
            continue;
        }
        bad.extend(check(n, &all));
    }
    assert!(still_wrong.is_empty(), "{}", still_wrong.join("\n"));
    assert!(bad.is_empty(), "{} disagreements with real Celery:\n{}", bad.len(), bad.join("\n"));
}

/// The configuration an observation's setup gives: preset seed-doc (the base configuration of
/// every experiment), its settings and removals, the variant's topology, the workers, the
/// errback, the header and the faults; nothing else (no latency, overhead, boot time or seed).
fn configuration_from(obs: &Value) -> String {
    let s = &obs["setup"];
    let version: Vec<&str> = obs["celery_version"].as_str().unwrap().split('.').take(2).collect();
    let variant = obs["variant"].as_str().unwrap();
    let removed: Vec<&str> =
        s["settings_remove"].as_array().map_or(Vec::new(), |a| a.iter().map(|x| x.as_str().unwrap()).collect());
    let secs = |x: &Value| format!("\"{}s\"", x.as_f64().unwrap());
    let value = |v: &Value| -> String {
        match v {
            Value::Null => "\"none\"".into(),
            Value::Object(m) => {
                format!(
                    "{{ {} }}",
                    m.iter().map(|(k, x)| format!("{k} = {}", toml_of(x))).collect::<Vec<_>>().join(", ")
                )
            }
            other => toml_of(other),
        }
    };
    // Without task_annotations (05c removes them), the experiment's base is Celery's defaults
    // plus the base settings the observations README lists.
    let mut t = if removed.contains(&"task_annotations") {
        String::from("preset = \"celery-defaults\"\n[celery]\ntask_track_started = true\nresult_expires = 3600\n")
    } else {
        String::from("preset = \"seed-doc\"\n[celery]\n")
    };
    t.push_str(&format!("version = \"{}\"\n", version.join(".")));
    let mut annotations = String::new();
    for (k, v) in s["settings"].as_object().into_iter().flatten() {
        if k == "task_annotations" {
            for (task, attrs) in v.as_object().unwrap() {
                annotations.push_str(&format!("[celery.task_annotations.\"{task}\"]\n"));
                for (a, x) in attrs.as_object().unwrap() {
                    annotations.push_str(&format!("{a} = {}\n", value(x)));
                }
            }
        } else {
            t.push_str(&format!("{k} = {}\n", value(v)));
        }
    }
    t.push_str(&annotations);
    t.push_str("[topology]\n");
    if variant == "R" {
        t.push_str("broker = \"amqp\"\n");
    }
    t.push_str(if variant == "B" { "backend = \"database\"\n" } else { "backend = \"redis\"\n" });
    let workers: Vec<String> = s["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| format!("{{ concurrency = {}, start = {} }}", w["concurrency"], w["start"].as_bool().unwrap_or(true)))
        .collect();
    t.push_str(&format!("workers = [{}]\n[app]\n", workers.join(", ")));
    match s["errback"].as_str() {
        None => t.push_str("errback = \"none\"\n"),
        Some("inline") => t.push_str("errback = \"inline\"\n"),
        Some("task_plain") => t.push_str("errback = \"task\"\n"),
        // mark_run_failed_task(task_id, run_id=None) linked as .s(run_id=…) (observation 04b).
        Some(_) => t.push_str(
            "errback = \"task\"\nerrback_params = [\"task_id\", \"run_id=None\"]\nerrback_kwargs = [\"run_id\"]\n",
        ),
    }
    if let Some(b) = s["callback_behaviour"].as_str() {
        t.push_str(&format!("callback = \"{b}\"\n"));
    }
    let header = s["header"].as_array().unwrap();
    t.push_str(&format!("[run]\ntests = {}\n", header.len()));
    for (i, h) in header.iter().enumerate() {
        let outcome = match h["outcome"].as_str().unwrap() {
            "hard_overrun" => "pass",
            other => other,
        };
        t.push_str(&format!(
            "[[run.override]]\ntest = {i}\nduration = {}\noutcome = \"{outcome}\"\n",
            secs(&h["duration_s"])
        ));
        if outcome == "retry" {
            t.push_str(&format!(
                "fails = {}\ncountdown = {}\nmax_retries = {}\n",
                h["fails"],
                secs(&h["countdown"]),
                h["max_retries"]
            ));
        }
        for limit in ["time_limit", "soft_time_limit"] {
            if let Some(x) = s["task_limits"].get(limit) {
                t.push_str(&format!("{limit} = {}\n", secs(x)));
            }
        }
    }
    let faults = s["faults"].as_array().unwrap();
    // A start after a kill or a cold shutdown of the same worker is that fault's restart (a warm
    // shutdown's restart_after counts from when the worker exits, so its start stays a fault).
    let mut ends: BTreeMap<usize, f64> = BTreeMap::new();
    let mut restarts = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        if f["action"] == "start_worker" {
            let w = f["worker"].as_u64();
            let earlier = faults[..i].iter().rposition(|p| {
                p["action"] == "kill_worker"
                    && p["worker"].as_u64() == w
                    && p["signal"].as_str().unwrap_or("KILL") != "TERM"
            });
            if let Some(k) = earlier {
                ends.insert(k, f["at"].as_f64().unwrap());
                restarts.push(i);
            }
        }
    }
    for (i, f) in faults.iter().enumerate() {
        let action = f["action"].as_str().unwrap();
        if restarts.contains(&i) {
            continue;
        }
        if action == "start_backend" {
            continue;
        }
        t.push_str("[[fault]]\n");
        let w = f["worker"].as_u64().map(|w| format!("w{}", w + 1));
        let at = f["at"].as_f64().unwrap_or(0.0);
        match action {
            "kill_task_process" => {
                let test: usize = f["test_id"].as_str().unwrap()[1..].parse().unwrap();
                t.push_str(&format!("kind = \"kill_child\"\ntest = {test}\nafter_start = {}\n", secs(&f["delay_s"])));
                continue;
            }
            _ => t.push_str(&format!("at = \"{at}s\"\n")),
        }
        match action {
            "kill_worker" => {
                let (kind, group) = match f["signal"].as_str().unwrap_or("KILL") {
                    "TERM" => ("warm_shutdown", Some(f["group"].as_bool().unwrap_or(true))),
                    "QUIT" => ("cold_shutdown", Some(f["group"].as_bool().unwrap_or(true))),
                    _ => ("kill_worker", None),
                };
                t.push_str(&format!("kind = \"{kind}\"\nworker = \"{}\"\n", w.unwrap()));
                if let Some(g) = group {
                    t.push_str(&format!("group = {g}\n"));
                }
                if let Some(end) = ends.get(&i) {
                    t.push_str(&format!("restart_after = \"{}s\"\n", ((end - at) * 1000.0).round() / 1000.0));
                }
            }
            "start_worker" => t.push_str(&format!("kind = \"start_worker\"\nworker = \"{}\"\n", w.unwrap())),
            "revoke_test" => {
                let test: usize = f["test_id"].as_str().unwrap()[1..].parse().unwrap();
                t.push_str(&format!("kind = \"revoke\"\ntarget = \"test\"\ntest = {test}\n"));
            }
            "stop_backend" => {
                let back = faults[i..].iter().find(|p| p["action"] == "start_backend").unwrap()["at"].as_f64().unwrap();
                let lose = !f["keep_data"].as_bool().unwrap_or(false);
                t.push_str(&format!("kind = \"backend_outage\"\nduration = \"{}s\"\nlose_data = {lose}\n", back - at));
            }
            "pause_redis" | "debug_sleep" => {
                let d = f["ms"].as_f64().map_or_else(|| f["seconds"].as_f64().unwrap(), |ms| ms / 1000.0);
                // Variant A's broker and backend are one Redis server; B's backend is SQLite.
                let nodes = if variant == "A" { "[\"broker\", \"backend\"]" } else { "[\"broker\"]" };
                t.push_str(&format!("kind = \"stall\"\nnodes = {nodes}\nduration = \"{d}s\"\n"));
            }
            other => panic!("{other}: a fault this test does not know; add its mapping"),
        }
    }
    t
}

fn toml_of(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        other => panic!("{other}: not a setting value this test maps"),
    }
}

/// The scenario with only its configuration, written out: equal configurations, equal text.
fn configuration_text(sc: &Scenario) -> String {
    let mut sc = sc.clone();
    sc.name = String::new();
    sc.about = String::new();
    sc.expect = Some(chordsim::scenario::Expect::stuck());
    sc.preset = chordsim::scenario::Preset::CeleryDefaults;
    // Settings Celery defines but the model leaves alone (serializers, URLs) change nothing.
    sc.celery.inert.retain(|i| !chordsim::config::names::is_setting(&i.name));
    sc.to_toml()
}

#[test]
fn each_observed_scenario_sets_only_what_its_experiment_says() {
    let mut bad = Vec::new();
    for n in observations() {
        let path = scenario_for(&n);
        if !path.exists() {
            assert!(NOT_REPRODUCED.iter().any(|(k, _)| *k == n), "{n}: no scenario in scenarios/observed");
            continue;
        }
        let obs = load(&n);
        let shipped = Scenario::load(&path).unwrap();
        let text = format!(
            "name = \"x\"\nabout = \"x\"\nhorizon = \"{}s\"\n{}[expect]\nstatus = \"stuck\"\n",
            obs["observed_for_s"].as_f64().unwrap(),
            configuration_from(&obs)
        );
        let derived = Scenario::parse("derived.toml", &text).unwrap_or_else(|e| panic!("{n}: {e}\n{text}"));
        if configuration_text(&shipped) != configuration_text(&derived) {
            bad.push(format!(
                "{n}:\n--- shipped\n{}\n--- from the setup\n{}",
                configuration_text(&shipped),
                configuration_text(&derived)
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
}

#[test]
fn the_stop_loop_race_lands_on_every_band_real_celery_showed_including_5_5_r() {
    // 5.5 R's one run failed its tests in the stop loop's rarest band, k = 0; the default seed
    // lands on k = 2, which the observation test accepts as a mode case 17 shows (5.7 A). The
    // race itself must reach every band, and 5.5 R's own times: all four FAILUREs and Failed
    // within the tolerance of the observation.
    let rel = "wave2/celery-5.5.3__17_warm_shutdown_running__R.json";
    let o = &load(rel)["observed"];
    let real_terminal = o["time_to_terminal_s"].as_f64().unwrap();
    let sc = Scenario::load(&scenario_for(rel)).unwrap();
    let mut bands = BTreeSet::new();
    let mut reproduced = None;
    for seed in 1..=200 {
        let r = run(sc.clone(), Some(seed));
        let Ending::Terminal { at, .. } = r.verdict.ending else { panic!("seed {seed}: stuck") };
        let after_signal = at.as_secs_f64() - 1.0;
        // 0.5·k s after the loop starts (10–70 ms after the signal), plus the reaping: the
        // bands real Celery showed at about 0.1, 0.6 and 1.15 s (docs/calibration.md).
        let k = ((after_signal - 0.1) / 0.5).round() as i64;
        let off = after_signal - (0.1 + 0.5 * k as f64);
        assert!((0..=2).contains(&k) && off.abs() < 0.15, "seed {seed}: Failed {after_signal:.3} s after the signal");
        bands.insert(k);
        if reproduced.is_none() && (at.as_secs_f64() - real_terminal).abs() <= TIME_SLACK_S && k == 0 {
            reproduced = Some((seed, r));
        }
    }
    assert_eq!(bands, BTreeSet::from([0, 1, 2]), "the bands the seeds reach");
    let (seed, r) = reproduced.expect("a seed on 5.5 R's band");
    assert_eq!(r.verdict.header_states, vec![TaskState::Failure; 4], "seed {seed}");
    assert_eq!((r.verdict.errback_runs, r.verdict.callback_runs, r.verdict.chord_unlock_runs), (1, 0, 0));
}

#[test]
fn a_late_copys_race_lands_either_way_on_both_versions_mostly_slow_on_5_5_and_fast_on_5_7() {
    // 16b, 24 real runs per version (tools/boot-race): 5.5 waited for a late copy's SUCCESS in
    // 23, 5.7 in 2. 5.5 writes STARTED over the SUCCESS whenever a late copy writes after its
    // first copy; 5.7's guard skips it unless the SUCCESS commits between the late copy's read
    // and its write (docs/celery-source-notes.md §12). Which comes first is a race of a few
    // milliseconds that the seeds decide (sessions set up in 128–147 ms, each write's own work):
    // every seed lands on one ending or the other, both endings are reachable on both versions,
    // and each version's common ending is the common one here too.
    let endings = |version: &str| {
        let sc = Scenario::load(&scenario_for(&format!(
            "wave2/celery-{version}__16b_late_worker_redelivers_unlimited_unlock__B.json"
        )))
        .unwrap();
        let (mut slow, mut fast) = (0, 0);
        for seed in 1..=100 {
            let r = run(sc.clone(), Some(seed));
            let Ending::Terminal { at, .. } = r.verdict.ending else { panic!("{version} seed {seed}: stuck") };
            match r.verdict.chord_unlock_runs {
                // The first poll after the first copies end (8.3–9.3 s real).
                6..=8 if at.as_secs_f64() < 10.0 => fast += 1,
                // The poll after the late copy's SUCCESS, 8 s later (16.2–16.4 s real).
                14..=15 if at.as_secs_f64() > 16.0 => slow += 1,
                n => panic!("{version} seed {seed}: {n} polls, terminal at {at}"),
            }
        }
        (slow, fast)
    };
    let (slow, fast) = endings("5.5.3");
    assert!(slow >= 70 && fast >= 1, "5.5: slow in {slow} seeds, fast in {fast}");
    let (slow, fast) = endings("5.7.0");
    assert!(fast >= 70 && slow >= 1, "5.7: slow in {slow} seeds, fast in {fast}");
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
    for sub in ["", "wave2"] {
        let names = |dir: &Path| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .filter(|n| n.ends_with(".json"))
                .collect();
            v.sort();
            v
        };
        let (theirs, ours) = (shared.join(sub), data().join(sub));
        assert_eq!(names(&theirs), names(&ours), "the same observation files in {sub:?}");
        for n in names(&theirs) {
            assert_eq!(
                std::fs::read(theirs.join(&n)).unwrap(),
                std::fs::read(ours.join(&n)).unwrap(),
                "{sub}/{n} drifted"
            );
        }
    }
}
