//! Bad input gets one clear message — file, line:column, the field, what was expected — and
//! exit code 2; never a panic, never a partial run. Includes generated garbage.

use std::path::Path;
use std::process::Command;

use chordsim::scenario::Scenario;
use proptest::prelude::*;

/// (file, field named in the message, line:column).
const CORPUS: &[(&str, &str, &str)] = &[
    ("app-task-unknown-attribute.toml", "app.header.rate_limit", "5:14"),
    ("app-watchdog-moved.toml", "app.watchdog", "7:12"),
    ("bad-annotation.toml", "celery.task_annotations.\"celery.chord_unlock\".max_retries", "4:15"),
    ("bad-count-range.toml", "expect.callback_runs", "7:17"),
    ("bad-duration.toml", "horizon", "3:11"),
    ("bad-fault-kind.toml", "fault[0].kind", "7:8"),
    ("bad-outcome.toml", "run.outcome", "5:11"),
    ("bad-status.toml", "expect.status", "6:10"),
    ("field-not-for-this-fault.toml", "fault[0].test", "9:1"),
    ("heartbeat-checkrate-zero.toml", "celery.broker_heartbeat_checkrate", "4:30"),
    ("malformed-toml.toml", "(toml)", "1:21"),
    ("missing-expect.toml", "expect", "1:1"),
    ("negative-seconds.toml", "celery.result_chord_retry_interval", "4:31"),
    ("negative-tests.toml", "run.tests", "4:9"),
    ("partition-same-node.toml", "fault[0].between", "8:11"),
    ("policy-action-on-a-named-policy.toml", "policy[0].action", "8:10"),
    ("policy-bad-action.toml", "policy[0].action[1]", "10:26"),
    ("policy-unknown-kind.toml", "policy[0].kind", "7:8"),
    ("policy-watchdog-without-deadline.toml", "policy[0].older_than", "6:1"),
    ("split-ack-setting-on-5.5.toml", "celery.task_acks_on_failure", "5:24"),
    ("test-out-of-range.toml", "run.override[0].test", "6:8"),
    ("unknown-field.toml", "run.testz", "4:1"),
    ("unknown-preset.toml", "preset", "3:10"),
    ("unknown-transport-option.toml", "celery.broker_transport_options.health_check_intervall", "4:55"),
    ("unknown-version.toml", "celery.version", "4:11"),
    ("unknown-worker.toml", "fault[0].worker", "8:10"),
    ("wrong-type-setting.toml", "celery.task_acks_late", "4:18"),
    ("zero-concurrency.toml", "topology.concurrency", "4:15"),
];

fn invalid_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/invalid")
}

#[test]
fn every_invalid_file_exits_2_naming_file_position_and_field() {
    let dir = invalid_dir();
    let on_disk = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(on_disk, CORPUS.len(), "every file in tests/data/invalid has an entry here");
    for (file, field, pos) in CORPUS {
        let rel = format!("tests/data/invalid/{file}");
        let out = Command::new(env!("CARGO_BIN_EXE_chordsim"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["run", &rel])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: exit code; stderr:\n{stderr}");
        assert!(out.stdout.is_empty(), "{file}: nothing is reported as run");
        // One line says it all: file, line:column, field, what was expected.
        let first = stderr
            .lines()
            .find(|l| l.starts_with(&format!("{rel}:{pos}: {field}: ")))
            .unwrap_or_else(|| panic!("{file}: expected a line starting `{rel}:{pos}: {field}: ` in\n{stderr}"));
        assert!(
            first.contains("expected")
                || first.contains("not allowed")
                || first.contains("out of range")
                || first.contains("needs"),
            "{file}: {first}"
        );
        assert!(!stderr.contains("panicked"), "{file}: panicked");
        insta::assert_snapshot!(format!("invalid__{}", file.trim_end_matches(".toml")), stderr);
    }
}

#[test]
fn one_bad_file_among_good_ones_runs_nothing() {
    let out = Command::new(env!("CARGO_BIN_EXE_chordsim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "scenarios/brief", "tests/data/invalid/bad-status.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no table is printed when any input is bad");
}

#[test]
fn every_problem_in_a_file_is_reported_at_once() {
    let text = "name = \"x\"\nabout = \"y\"\nhorizon = \"soon\"\n[run]\ntests = 2\noutcome = \"boom\"\n[expect]\nstatus = \"meh\"\n";
    let err = Scenario::parse("many.toml", text).unwrap_err();
    let fields: Vec<&str> = err.problems.iter().map(|p| p.problem.field.as_str()).collect();
    assert_eq!(fields, vec!["horizon", "run.outcome", "expect.status"]);
}

fn valid() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/catalogue/f29-revoke-queued-header.toml"),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC*") {
        let _ = Scenario::parse("garbage.toml", &text);
        // A question (`check`) needs less, so reads further into the same text.
        let _ = Scenario::parse_with("garbage.toml", &text, None, chordsim::scenario::Needs::Nothing);
    }

    #[test]
    fn mutated_scenarios_never_panic_and_errors_point_inside_the_file(
        at in 0usize..2000, len in 0usize..40, insert in "[\\[\\]=\"a-z0-9.\\n -]{0,12}",
    ) {
        let mut text = valid();
        let start = at.min(text.len());
        let start = (0..=start).rev().find(|i| text.is_char_boundary(*i)).unwrap();
        let end = (start + len).min(text.len());
        let end = (end..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap();
        text.replace_range(start..end, &insert);
        if let Err(e) = Scenario::parse("mutated.toml", &text) {
            let lines = text.lines().count().max(1);
            for p in &e.problems {
                prop_assert!(p.line >= 1 && p.line <= lines + 1, "line {} of {}", p.line, lines);
            }
            prop_assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn generated_garbage_files_exit_2_through_the_cli() {
    let dir = std::env::temp_dir().join(format!("chordsim-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let samples =
        ["\u{0}\u{1}binary", "[[[", "name = 1\nabout = []\n", "tests = 3", "[run]\ntests = \"many\"\n", "=\n="];
    for (i, s) in samples.iter().enumerate() {
        let f = dir.join(format!("g{i}.toml"));
        std::fs::write(&f, s).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_chordsim")).args(["run"]).arg(&f).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{s:?}: {stderr}");
        assert!(stderr.contains(&format!("g{i}.toml:")), "{s:?}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
