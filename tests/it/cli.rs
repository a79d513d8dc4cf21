//! The command line: exit codes, the table, JSON Lines, replay.

use std::process::{Command, Output};

fn chordsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chordsim")).current_dir(env!("CARGO_MANIFEST_DIR")).args(args).output().unwrap()
}

#[test]
fn run_with_no_paths_runs_the_shipped_scenarios_and_exits_0() {
    let out = chordsim(&["run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("scenario"), "a table with a header");
    let last = stdout.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    assert_eq!(stdout.lines().filter(|l| l.ends_with(" yes")).count(), super::shipped().len());
    // Within 120 columns, by wrapping, never by cutting: every file is there whole.
    assert!(stdout.lines().all(|l| l.chars().count() <= 120), "{stdout}");
    for f in super::shipped() {
        assert!(stdout.contains(&f.display().to_string()), "{}", f.display());
    }
}

#[test]
fn a_missed_expectation_exits_1_and_says_what_was_missed() {
    let (dir, f) = super::wrong_expectation("cli");
    let out = chordsim(&["run", f.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("expected Completed, got stuck"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_lines_have_an_envelope_and_a_summary() {
    let out = chordsim(&["run", "scenarios/brief", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[..3].iter().all(|l| l["type"] == "scenario" && l["data"]["verdict"]["ending"]["kind"].is_string()));
    let summary = &lines[3];
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["data"]["format_version"], 4);
    assert_eq!(summary["data"]["passed"], 3);
    assert!(lines[..3].iter().all(|l| l["data"]["ok_means"] == "expectation"), "shipped files carry [expect]");
}

#[test]
fn seed_override_is_reported_and_replayable() {
    let out = chordsim(&["replay", "scenarios/brief/subtask-returns-none.toml", "--seed", "42"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("seed: 42"));
    assert!(stdout.trim_end().ends_with("replay: chordsim replay scenarios/brief/subtask-returns-none.toml --seed 42"));
}

#[test]
fn replay_prints_the_cause_chain_and_the_timeline_up_to_until() {
    let out = chordsim(&["replay", "scenarios/brief/worker-killed-early-ack.toml", "--until", "6s"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("cause:"));
    assert!(stdout.contains("acked on receipt"), "the cause names the early ack:\n{stdout}");
    assert!(stdout.contains("FAULT SIGKILL worker w1"));
    assert!(!stdout.contains("HEAL start worker w1"), "the restart at 15 s is after --until");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(chordsim(&["run", "no/such/dir"]).status.code(), Some(2));
    assert_eq!(chordsim(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        chordsim(&["replay", "scenarios/brief/subtask-returns-none.toml", "--until", "soon"]).status.code(),
        Some(2)
    );
    assert_eq!(chordsim(&["--help"]).status.code(), Some(0));
}

#[test]
fn replay_filters_the_timeline_by_test_time_and_kind() {
    let f = "scenarios/observed/celery-5.5__06_kill_worker_acks_early__A.toml";
    let whole = chordsim(&["replay", f]);
    let timeline = |out: &Output| -> Vec<String> {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let start = text.find("\ntimeline:\n").unwrap() + "\ntimeline:\n".len();
        text[start..].lines().take_while(|l| !l.is_empty()).map(str::to_string).collect()
    };
    let all = timeline(&whole);
    let t1 = timeline(&chordsim(&["replay", f, "--test", "1"]));
    assert!(!t1.is_empty() && t1.len() < all.len());
    assert!(t1.iter().all(|l| l.contains("test 1")), "{t1:#?}");
    let faults = timeline(&chordsim(&["replay", f, "--kind", "fault,status"]));
    assert!(
        faults.iter().all(|l| l.contains("FAULT") || l.contains("HEAL") || l.contains("run status")),
        "{faults:#?}"
    );
    assert!(faults.iter().any(|l| l.contains("FAULT")));
    let late = timeline(&chordsim(&["replay", f, "--since", "2s", "--until", "30s"]));
    assert!(
        late.iter().all(|l| {
            let t: f64 = l.split_whitespace().next().unwrap().trim_end_matches('s').parse().unwrap_or(0.0);
            (2.0..=30.0).contains(&t)
        }),
        "{late:#?}"
    );
    for bad in [&["--kind", "nope"][..], &["--test", "99"], &["--since", "soon"]] {
        let out = chordsim(&[&["replay", f][..], bad].concat());
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(!out.stderr.is_empty());
    }
}
