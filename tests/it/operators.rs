//! Operator policies (`[[policy]]`): each action, what each clock sees, dry runs, when a
//! periodic policy stops, and health as the monitor reports it (`replay --health-at`).

use std::process::Command;

use chordsim::check::{Ending, health_call};
use chordsim::run::{Driver, run, run_with_health};
use chordsim::scenario::{Action, PolicyKind, RunStatus, Scenario};
use chordsim::time::SimTime;
use chordsim::trace::{Ending as Exec, Loss, Note, Writer};
use chordsim::words::{Property, TaskRef};

use super::{count, has, parse, run_toml};

fn load(path: &str) -> Scenario {
    Scenario::load(std::path::Path::new(path)).unwrap_or_else(|e| panic!("{e}"))
}

fn acted(n: &Note, want: Action) -> bool {
    matches!(n, Note::PolicyActed { action, dry_run: false, .. } if *action == want)
}

fn at(s: &str) -> SimTime {
    SimTime::ZERO + chordsim::time::parse_duration(s).unwrap()
}

/// A database-backend run of three tests with `policy` (TOML lines) and a backend stall from
/// 5m for 2h, so one poll execution hangs in `inspect().active()`.
fn stalled_poll_with(policy: &str) -> chordsim::run::RunResult {
    run_toml(&format!(
        r#"name = "p"
about = "p"
horizon = "4h"
[topology]
backend = "database"
[run]
tests = 3
duration = "10m"
[[fault]]
at = "5m"
kind = "stall"
nodes = ["backend"]
duration = "2h"
[[policy]]
{policy}
[expect]
status = "stuck""#
    ))
}

#[test]
fn the_monitor_as_implemented_never_sees_a_polling_chord_unlock() {
    // Each poll is a new execution of a few milliseconds: no time_start is ever an hour old.
    let r = run(load("scenarios/operators/chord-monitor-as-implemented.toml"), None);
    assert!(!has(&r, |n| matches!(n, Note::PolicyActed { .. })));
    assert!(matches!(r.verdict.ending, Ending::Terminal { status: RunStatus::Completed, .. }));
    assert!(r.verdict.chord_unlock_runs > 10_000, "it polled all along: {}", r.verdict.chord_unlock_runs);
}

#[test]
fn by_the_chord_age_the_monitor_revokes_chord_unlock_at_its_first_check_past_the_threshold() {
    let r = run(load("scenarios/operators/chord-monitor-by-chord-age.toml"), None);
    let first = r.trace.iter().find(|rec| acted(&rec.note, Action::RevokeChordUnlock)).expect("it revokes");
    assert_eq!(first.at, at("1h"), "checks every 15m from 15m: the one at 1h is the first with age >= 1h");
    assert!(has(&r, |n| matches!(n, Note::RevokedDropped { task: TaskRef::ChordUnlock, .. })));
    assert_eq!(r.verdict.ending, Ending::Stuck);
    assert!(
        r.verdict.cause[0].contains("the chord monitor revoked chord_unlock at 1h0m0.000s"),
        "{:?}",
        r.verdict.cause
    );
}

#[test]
fn revoke_with_terminate_kills_the_hung_poll_and_without_it_the_poll_runs_on() {
    let killed = stalled_poll_with("kind = \"chord-monitor\"");
    assert!(has(&killed, |n| matches!(n, Note::Finished { task: TaskRef::ChordUnlock, how: Exec::Terminated, .. })));
    let spared = stalled_poll_with(
        "kind = \"custom\"\nevery = \"15m\"\nclock = \"task_start\"\nolder_than = \"1h\"\naction = \"revoke_chord_unlock\"",
    );
    assert!(has(&spared, |n| acted(n, Action::RevokeChordUnlock)));
    assert!(!has(&spared, |n| matches!(n, Note::Finished { how: Exec::Terminated, .. })));
    // The poll that was running finishes after the stall and retries; the revoked id drops it.
    assert!(has(&spared, |n| matches!(n, Note::RevokedDropped { task: TaskRef::ChordUnlock, .. })));
    assert_eq!(spared.verdict.ending, Ending::Stuck);
}

#[test]
fn a_purge_deletes_only_the_messages_waiting_in_the_queue() {
    let r = run(load("scenarios/operators/purge-drops-queued-tests.toml"), None);
    // One worker, two slots, prefetch 1 (a window of two unacked deliveries; early acks free it
    // as each test starts): at 30m tests 0-1 are done, 2-3 run, 4-5 are prefetched, and the six
    // waiting in the queue are deleted.
    assert_eq!(count(&r, |n| matches!(n, Note::Lost { why: Loss::Purged, .. })), 6);
    assert_eq!(r.verdict.header_runs.iter().filter(|&&n| n > 0).count(), 6);
    assert_eq!(r.verdict.ending, Ending::Stuck);
}

#[test]
fn mark_failed_writes_failed_as_the_policy_and_skips_a_terminal_run() {
    let r = run(load("scenarios/operators/mark-failed-then-overwritten.toml"), None);
    assert!(has(&r, |n| matches!(
        n,
        Note::Status { status: RunStatus::Failed, by: Writer::Policy(PolicyKind::Custom) }
    )));
    assert_eq!(r.verdict.ended_by, Some(PolicyKind::Custom));
    assert!(r.verdict.violations.contains_key(&Property::TerminalNeverOverwritten));
    // A run that is terminal before the deadline is left alone.
    let done = run_toml(
        "name = \"p\"\nabout = \"p\"\nhorizon = \"1h\"\n[run]\ntests = 1\nduration = \"1s\"\n[[policy]]\nkind = \"watchdog\"\nolder_than = \"10s\"\n[expect]\nstatus = \"Completed\"",
    );
    assert!(!has(&done, |n| matches!(n, Note::PolicyActed { .. })));
    assert_eq!(done.verdict.ended_by, None);
}

#[test]
fn revoke_body_has_the_body_dropped_where_it_is_delivered() {
    let r = run(load("scenarios/operators/revoke-body-policy.toml"), None);
    assert!(has(&r, |n| acted(n, Action::RevokeBody)));
    assert!(has(&r, |n| matches!(n, Note::RevokedDropped { task: TaskRef::Body, .. })));
    assert_eq!(r.verdict.callback_runs, 0);
    assert!(r.verdict.cause[0].contains("revoked collect_results"), "{:?}", r.verdict.cause);
}

#[test]
fn a_dry_run_says_what_it_would_do_and_does_nothing() {
    let r = run(load("scenarios/operators/fix-chords-dry-run.toml"), None);
    assert!(has(&r, |n| matches!(n, Note::PolicyActed { dry_run: true, action: Action::RevokeChordUnlock, .. })));
    assert!(has(&r, |n| matches!(n, Note::PolicyReported { .. })));
    assert!(!has(&r, |n| matches!(n, Note::RevokedDropped { .. })));
    assert!(matches!(r.verdict.ending, Ending::Terminal { status: RunStatus::Completed, .. }));
    let wet = run(load("scenarios/operators/fix-chords-revokes-long-run.toml"), None);
    let reported: Vec<SimTime> =
        wet.trace.iter().filter(|r| matches!(r.note, Note::PolicyReported { .. })).map(|r| r.at).collect();
    assert_eq!(reported.first(), Some(&at("30m")), "reported from 30 minutes");
    assert_eq!(reported.last(), Some(&at("1h45m")), "and acted on from 2 hours");
}

#[test]
fn a_native_chord_has_no_chord_unlock_to_revoke() {
    let r = run_toml(
        "name = \"p\"\nabout = \"p\"\nhorizon = \"2h\"\n[run]\ntests = 2\nduration = \"10s\"\n[[run.override]]\ntest = 0\noutcome = \"hang\"\n[[policy]]\nkind = \"chord-monitor\"\nclock = \"chord_age\"\n[expect]\nstatus = \"stuck\"",
    );
    assert!(has(&r, |n| matches!(n, Note::PolicyNoop { kind: PolicyKind::ChordMonitor, .. })));
    assert!(!has(&r, |n| matches!(n, Note::RevokedDropped { .. })));
}

#[test]
fn a_periodic_policy_stops_once_the_run_is_terminal_and_nothing_polls() {
    // Every minute for a year would be half a million checks; the run ends at 1 s, and the
    // policy adds no more than its first check to the run's events.
    let body = "horizon = \"365d\"\n[run]\ntests = 1\nduration = \"1s\"\n";
    let policy = "[[policy]]\nkind = \"fix-chords\"\nevery = \"1m\"\n";
    let with = run_toml(&format!("name = \"p\"\nabout = \"p\"\n{body}{policy}[expect]\nstatus = \"Completed\""));
    let without = run_toml(&format!("name = \"p\"\nabout = \"p\"\n{body}[expect]\nstatus = \"Completed\""));
    assert!(with.events <= without.events + 1, "{} events against {}", with.events, without.events);
}

#[test]
fn a_file_replaces_its_presets_policies_and_policy_empty_removes_them() {
    let with =
        parse("name = \"p\"\nabout = \"p\"\npreset = \"hardened\"\n[run]\ntests = 1\n[expect]\nstatus = \"stuck\"");
    assert_eq!(with.policies.len(), 1, "the hardened preset's watchdog");
    let none = parse(
        "name = \"p\"\nabout = \"p\"\npreset = \"hardened\"\npolicy = []\n[run]\ntests = 1\n[expect]\nstatus = \"stuck\"",
    );
    assert!(none.policies.is_empty());
    let other = parse(
        "name = \"p\"\nabout = \"p\"\npreset = \"hardened\"\n[run]\ntests = 1\n[[policy]]\nkind = \"chord-monitor\"\n[expect]\nstatus = \"stuck\"",
    );
    assert_eq!(other.policies.iter().map(|p| p.kind).collect::<Vec<_>>(), vec![PolicyKind::ChordMonitor]);
    // Written back and read again over the preset: the same policies.
    for sc in [with, none, other] {
        let again = Scenario::parse("again.toml", &sc.to_toml()).unwrap();
        assert_eq!(again.policies, sc.policies);
    }
}

#[test]
fn looking_at_health_changes_nothing_about_the_run() {
    let sc = load("scenarios/operators/chord-monitor-fires-during-a-stall.toml");
    let plain = run(sc.clone(), None);
    let looks = [at("30m"), at("1h10m"), at("1h15m"), at("3h")];
    let (looked, health) = run_with_health(sc, None, Driver::Events, &looks, &mut |_| {});
    assert_eq!(plain.trace, looked.trace);
    assert_eq!(plain.events, looked.events);
    assert_eq!(health.iter().map(|h| h.at).collect::<Vec<_>>(), looks);
    // The hung poll is in inspect().active() from 5m: at 1h10m it is 1h10m - 5m old.
    let active = &health[1].active_chord_unlock;
    assert_eq!(active.len(), 1);
    // At 30m the same poll is active but only 25 minutes old: not stuck by the 1 h rule.
    assert_eq!(health[0].active_chord_unlock, *active);
    assert!(health[0].healthy && health[0].stuck.is_empty(), "{:?}", health[0]);
    assert!(!health[1].healthy, "over an hour old at 1h10m: {:?}", health[1]);
    assert!(health[3].healthy, "nothing active once the monitor killed it");
}

#[test]
fn a_health_check_is_judged_right_or_wrong_by_how_the_run_ends() {
    // Native chord, a hung test: nothing for the monitor to see, and the run never ends.
    let sc = load("scenarios/operators/chord-monitor-native-chord.toml");
    let (r, health) = run_with_health(sc, None, Driver::Events, &[at("2h")], &mut |_| {});
    let call = health_call(health[0].clone(), &r.verdict, &r.trace);
    assert!(call.health.healthy && !call.right, "{call:?}");
    assert!(call.why.starts_with("missed"), "{}", call.why);
    // The fix_chords cron: healthy before it acts is right for then; unhealthy after is right.
    let sc = load("scenarios/operators/fix-chords-revokes-long-run.toml");
    let (r, health) = run_with_health(sc, None, Driver::Events, &[at("1h"), at("3h")], &mut |_| {});
    let calls: Vec<_> = health.into_iter().map(|h| health_call(h, &r.verdict, &r.trace)).collect();
    assert!(calls[0].health.healthy && calls[0].right, "{:?}", calls[0]);
    assert!(!calls[1].health.healthy && calls[1].right, "{:?}", calls[1]);
    // A slow run that completes: unhealthy by the chord's age is a false alarm.
    let sc = load("scenarios/operators/fix-chords-dry-run.toml");
    let (r, health) = run_with_health(sc, None, Driver::Events, &[at("2h15m")], &mut |_| {});
    let call = health_call(health[0].clone(), &r.verdict, &r.trace);
    assert!(!call.health.healthy && !call.right && call.why.starts_with("false alarm"), "{call:?}");
}

#[test]
fn replay_health_at_prints_and_serialises_the_health_and_refuses_bad_times() {
    let bin = env!("CARGO_BIN_EXE_chordsim");
    let file = "scenarios/operators/fix-chords-revokes-long-run.toml";
    let out = Command::new(bin).args(["replay", file, "--health-at", "1h,3h", "--json"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let health: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "health").collect();
    assert_eq!(health.len(), 2);
    assert_eq!(health[0]["data"]["healthy"], true);
    assert_eq!(health[1]["data"]["healthy"], false);
    assert_eq!(health[1]["data"]["right"], true);
    assert_eq!(lines.last().unwrap()["type"], "summary");
    let out = Command::new(bin).args(["replay", file, "--health-at", "2h"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("health, by fix-chords: a run not terminal 2h after its chord"), "{text}");
    assert!(text.contains("at 2h0m0.000s: UNHEALTHY"), "{text}");
    for bad in ["soon", "5h"] {
        let out = Command::new(bin).args(["replay", file, "--health-at", bad]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "--health-at {bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--health-at"));
    }
}
