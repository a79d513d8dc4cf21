//! `chordsim check`: a question needs no expectation; `--seeds` says how often; faults given a
//! time range land where each seed draws them.

use std::process::{Command, Output};

use chordsim::scenario::{Needs, Scenario};
use chordsim::time::SimTime;

fn chordsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chordsim")).current_dir(env!("CARGO_MANIFEST_DIR")).args(args).output().unwrap()
}

/// A question file in a fresh folder.
fn question(tag: &str, text: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("chordsim-check-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("q.toml");
    std::fs::write(&f, text).unwrap();
    (dir, f)
}

/// Five tests of 1–20 s; a worker killed (acks late, restarted) at some time in the first 40 s.
/// A kill while tests run leaves the polling chord_unlock's message unacked with a one-hour
/// visibility timeout (§9 table, row 2): stuck. A kill after the last poll found the header
/// ready changes nothing: Completed.
const KILL_SOMETIME: &str = r#"[celery]
task_acks_late = true
[topology]
backend = "database"
[run]
tests = 5
duration = "1s..20s"
[[fault]]
at = "1s..40s"
kind = "kill_worker"
worker = "w1"
restart_after = "10s"
"#;

#[test]
fn a_question_needs_no_expectation_but_run_still_does() {
    let ok = "[run]\ntests = 2\nduration = \"1s\"\n";
    let (dir, f) = question("plain", ok);
    let out = chordsim(&["check", f.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("scenario: q ("), "the name is the file's: {stdout}");
    assert!(stdout.contains("\ntimeline (summary; `chordsim replay` prints it whole):\n"), "{stdout}");
    assert!(stdout.contains("\nok: terminal, every safety property intact\n"), "{stdout}");
    let out = chordsim(&["run", f.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "run keeps requiring about and [expect]: {stderr}");
    assert!(stderr.contains("about: missing") && stderr.contains("expect: missing"), "{stderr}");
    // Stuck is "not ok": exit 1, with the cause.
    std::fs::write(&f, "[run]\ntests = 2\noutcome = \"hang\"\n").unwrap();
    let out = chordsim(&["check", f.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("not ok (terminal, every safety property intact):\n  - stuck: "), "{stdout}");
    let out = chordsim(&["check", f.to_str().unwrap(), "--json"]);
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["data"]["ok"], false);
    assert_eq!(first["data"]["ok_means"], "terminal_and_safe");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn seeds_say_how_often_and_group_the_stuck_runs_by_cause() {
    let (dir, f) = question("seeds", KILL_SOMETIME);
    let args = ["check", f.to_str().unwrap(), "--seeds", "60"];
    let out = chordsim(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let outcomes = stdout.lines().find(|l| l.starts_with("outcomes: ")).unwrap();
    let count = |what: &str| -> u64 {
        outcomes
            .split(", ")
            .find_map(|p| p.trim_start_matches("outcomes: ").strip_prefix(what)?.trim().parse().ok())
            .unwrap_or(0)
    };
    let (done, stuck) = (count("Completed"), count("stuck"));
    assert_eq!(done + stuck, 60, "{outcomes}");
    assert!(
        done > 0 && stuck > 0,
        "a kill somewhere in 1–40 s lands both before and after the header ends: {outcomes}"
    );
    assert!(stdout.contains("time to terminal ("), "{stdout}");
    assert!(stdout.contains(&format!("not ok in {stuck} of 60 runs, by cause:")), "{stdout}");
    assert!(stdout.contains("first: chordsim check "), "{stdout}");
    assert_eq!(chordsim(&args).stdout, out.stdout, "the same seeds, the same answer");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_fault_range_is_drawn_per_seed_inside_it_and_written_back_as_a_range() {
    let sc = Scenario::parse_with("q.toml", KILL_SOMETIME, None, Needs::Nothing).unwrap();
    let (lo, hi) = (
        SimTime::ZERO + chordsim::time::SimDuration::from_secs(1),
        SimTime::ZERO + chordsim::time::SimDuration::from_secs(40),
    );
    assert_eq!((sc.faults[0].at, sc.faults[0].until), (lo, Some(hi)));
    let mut times = std::collections::BTreeSet::new();
    for seed in 1..=20 {
        let mut s = sc.clone();
        s.seed = seed;
        let drawn = s.clone().draw();
        assert!((lo..=hi).contains(&drawn.faults[0].at) && drawn.faults[0].until.is_none());
        assert_eq!(drawn.faults[0].at, s.draw().faults[0].at, "a seed draws one time");
        times.insert(drawn.faults[0].at);
    }
    assert!(times.len() > 15, "seeds spread the kill: {times:?}");
    let text = sc.to_toml();
    assert!(text.contains("at = \"1s..40s\""), "{text}");
    let again = Scenario::parse_with("again.toml", &text, None, Needs::Nothing).unwrap();
    assert_eq!(again.faults, sc.faults);
    // A range reaching past the horizon might never happen: refused.
    let past = KILL_SOMETIME.replace("[run]", "horizon = \"30s\"\n[run]");
    let past = format!("horizon = \"30s\"\n{}", past.replace("horizon = \"30s\"\n[run]", "[run]"));
    let e = Scenario::parse_with("q.toml", &past, None, Needs::Nothing).unwrap_err().to_string();
    assert!(e.contains("at 40s is not before the horizon (30s)"), "{e}");
}

#[test]
fn a_long_tailed_duration_has_the_median_and_p99_it_was_given() {
    use chordsim::scenario::DurationSpec;
    use chordsim::time::SimDuration;
    let spec = DurationSpec::LongTail { median: SimDuration::from_secs(30), p99: SimDuration::from_secs(600) };
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(7);
    let mut d: Vec<u64> = (0..20_000).map(|_| spec.draw(&mut rng).0).collect();
    d.sort();
    let (median, p99) = (d[d.len() / 2] as f64 / 1e6, d[d.len() * 99 / 100] as f64 / 1e6);
    assert!((28.5..31.5).contains(&median), "median {median}");
    assert!((510.0..690.0).contains(&p99), "p99 {p99}");
    assert!(d[0] > 0 && (d[d.len() - 1] as f64) <= 600e6 * 100.0, "clamped to 100 × p99");
}

#[test]
fn rates_draw_outcomes_per_seed_for_the_tests_no_override_names() {
    let text = "[run]\ntests = 4000\nrates = { raise = 0.05, hang = 0.01 }\n[[run.override]]\ntest = 0\noutcome = \"fail_status\"\n";
    let sc = Scenario::parse_with("q.toml", text, None, Needs::Nothing).unwrap();
    let drawn = sc.clone().draw();
    let count = |o: chordsim::scenario::Outcome| drawn.tests.iter().filter(|t| t.outcome == o).count();
    let (raise, hang) = (count(chordsim::scenario::Outcome::Raise), count(chordsim::scenario::Outcome::Hang));
    assert!((140..260).contains(&raise), "5 % of 4000: {raise}");
    assert!((20..65).contains(&hang), "1 % of 4000: {hang}");
    assert_eq!(drawn.tests[0].outcome, chordsim::scenario::Outcome::FailStatus, "an override keeps its outcome");
    assert_eq!(sc.clone().draw().tests, drawn.tests, "one seed, one draw");
    let mut other = sc.clone();
    other.seed = 2;
    assert_ne!(other.draw().tests, drawn.tests, "another seed, another draw");
    let again = Scenario::parse_with("again.toml", &sc.to_toml(), None, Needs::Nothing).unwrap();
    assert_eq!((again.tests.clone(), again.rates.clone()), (sc.tests.clone(), sc.rates.clone()), "{}", sc.to_toml());
}

#[test]
fn bad_rates_and_tails_are_refused_with_what_is_expected() {
    for (run, says) in [
        ("rates = { raise = 0.7, hang = 0.5 }", "the rates add up to 1.2; expected at most 1"),
        ("rates = { explode = 0.1 }", "not an outcome; expected one of: pass, "),
        ("rates = { raise = 2 }", "expected a probability from 0 to 1, found 2"),
        ("duration = { median = \"30s\" }", "a long-tailed duration needs `p99`"),
        ("duration = { median = \"30s\", p99 = \"10s\" }", "p99 10s is below the median 30s"),
        ("duration = { median = \"30s\", p99 = \"1m\", p50 = \"1s\" }", "unknown field; expected one of: median, p99"),
    ] {
        let text = format!("[run]\ntests = 3\n{run}\n");
        let e = Scenario::parse_with("q.toml", &text, None, Needs::Nothing).unwrap_err().to_string();
        assert!(e.starts_with("q.toml:3:"), "{run}: {e}");
        assert!(e.contains(says), "{run}: {e}");
    }
    let e = Scenario::parse_with(
        "q.toml",
        "[run]\ntests = 1\n[[fault]]\nat = { median = \"1s\", p99 = \"2s\" }\nkind = \"cancel_run\"\n",
        None,
        Needs::Nothing,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("fault[0].at: expected a time such as \"10s\", or a range \"10m..2h\""), "{e}");
}

fn check_stdin(args: &[&str], text: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_chordsim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["check", "-"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}

/// The answers people read, as snapshots: one run (root cause first, the header summary, the
/// timeline summary, the verdict) and a distribution over seeds.
#[test]
fn the_answers_read_as_reviewed() {
    insta::assert_snapshot!("check_one_run", check_stdin(&["--seed", "3"], KILL_SOMETIME));
    insta::assert_snapshot!("check_forty_seeds", check_stdin(&["--seeds", "40"], KILL_SOMETIME));
}

/// A fault given `every` recurs from `at` to the horizon, gaps drawn per seed (a Poisson
/// process): production's kills come at a rate, not on a schedule.
#[test]
fn a_recurring_fault_comes_at_a_rate_drawn_per_seed() {
    let text = "horizon = \"2h\"\n[run]\ntests = 1\n[[fault]]\nat = \"5m\"\nevery = \"10m\"\nkind = \"kill_worker\"\nworker = \"w1\"\nrestart_after = \"30s\"\n";
    let sc = Scenario::parse_with("q.toml", text, None, Needs::Nothing).unwrap();
    let mut counts = Vec::new();
    for seed in 1..=200 {
        let mut s = sc.clone();
        s.seed = seed;
        let drawn = s.clone().draw();
        assert_eq!(
            drawn.faults[0].at,
            SimTime::ZERO + chordsim::time::SimDuration::from_secs(300),
            "the first comes at `at`"
        );
        assert!(drawn.faults.iter().all(|f| f.every.is_none() && f.at < SimTime::ZERO + sc.horizon));
        assert!(drawn.faults.windows(2).all(|w| w[0].at <= w[1].at));
        assert_eq!(drawn.faults, s.draw().faults, "a seed draws one schedule");
        counts.push(drawn.faults.len());
    }
    // 115 minutes at one every 10: 1 + about 11.5 on average.
    let mean = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
    assert!((11.0..14.0).contains(&mean), "{mean}");
    assert!(counts.iter().min() < counts.iter().max(), "seeds differ: {counts:?}");
    let again = Scenario::parse_with("again.toml", &sc.to_toml(), None, Needs::Nothing).unwrap();
    assert_eq!(again.faults, sc.faults);
    let e = Scenario::parse_with(
        "q.toml",
        &text.replace("kill_worker\"\nworker = \"w1\"\nrestart_after = \"30s\"", "cancel_run\""),
        None,
        Needs::Nothing,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("a cancel_run happens once; expected `every` only on"), "{e}");
    // check --seeds answers how often a run survives that rate.
    let body = text.replace("horizon = \"2h\"\n", "").replace("tests = 1", "tests = 20\nduration = \"1m..10m\"");
    let (dir, f) = question(
        "every",
        &format!("horizon = \"2h\"\n[celery]\ntask_acks_late = true\n[topology]\nbackend = \"database\"\n{body}"),
    );
    let out = chordsim(&["check", f.to_str().unwrap(), "--seeds", "20"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("outcomes: "));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn replay_reads_a_question_too() {
    let (dir, f) = question("replay", "[run]\ntests = 1\n");
    let out = chordsim(&["replay", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\ntimeline:\n"));
    std::fs::remove_dir_all(&dir).unwrap();
}
