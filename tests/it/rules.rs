//! One focused test per model rule: a small scenario whose outcome the cited rule predicts,
//! run through the whole model. Version-dependent rules run once per version.

use chordsim::check::Ending;
use chordsim::run::RunResult;
use chordsim::scenario::{PolicyKind, RunStatus};
use chordsim::time::SimTime;
use chordsim::trace::{Loss, Note};
use chordsim::words::{Property, TaskRef, TaskState};

use super::{count, has, run_toml};

const VERSIONS: [&str; 3] = ["5.5", "5.6", "5.7"];

/// A scenario from its tables; the expectation is not used by these tests.
fn sc(body: &str) -> RunResult {
    run_toml(&format!("name = \"rule\"\nabout = \"rule test\"\n{body}\n[expect]\nstatus = \"stuck\"\n"))
}

fn secs(t: SimTime) -> f64 {
    t.as_secs_f64()
}

fn first_at(r: &RunResult, f: impl Fn(&Note) -> bool) -> Option<f64> {
    r.trace.iter().find(|rec| f(&rec.note)).map(|rec| secs(rec.at))
}

fn poll_times(r: &RunResult) -> Vec<f64> {
    r.trace
        .iter()
        .filter(|rec| matches!(rec.note, Note::Started { task: TaskRef::ChordUnlock, .. }))
        .map(|rec| secs(rec.at))
        .collect()
}

fn status(r: &RunResult) -> Option<RunStatus> {
    match r.verdict.ending {
        Ending::Terminal { status, .. } => Some(status),
        Ending::Stuck => None,
    }
}

// ---- §9 acks, worker death, redelivery -------------------------------------------------------

#[test]
fn early_ack_then_worker_kill_loses_the_running_tasks() {
    let r = sc(r#"horizon = "30m"
[run]
tests = 2
duration = "10s"
[[fault]]
at = "5s"
kind = "kill_worker"
worker = "w1"
restart_after = "1s""#);
    assert_eq!(count(&r, |n| matches!(n, Note::Lost { why: Loss::AckedThenKilled, .. })), 2);
    assert_eq!(r.verdict.header_states, vec![TaskState::Pending; 2]);
    assert_eq!(r.verdict.header_runs, vec![1, 1]);
    assert_eq!(r.verdict.ending, Ending::Stuck);
}

#[test]
fn late_ack_then_worker_kill_redelivers_once_the_visibility_timeout_passes() {
    let r = sc(r#"horizon = "30m"
[celery]
task_acks_late = true
broker_transport_options = { visibility_timeout = 30 }
[run]
tests = 2
duration = "10s"
[[fault]]
at = "5s"
kind = "kill_worker"
worker = "w1"
restart_after = "1s""#);
    // Restarted at 6 s, the worker registers its event loop after booting (0.6 s of imports and
    // 4 × 25 ms for the pool): that restore finds the messages 6.7 s old, younger than 30 s.
    // kombu scans again on the 11th restore call, 90 s after the registration.
    let restored = first_at(&r, |n| matches!(n, Note::Restored { sweep: true, .. })).expect("a sweep restores them");
    assert!((restored - 96.7).abs() < 1e-6, "restored at {restored}");
    assert_eq!(r.verdict.header_runs, vec![2, 2]);
    assert_eq!(status(&r), Some(RunStatus::Completed));
}

#[test]
fn amqp_requeues_unacked_deliveries_as_soon_as_the_connection_closes() {
    let r = sc(r#"horizon = "30m"
[celery]
task_acks_late = true
[topology]
broker = "amqp"
[run]
tests = 2
duration = "10s"
[[fault]]
at = "5s"
kind = "kill_worker"
worker = "w1"
restart_after = "1s""#);
    assert_eq!(first_at(&r, |n| matches!(n, Note::Restored { sweep: false, .. })), Some(5.0));
    match r.verdict.ending {
        Ending::Terminal { status: RunStatus::Completed, at } => assert!(secs(at) < 20.0, "{at}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_restore_sweep_redelivers_a_long_task_whose_worker_is_alive() {
    let r = sc(r#"horizon = "10m"
[celery]
task_acks_late = true
broker_transport_options = { visibility_timeout = 10 }
[run]
tests = 1
duration = "250s""#);
    assert!(r.verdict.header_runs[0] >= 3, "runs: {:?}", r.verdict.header_runs);
    assert!(r.verdict.violations.contains_key(&Property::RedeliveryBounded));
}

#[test]
fn prefetch_is_concurrency_times_multiplier_and_eta_messages_do_not_count() {
    // concurrency 2 × multiplier 2 = 4 unacked messages (acks_late: running ones count too).
    let r = sc(r#"horizon = "1m"
[celery]
task_acks_late = true
worker_prefetch_multiplier = 2
[topology]
backend = "database"
concurrency = 2
[run]
tests = 6
duration = "5s""#);
    let delivered =
        |task: TaskRef| first_at(&r, |n| matches!(n, Note::Delivered { task: t, .. } if *t == task)).unwrap();
    assert!(delivered(TaskRef::ChordUnlock) < 0.01, "the ETA message is delivered at once, outside the count");
    for i in 0..4 {
        assert!(delivered(TaskRef::Header(i)) < 0.05, "test {i} fits in the prefetch");
    }
    for i in 4..6 {
        assert!(delivered(TaskRef::Header(i)) >= 5.0, "test {i} waits until a running test is acked");
    }
}

#[test]
fn chord_unlock_needs_a_free_pool_slot() {
    let r = sc(r#"horizon = "1m"
[topology]
backend = "database"
concurrency = 2
[run]
tests = 2
duration = "10s""#);
    let polls = poll_times(&r);
    assert!(polls[0] >= 10.0, "the first poll waits for a slot: {polls:?}");
}

#[test]
fn reject_on_worker_lost_requeues_instead_of_failing() {
    for (reject, want) in [(true, Some(RunStatus::Completed)), (false, None)] {
        let r = sc(&format!(
            r#"horizon = "5m"
[celery]
task_acks_late = true
task_reject_on_worker_lost = {reject}
[run]
tests = 2
duration = "10s"
[[fault]]
at = "5s"
kind = "kill_child"
test = 1"#
        ));
        assert_eq!(has(&r, |n| matches!(n, Note::Requeued { .. })), reject);
        let failed = has(&r, |n| matches!(n, Note::Stored { task: TaskRef::Header(1), state: TaskState::Failure, .. }));
        assert_eq!(failed, !reject, "WorkerLostError stores FAILURE unless requeued");
        assert_eq!(status(&r), want);
    }
}

#[test]
fn hard_limit_with_ack_on_timeout_off_requeues_and_on_timeout_still_stores_failure() {
    let r = sc(r#"horizon = "20s"
[celery]
version = "5.5"
task_acks_late = true
task_acks_on_failure_or_timeout = false
[run]
tests = 1
duration = "10s"
time_limit = "3s""#);
    assert!(has(&r, |n| matches!(n, Note::Requeued { task: TaskRef::Header(0), .. })));
    let failures = count(&r, |n| matches!(n, Note::Stored { task: TaskRef::Header(0), state: TaskState::Failure, .. }));
    let limits = count(&r, |n| matches!(n, Note::Finished { how: chordsim::trace::Ending::HardLimit, .. }));
    assert_eq!(failures, limits, "one FAILURE per hard limit (on_timeout only), not two");
    assert!(limits >= 2, "the requeued message runs again and hits the limit again");
}

#[test]
fn split_ack_settings_fall_back_to_the_old_one_in_5_7() {
    for (extra, requeued) in [("", true), ("task_acks_on_timeout = true", false)] {
        let r = sc(&format!(
            r#"horizon = "5s"
[celery]
version = "5.7"
task_acks_late = true
task_acks_on_failure_or_timeout = false
{extra}
[run]
tests = 1
duration = "10s"
time_limit = "3s""#
        ));
        assert_eq!(has(&r, |n| matches!(n, Note::Requeued { .. })), requeued, "{extra:?}");
    }
}

#[test]
fn warm_shutdown_returns_prefetched_messages_and_finishes_running_ones() {
    let r = sc(r#"horizon = "2m"
[topology]
concurrency = 1
[run]
tests = 3
duration = "10s"
[[fault]]
at = "2s"
kind = "warm_shutdown"
worker = "w1"
restart_after = "5s""#);
    let back = r.trace.iter().find_map(|rec| match &rec.note {
        Note::Restored { tasks, sweep: false } => Some((secs(rec.at), tasks.clone())),
        _ => None,
    });
    assert_eq!(back, Some((2.0, vec![TaskRef::Header(1), TaskRef::Header(2)])));
    assert_eq!(r.verdict.header_runs, vec![1, 1, 1], "the running test finished, nothing ran twice");
    assert_eq!(status(&r), Some(RunStatus::Completed));
}

#[test]
fn cold_shutdown_leaves_early_acked_tasks_in_retry() {
    let r = sc(r#"horizon = "5m"
[topology]
concurrency = 2
[run]
tests = 2
duration = "10s"
[[fault]]
at = "2s"
kind = "cold_shutdown"
worker = "w1"
restart_after = "1s""#);
    assert_eq!(r.verdict.header_states, vec![TaskState::Retry; 2]);
    assert_eq!(r.verdict.ending, Ending::Stuck);
}

#[test]
fn cold_shutdown_stores_retry_for_acks_late_tasks_only_in_5_5() {
    for v in VERSIONS {
        let r = sc(&format!(
            r#"horizon = "5m"
[celery]
version = "{v}"
task_acks_late = true
[run]
tests = 1
duration = "10s"
[[fault]]
at = "2s"
kind = "cold_shutdown"
worker = "w1"
restart_after = "1s""#
        ));
        let retry = has(&r, |n| matches!(n, Note::Stored { state: TaskState::Retry, .. }));
        assert_eq!(retry, v == "5.5", "{v}");
        assert_eq!(r.verdict.header_runs, vec![2], "{v}: redelivered and run again");
        assert_eq!(status(&r), Some(RunStatus::Completed), "{v}");
    }
}

#[test]
fn a_noticed_broker_cut_drops_reserved_messages_until_the_visibility_timeout() {
    // One process, three 20-minute tests: test 0 runs, tests 1 and 2 wait reserved in worker
    // memory. The link is cut at 2 s and heals at 1002 s. The worker notices (source notes
    // §16) at its next heartbeat check plus the 1 s user timeout on AMQP (ticks every 60 s /
    // 3.0 from its connection at 0: 21 s), at its next health-check PING plus 924.6 s of
    // retransmissions on Redis (25 s + 924.6 s = 949.6 s). Then it drops the reserved tests:
    // RabbitMQ requeues them at once, Redis keeps them unacked until the visibility timeout.
    // Each reconnect across the cut fails at its connect timeout, then kombu sleeps 2, 4, … s:
    // Redis' 131 s of SYN retries put the second attempt, after the heal, at 949.6 + 2 + 131 +
    // 4 = 1086.6 s; AMQP's 4 s timeout puts attempts at 23, 31, 41, … s, then every 34 s from
    // 317 s, the first after the heal at 1031 s. The consumer starts after mingle, 1 s later.
    for (broker, noticed, restarted) in [("redis", 949.6, 1087.6), ("amqp", 21.0, 1032.0)] {
        let r = sc(&format!(
            r#"horizon = "30m"
[topology]
broker = "{broker}"
concurrency = 1
[run]
tests = 3
duration = "20m"
[[fault]]
at = "2s"
kind = "partition"
between = ["w1", "broker"]
heal_after = "1000s""#
        ));
        assert_eq!(first_at(&r, |n| matches!(n, Note::ConnectionLost { worker: 0 })), Some(noticed), "{broker}");
        let reconnected = r
            .trace
            .iter()
            .filter(|rec| matches!(rec.note, Note::ConsumerStarted { worker: 0 }))
            .map(|rec| secs(rec.at))
            .collect::<Vec<_>>();
        assert_eq!(reconnected, vec![0.0, restarted], "{broker}");
        let dropped = count(&r, |n| matches!(n, Note::Lost { why: Loss::DroppedHeldUnacked, .. }));
        let requeued = first_at(&r, |n| matches!(n, Note::Restored { sweep: false, tasks } if tasks.len() == 2));
        match broker {
            "redis" => assert_eq!((dropped, requeued), (2, None)),
            _ => assert_eq!((dropped, requeued), (0, Some(noticed))),
        }
    }
}

#[test]
fn a_publish_on_a_cut_link_waits_on_redis_and_is_lost_on_amqp_past_the_user_timeout() {
    // One 3 s test on the Redis backend: its part-return publishes the body from the worker at
    // about 3.005 s, while the link cut at 2 s is down and unnoticed (source notes §16), on the
    // producer pool's own connection. Redis' LPUSH waits for its reply: the body is queued when
    // the link heals. AMQP's basic_publish returns once written; the 1 s user timeout aborts
    // that connection, and the message is gone, unless the link heals first. The consumer's
    // connection is another one: it would notice only at its heartbeat check at 20 s plus 1 s,
    // after these heals.
    for (broker, heal, completes) in [("redis", "5s", true), ("amqp", "1500ms", true), ("amqp", "5s", false)] {
        let r = sc(&format!(
            r#"horizon = "10m"
[topology]
broker = "{broker}"
[run]
tests = 1
duration = "3s"
[[fault]]
at = "2s"
kind = "partition"
between = ["w1", "broker"]
heal_after = "{heal}""#
        ));
        let lost = first_at(&r, |n| matches!(n, Note::Lost { task: TaskRef::Body, why: Loss::CutConnection }));
        assert_eq!(status(&r) == Some(RunStatus::Completed), completes, "{broker} {heal}");
        assert_eq!(lost.is_some(), !completes, "{broker} {heal}");
        if let Some(at) = lost {
            assert!((4.0..4.1).contains(&at), "{broker} {heal}: lost 1 s after the publish, at {at}");
        }
        assert!(!has(&r, |n| matches!(n, Note::ConnectionLost { .. })), "{broker} {heal}");
    }
}

#[test]
fn a_dead_process_s_writes_on_a_cut_link_are_sent_by_the_kernel_for_tcp_orphan_retries() {
    // A 1 s test (acks_late, Redis) ends at about 1.003 s while the link is cut: its ack and
    // the body's publish wait on the link. The worker is killed at 1.5 s and restarted at
    // 20 s. Linux keeps retransmitting a dead process's data for tcp_orphan_retries, about
    // 102.2 s from the first write (source notes §16): a heal at 10.5 s delivers both and the
    // run completes; a heal at 200.5 s comes too late, and both are lost at about 103.2 s
    // (the unacked test is not redelivered: the default visibility timeout, an hour, is past
    // the horizon).
    // A process that dies twice orphans what waits once: the kernel's clock runs from the first
    // write (explore found a second death that subtracted past it).
    let kills = |restart: &str, again: &str| {
        format!(
            "[[fault]]\nat = \"1500ms\"\nkind = \"kill_worker\"\nworker = \"w1\"\nrestart_after = \"{restart}\"\n{again}"
        )
    };
    let again = "[[fault]]\nat = \"6s\"\nkind = \"kill_worker\"\nworker = \"w1\"\nrestart_after = \"13s\"";
    for (heal, completes) in [("10s", true), ("200s", false)] {
        let run = |faults: String| {
            sc(&format!(
                r#"horizon = "10m"
[celery]
task_acks_late = true
[run]
tests = 1
duration = "1s"
[[fault]]
at = "500ms"
kind = "partition"
between = ["w1", "broker"]
heal_after = "{heal}"
{faults}"#
            ))
        };
        let (r, twice) = (run(kills("18500ms", "")), run(kills("3s", again)));
        assert_eq!(status(&r) == Some(RunStatus::Completed), completes, "heal after {heal}");
        assert_eq!(r.verdict.header_runs, vec![1], "heal after {heal}: nothing redelivered");
        assert_eq!(status(&twice) == Some(RunStatus::Completed), completes, "heal after {heal}, killed twice");
        let lost = first_at(&r, |n| matches!(n, Note::Lost { task: TaskRef::Body, why: Loss::CutConnection }));
        match lost {
            None => assert!(completes, "heal after {heal}"),
            Some(at) => {
                assert!(!completes && (103.1..103.3).contains(&at), "heal after {heal}: lost at {at}");
                assert!(has(&r, |n| matches!(n, Note::AckLost { task: TaskRef::Header(0), .. })));
            }
        }
    }
}

#[test]
fn a_broker_cut_that_heals_before_the_worker_notices_breaks_nothing() {
    // A cut of 800 ms: shorter than either client's detection (source notes §16). Acks
    // after the task (acks_late) written during the cut wait on the link and land when it
    // heals; nothing is dropped, redelivered or reconnected.
    for broker in ["redis", "amqp"] {
        let r = sc(&format!(
            r#"horizon = "30m"
[celery]
task_acks_late = true
[topology]
broker = "{broker}"
concurrency = 1
[run]
tests = 3
duration = "1s"
[[fault]]
at = "1500ms"
kind = "partition"
between = ["w1", "broker"]
heal_after = "800ms""#
        ));
        assert!(!has(&r, |n| matches!(n, Note::ConnectionLost { .. })), "{broker}");
        assert_eq!(r.verdict.header_runs, vec![1, 1, 1], "{broker}");
        // Test 1 ends at 2.0 s, inside the cut: its ack lands at the heal, 2.3 s.
        let acked = first_at(&r, |n| matches!(n, Note::Acked { task: TaskRef::Header(1), .. }));
        assert_eq!(acked, Some(2.3), "{broker}");
        assert_eq!(status(&r), Some(RunStatus::Completed), "{broker}");
    }
}

#[test]
fn unlock_polls_after_a_one_second_countdown_then_every_interval() {
    let r = sc(r#"horizon = "1m"
[celery]
result_chord_retry_interval = 2.5
[topology]
backend = "database"
[run]
tests = 1
duration = "9s""#);
    let polls = poll_times(&r);
    let want = [1.0, 3.5, 6.0, 8.5, 11.0];
    assert_eq!(polls.len(), want.len(), "{polls:?}");
    for (got, w) in polls.iter().zip(want) {
        assert!((got - w).abs() < 0.05, "{polls:?}");
    }
}

/// A retry's ETA counts from the moment `Task.retry` publishes, after the poll's own work, and
/// the next poll starts after the pool's dispatch: real cycles are 1.005–1.006 s, the first one
/// 1.018–1.019 s with the pool child's session set-up (source notes §12, docs/calibration.md
/// "Polling").
#[test]
fn a_poll_cycle_is_the_interval_plus_dispatch_and_the_polls_own_work() {
    let r = sc(r#"horizon = "30s"
[topology]
backend = "database"
concurrency = 4
[run]
tests = 2
duration = "8s""#);
    let polls = poll_times(&r);
    let cycles: Vec<f64> = polls.windows(2).map(|p| p[1] - p[0]).collect();
    assert!(cycles.len() >= 5, "{polls:?}");
    assert!((1.015..1.022).contains(&cycles[0]), "the first poll sets up a session: {cycles:?}");
    for c in &cycles[1..] {
        assert!((1.003..1.007).contains(c), "steady cycle: {cycles:?}");
    }
}
#[test]
fn unlock_max_retries_comes_from_the_chord_option_then_annotations_with_star_last() {
    let cases = [
        ("", "", 7, "none"),
        ("[celery.task_annotations.\"celery.chord_unlock\"]\nmax_retries = 2", "", 3, "annotation"),
        (
            "[celery.task_annotations.\"celery.chord_unlock\"]\nmax_retries = 2\n[celery.task_annotations.\"*\"]\nmax_retries = 4",
            "",
            5,
            "star",
        ),
        ("[celery.task_annotations.\"celery.chord_unlock\"]\nmax_retries = 2", "chord_max_retries = 1", 2, "option"),
    ];
    for (annotations, option, polls, label) in cases {
        let r = sc(&format!(
            r#"horizon = "1m"
[celery]
version = "5.5"
{annotations}
[topology]
backend = "database"
[app]
{option}
[run]
tests = 1
duration = "6s""#
        ));
        assert_eq!(r.verdict.chord_unlock_runs, polls, "{label}");
        let gave_up = r.trace.iter().find_map(|rec| match &rec.note {
            Note::UnlockGaveUp { source, .. } => Some(source.clone()),
            _ => None,
        });
        match label {
            "none" => assert_eq!(gave_up, None),
            "annotation" => assert_eq!(gave_up.as_deref(), Some("task_annotations['celery.chord_unlock']")),
            "star" => assert_eq!(gave_up.as_deref(), Some("task_annotations['*']")),
            _ => assert_eq!(gave_up.as_deref(), Some("the chord's call options")),
        }
    }
}

#[test]
fn an_annotated_default_retry_delay_becomes_the_poll_interval() {
    let r = sc(r#"horizon = "1m"
[celery.task_annotations."celery.chord_unlock"]
default_retry_delay = 4
[topology]
backend = "database"
[run]
tests = 1
duration = "10s""#);
    let polls = poll_times(&r);
    assert!((polls[1] - polls[0] - 4.0).abs() < 0.05, "{polls:?}");
}

#[test]
fn unlock_give_up_leaves_the_body_pending_up_to_5_6_and_fails_it_in_5_7() {
    for v in VERSIONS {
        let r = sc(&format!(
            r#"horizon = "1m"
[celery]
version = "{v}"
[celery.task_annotations."celery.chord_unlock"]
max_retries = 1
[topology]
backend = "database"
[app]
errback = "inline"
[run]
tests = 1
duration = "10s""#
        ));
        let new = v == "5.7";
        assert_eq!(r.verdict.body_state, if new { TaskState::Failure } else { TaskState::Pending }, "{v}");
        assert_eq!(r.verdict.errback_runs, u64::from(new), "{v}");
        assert_eq!(status(&r), new.then_some(RunStatus::Failed), "{v}");
    }
}

#[test]
fn a_header_failure_is_acted_on_only_once_every_header_task_is_ready() {
    let r = sc(r#"horizon = "1m"
[topology]
backend = "database"
[app]
errback = "inline"
[run]
tests = 2
duration = "10s"
[[run.override]]
test = 0
duration = "1s"
outcome = "raise""#);
    let err = first_at(&r, |n| matches!(n, Note::ChordError { .. })).unwrap();
    assert!(err >= 10.0, "ChordError at {err}, before test 1 finished");
}

#[test]
fn an_expired_result_reads_pending_so_chord_unlock_polls_for_ever() {
    // Database rows go at the daily cleanup after result_expires (§1): 24 h.
    let r = sc(r#"horizon = "26h"
[celery]
result_expires = 3600
[topology]
backend = "database"
[app]
chord_interval = "10m"
[run]
tests = 2
duration = "5s"
[[run.override]]
test = 1
duration = "25h""#);
    assert_eq!(r.verdict.ending, Ending::Stuck);
    assert_eq!(r.verdict.header_states[0], TaskState::Pending, "test 0's row was cleaned up");
    assert!(r.verdict.violations.contains_key(&Property::PollingBounded));
}

// ---- §6 Redis native counter ----------------------------------------------------------------

#[test]
fn list_mode_counts_a_hard_limit_twice_and_fails_early_up_to_5_6() {
    for v in VERSIONS {
        for ordered in [true, false] {
            let r = sc(&format!(
                r#"horizon = "1m"
[celery]
version = "{v}"
result_backend_transport_options = {{ result_chord_ordered = {ordered} }}
[app]
errback = "inline"
[run]
tests = 4
duration = "5s"
[[run.override]]
test = 1
duration = "10s"
time_limit = "3s"
[[run.override]]
test = 3
duration = "20s""#
            ));
            let err = first_at(&r, |n| matches!(n, Note::ChordError { .. })).unwrap();
            let early = !ordered && v != "5.7";
            assert_eq!(err < 20.0, early, "{v} ordered={ordered}: ChordError at {err}");
        }
    }
}

#[test]
fn the_second_identical_failure_report_reruns_the_error_path_up_to_5_6() {
    for v in VERSIONS {
        let r = sc(&format!(
            r#"horizon = "30s"
[celery]
version = "{v}"
[app]
errback = "inline"
[run]
tests = 2
duration = "1s"
[[run.override]]
test = 1
duration = "10s"
time_limit = "3s""#
        ));
        assert_eq!(r.verdict.errback_runs, if v == "5.7" { 1 } else { 2 }, "{v}");
    }
}

#[test]
fn result_chord_expires_exists_from_5_7_and_outlives_result_expires() {
    let body = |v: &str| {
        format!(
            r#"horizon = "3h"
[celery]
version = "{v}"
result_expires = 3600
result_chord_expires = 10800
[run]
tests = 2
duration = "10s"
[[run.override]]
test = 1
duration = "2h""#
        )
    };
    assert_eq!(status(&sc(&body("5.7"))), Some(RunStatus::Completed));
    let err = chordsim::scenario::Scenario::parse(
        "x.toml",
        &format!("name=\"x\"\nabout=\"y\"\n{}\n[expect]\nstatus=\"stuck\"", body("5.5")),
    )
    .unwrap_err();
    assert_eq!(err.problems[0].problem.field, "celery.result_chord_expires");
}

// ---- §9 revoke --------------------------------------------------------------------------------

#[test]
fn revoke_of_a_queued_task_is_stored_at_once_from_5_6_and_on_drop_in_5_5() {
    for v in VERSIONS {
        let r = sc(&format!(
            r#"horizon = "1m"
[celery]
version = "{v}"
[topology]
concurrency = 1
[run]
tests = 3
duration = "10s"
[[fault]]
at = "2s"
kind = "revoke"
target = "test"
test = 2"#
        ));
        let stored =
            first_at(&r, |n| matches!(n, Note::Stored { task: TaskRef::Header(2), state: TaskState::Revoked, .. }))
                .unwrap();
        if v == "5.5" {
            assert!(stored >= 20.0, "{v}: stored when the worker drops it: {stored}");
        } else {
            assert!(stored < 3.0, "{v}: stored at once: {stored}");
        }
        assert!(has(&r, |n| matches!(n, Note::RevokedDropped { task: TaskRef::Header(2), .. })));
        assert_eq!(r.verdict.header_runs[2], 0);
        assert_eq!(r.verdict.body_state, TaskState::Failure, "{v}: the part-return of the drop fails the chord");
    }
}

#[test]
fn revoking_a_running_task_without_terminate_depends_on_the_version() {
    for v in VERSIONS {
        let r = sc(&format!(
            r#"horizon = "1m"
[celery]
version = "{v}"
task_track_started = true
[topology]
backend = "database"
[run]
tests = 2
duration = "1s"
[[run.override]]
test = 1
duration = "10s"
[[fault]]
at = "2s"
kind = "revoke"
target = "test"
test = 1"#
        ));
        // 5.6 stores REVOKED at once, so the next poll sees the chord failed; the task then
        // finishes and overwrites it with SUCCESS (§12). 5.5 stores nothing and 5.7 skips a
        // started task: the chord completes.
        let failed = v == "5.6";
        assert_eq!(r.verdict.body_state == TaskState::Failure, failed, "{v}");
        assert_eq!(r.verdict.header_states[1], TaskState::Success, "{v}: the running task finished");
    }
}

#[test]
fn revoke_with_terminate_kills_the_running_child_and_reports_the_part() {
    let r = sc(r#"horizon = "1m"
[app]
errback = "inline"
[run]
tests = 2
duration = "10s"
[[fault]]
at = "2s"
kind = "revoke"
target = "test"
test = 1
terminate = true"#);
    assert!(has(&r, |n| matches!(
        n,
        Note::Finished { task: TaskRef::Header(1), how: chordsim::trace::Ending::Terminated, .. }
    )));
    assert_eq!(r.verdict.header_states[1], TaskState::Revoked);
    assert_eq!(status(&r), Some(RunStatus::Failed), "ChordError when test 0 completes the count");
}

#[test]
fn the_revoked_set_is_lost_when_the_worker_restarts() {
    let r = sc(r#"horizon = "10m"
[celery]
version = "5.5"
broker_transport_options = { visibility_timeout = 20 }
[topology]
concurrency = 1
[run]
tests = 3
duration = "10s"
[[fault]]
at = "2s"
kind = "revoke"
target = "test"
test = 2
[[fault]]
at = "3s"
kind = "kill_worker"
worker = "w1"
restart_after = "1s""#);
    // Tests 1 and 2 were prefetched (unacked) when the worker died; the sweep brings them back
    // to a worker that no longer knows test 2 was revoked, so it runs.
    assert_eq!(r.verdict.header_runs[2], 1);
    assert_eq!(r.verdict.header_states[2], TaskState::Success);
}

// ---- §3 retries -------------------------------------------------------------------------------

#[test]
fn autoretry_runs_n_plus_one_times_then_fails() {
    let r = sc(r#"horizon = "1m"
[celery.task_annotations.execute_single_test]
autoretry_for = ["Exception"]
max_retries = 2
default_retry_delay = 1
[run]
tests = 1
duration = "1s"
outcome = "raise""#);
    assert_eq!(r.verdict.header_runs, vec![3]);
    assert_eq!(count(&r, |n| matches!(n, Note::RetryScheduled { .. })), 2);
    assert_eq!(r.verdict.header_states, vec![TaskState::Failure]);
}

#[test]
fn rhesis_retries_a_raising_test_then_returns_a_failure_dict() {
    let r = sc(r#"preset = "rhesis"
horizon = "5m"
[run]
tests = 2
duration = "1s"
[[run.override]]
test = 1
outcome = "raise""#);
    assert_eq!(r.verdict.header_runs, vec![1, 4], "max_retries 3: four runs");
    assert_eq!(r.verdict.header_states, vec![TaskState::Success; 2]);
    assert_eq!(status(&r), Some(RunStatus::Completed), "era C counts only the one row, with no errors");
}

// ---- the application --------------------------------------------------------------------------

/// The run status under `profile` when test `test` of `tests` (1 s each, the rest passing)
/// has `outcome`.
fn profile_status(profile: &str, tests: u32, test: u32, outcome: &str) -> Option<RunStatus> {
    status(&sc(&format!(
        r#"horizon = "1m"
[app]
profile = "{profile}"
[run]
tests = {tests}
duration = "1s"
[[run.override]]
test = {test}
outcome = "{outcome}""#
    )))
}

#[test]
fn doc_and_rhesis_profiles_classify_a_failed_test_differently() {
    for (profile, want) in [("doc", RunStatus::Partial), ("rhesis", RunStatus::Completed)] {
        assert_eq!(profile_status(profile, 4, 2, "fail_status"), Some(want), "{profile}");
    }
}

#[test]
fn an_empty_header_runs_the_body_at_once() {
    for (profile, want) in [("doc", RunStatus::Completed), ("rhesis", RunStatus::Failed)] {
        let r = sc(&format!("horizon = \"1m\"\n[app]\nprofile = \"{profile}\"\n[run]\ntests = 0"));
        assert!(has(&r, |n| matches!(n, Note::BodyCalled { entries: 0 })));
        assert_eq!(status(&r), Some(want), "{profile}: total 0 → Failed in era C");
    }
}

#[test]
fn a_redelivered_callback_writes_twice_unless_guarded() {
    for guard in [false, true] {
        let r = sc(&format!(
            r#"horizon = "10m"
[celery]
task_acks_late = true
broker_transport_options = {{ visibility_timeout = 30 }}
[app]
callback_duration = "150s"
terminal_guard = {guard}
[run]
tests = 1
duration = "1s""#
        ));
        assert!(r.verdict.callback_runs >= 2);
        assert_eq!(r.verdict.violations.contains_key(&Property::CallbackAtMostOnce), !guard, "guard={guard}");
    }
}

#[test]
fn a_watchdog_failure_is_overwritten_by_a_late_callback_unless_guarded() {
    for guard in [false, true] {
        // The producer cannot reach the broker when the watchdog revokes the body, so the
        // revoke is lost and collect_results still runs.
        let r = sc(&format!(
            r#"horizon = "1m"
[app]
terminal_guard = {guard}
[[policy]]
kind = "watchdog"
older_than = "5s"
[run]
tests = 1
duration = "10s"
[[fault]]
at = "4s"
kind = "partition"
between = ["producer", "broker"]"#
        ));
        assert!(has(&r, |n| matches!(n, Note::PolicyActed { kind: PolicyKind::Watchdog, .. })));
        assert_eq!(r.verdict.violations.contains_key(&Property::TerminalNeverOverwritten), !guard, "guard={guard}");
        assert_eq!(r.verdict.final_status, if guard { RunStatus::Failed } else { RunStatus::Completed });
    }
}

#[test]
fn applying_the_chord_across_a_cut_link_waits_on_redis_and_is_lost_on_amqp() {
    // The producer's link to the broker is cut at 1 s (one way: its requests); the chord is
    // applied at 2 s (source notes §16). Redis: the first LPUSH waits for its reply, so the
    // apply goes on when the link heals, or raises when Linux gives up retransmitting, 924.6 s
    // later (926.6 s). RabbitMQ: basic_publish returns, the chord counts as applied, and the
    // messages are lost with the connection 1 s later, unless the link heals within that second.
    for (broker, heal, outcome) in [
        ("redis", None, "raised at 926.6"),
        ("redis", Some("30s"), "applied at 31"),
        ("amqp", None, "lost at 3"),
        ("amqp", Some("1500ms"), "applied at 2"),
    ] {
        let heal_after = heal.map(|h| format!("heal_after = \"{h}\"")).unwrap_or_default();
        let r = sc(&format!(
            r#"horizon = "20m"
[topology]
broker = "{broker}"
[app]
submit_at = "2s"
[run]
tests = 2
duration = "1s"
[[fault]]
at = "1s"
kind = "partition"
between = ["producer", "broker"]
direction = "one_way"
{heal_after}"#
        ));
        let applied = first_at(&r, |n| matches!(n, Note::ChordApplied { .. }));
        let raised = first_at(&r, |n| matches!(n, Note::ApplyFailed { .. }));
        let lost = first_at(&r, |n| matches!(n, Note::Lost { why: Loss::CutConnection, .. }));
        let waited = has(&r, |n| matches!(n, Note::ApplyWaits));
        assert_eq!(waited, broker == "redis", "{broker} {heal:?}");
        match outcome {
            "raised at 926.6" => {
                assert_eq!((applied, raised), (None, Some(926.6)));
                assert!(r.verdict.cause[0].contains("applying the chord raised"), "{:?}", r.verdict.cause);
            }
            "applied at 31" => {
                assert_eq!((applied, raised), (Some(31.0), None));
                assert_eq!(status(&r), Some(RunStatus::Completed));
            }
            "lost at 3" => {
                assert_eq!((applied, lost), (Some(2.0), Some(3.0)));
                assert_eq!(count(&r, |n| matches!(n, Note::Lost { why: Loss::CutConnection, .. })), 2);
                assert_eq!(r.verdict.ending, Ending::Stuck);
            }
            _ => {
                assert_eq!((applied, lost), (Some(2.0), None));
                assert_eq!(status(&r), Some(RunStatus::Completed));
            }
        }
    }
}

#[test]
fn settings_with_no_effect_are_reported() {
    let s = super::parse(
        r#"name = "x"
about = "y"
[celery]
chord_unlock_max_retries = 3
task_serializer = "json"
[celery.task_annotations."celery.chord_unlock"]
rate_limit = "10/s"
[run]
tests = 1
[expect]
status = "stuck""#,
    );
    let names: Vec<&str> = s.celery.inert.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["chord_unlock_max_retries", "task_annotations['celery.chord_unlock'].rate_limit", "task_serializer"]
    );
    assert!(s.celery.inert[0].why.contains("not a Celery setting"));
    assert!(s.celery.inert[2].why.starts_with("a Celery setting"));
}

// ---- §12 version differences at worker loss, rejects and store retries -----------------------

#[test]
fn a_child_lost_after_storing_success_fails_the_chord_up_to_5_6_but_not_in_5_7() {
    for backend in ["redis", "database"] {
        for v in VERSIONS {
            let r = sc(&format!(
                r#"horizon = "1m"
[celery]
version = "{v}"
[topology]
backend = "{backend}"
[app]
errback = "inline"
[run]
tests = 2
duration = "5s"
[[run.override]]
test = 0
duration = "1s"
outcome = "die_after_return""#
            ));
            let old = v != "5.7";
            let overwritten = has(&r, |n| {
                matches!(n, Note::Stored { task: TaskRef::Header(0), state: TaskState::Failure, kept_success: false })
            });
            let kept = has(&r, |n| {
                matches!(n, Note::Stored { task: TaskRef::Header(0), state: TaskState::Failure, kept_success: true })
            });
            assert_eq!(overwritten, old && backend == "database", "{backend} {v}: the database overwrites SUCCESS");
            assert_eq!(kept, old && backend == "redis", "{backend} {v}: Redis keeps SUCCESS");
            assert_eq!(status(&r), Some(if old { RunStatus::Failed } else { RunStatus::Completed }), "{backend} {v}");
            if backend == "redis" && old {
                // The FAILURE report is a second member: the count reaches the size at once.
                let err = first_at(&r, |n| matches!(n, Note::ChordError { .. })).unwrap();
                assert!(err < 5.0, "{v}: early ChordError at {err}");
                assert_eq!(r.verdict.header_states[0], TaskState::Success, "{v}: Redis kept SUCCESS");
            }
        }
    }
}

#[test]
fn task_retry_on_worker_lost_resends_the_task_in_5_7() {
    let r = sc(r#"horizon = "10m"
[celery]
version = "5.7"
task_retry_on_worker_lost = true
[run]
tests = 2
duration = "10s"
[[fault]]
at = "5s"
kind = "kill_child"
test = 1"#);
    assert!(has(&r, |n| matches!(n, Note::RetryScheduled { task: TaskRef::Header(1), retries: 1, .. })));
    assert_eq!(r.verdict.header_runs, vec![1, 2]);
    match r.verdict.ending {
        Ending::Terminal { status: RunStatus::Completed, at } => {
            assert!(secs(at) >= 185.0, "after default_retry_delay: {at}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_retry_whose_publish_fails_stores_nothing_up_to_5_6_and_failure_in_5_7() {
    for v in VERSIONS {
        let r = sc(&format!(
            r#"preset = "rhesis"
horizon = "20m"
[celery]
version = "{v}"
[run]
tests = 2
duration = "16m"
[[run.override]]
test = 1
outcome = "raise"
[[fault]]
at = "1s"
kind = "partition"
between = ["w1", "broker"]
direction = "one_way""#
        ));
        // The worker notices the cut at 25 s + 924.6 s (source notes §16); the test raises
        // after that, so its retry's publish fails at once.
        assert!(has(&r, |n| matches!(n, Note::PublishFailed { task: TaskRef::Header(1), .. })), "{v}");
        let want = if v == "5.7" { TaskState::Failure } else { TaskState::Started };
        assert_eq!(r.verdict.header_states[1], want, "{v}");
    }
}

#[test]
fn database_store_retries_depend_on_the_version() {
    // The SUCCESS write, issued at 1.014 s, is the child's first: its session set-up (128–147 ms),
    // 2–4 ms of its own work and the 5 ms hold put its landing between 1.149 and 1.170 s whatever
    // the seed, inside a 40 ms outage from 1.14 s.
    for (v, always, stored) in
        [("5.5", false, false), ("5.5", true, false), ("5.6", false, false), ("5.6", true, true), ("5.7", false, true)]
    {
        let r = sc(&format!(
            r#"horizon = "10s"
[celery]
version = "{v}"
result_backend_always_retry = {always}
[topology]
backend = "database"
[run]
tests = 1
duration = "1s"
[[fault]]
at = "1140ms"
kind = "backend_outage"
duration = "40ms""#
        ));
        assert_eq!(r.verdict.header_states[0] == TaskState::Success, stored, "{v} always_retry={always}");
        assert_eq!(has(&r, |n| matches!(n, Note::StoreFailed { .. })), !stored, "{v} always_retry={always}");
    }
}

#[test]
fn the_final_join_reads_the_cached_results_and_never_times_out() {
    // celery result.py: ready() caches each result it reads once ready, and get() returns the
    // cache, so the join after a ready poll reads nothing (docs/celery-source-notes.md §12):
    // neither 2,000 results nor a zero timeout make it fail, in any version, and the setting is
    // reported as having no effect.
    for v in VERSIONS {
        for timeout in ["0", "3.0"] {
            let r = sc(&format!(
                r#"horizon = "10m"
[celery]
version = "{v}"
result_chord_join_timeout = {timeout}
[topology]
backend = "database"
concurrency = 8
[app]
errback = "inline"
[run]
tests = 2000
duration = "10ms""#
            ));
            assert!(!has(&r, |n| matches!(n, Note::ChordError { .. })), "{v} {timeout}");
            assert_eq!(status(&r), Some(RunStatus::Completed), "{v} {timeout}");
        }
    }
    let sc = super::parse(
        "name = \"n\"\nabout = \"a\"\n[celery]\nresult_chord_join_timeout = 10\n[run]\ntests = 1\n[expect]\nstatus = \"Completed\"\n",
    );
    let inert: Vec<&str> = sc.celery.inert.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(inert, vec!["result_chord_join_timeout"]);
    assert!(sc.celery.inert[0].why.contains("never waits"));
}

#[test]
fn an_operator_cancel_is_terminal_and_revokes_the_body() {
    let r = sc(r#"preset = "rhesis"
horizon = "1m"
[run]
tests = 2
duration = "10s"
[[fault]]
at = "2s"
kind = "cancel_run""#);
    assert_eq!(r.verdict.ending, Ending::Terminal { status: RunStatus::Cancelled, at: SimTime(2_000_000) });
    assert_eq!(r.verdict.callback_runs, 0, "the revoked body is dropped");
    assert!(has(&r, |n| matches!(n, Note::RevokedDropped { task: TaskRef::Body, .. })));
}

// ---- review findings: stores, reconnects, ignore_result, refused retries ---------------------

#[test]
fn a_refused_chord_unlock_retry_fails_the_body_only_in_5_7() {
    for v in VERSIONS {
        // The broker goes down while poll 1 runs, so its retry publish is refused.
        let r = sc(&format!(
            r#"horizon = "1m"
[celery]
version = "{v}"
[topology]
backend = "database"
[app]
errback = "inline"
[run]
tests = 1
duration = "10s"
[[fault]]
at = "1001ms"
kind = "broker_restart"
down_for = "5s""#
        ));
        assert!(has(&r, |n| matches!(n, Note::PublishFailed { task: TaskRef::ChordUnlock, .. })), "{v}");
        let new = v == "5.7";
        assert_eq!(status(&r), new.then_some(RunStatus::Failed), "{v}");
        assert_eq!(r.verdict.body_state, if new { TaskState::Failure } else { TaskState::Pending }, "{v}");
        assert_eq!(r.verdict.chord_unlock_runs, 1, "{v}: the poll chain ends either way");
    }
}

#[test]
fn a_failed_started_store_fails_the_task_before_its_body_runs() {
    for (always, completes) in [(false, false), (true, true)] {
        let r = sc(&format!(
            r#"horizon = "1m"
[celery]
task_track_started = true
result_backend_always_retry = {always}
[run]
tests = 1
duration = "5s"
[[fault]]
at = "0s"
kind = "backend_outage"
duration = "10s""#
        ));
        let ran = has(&r, |n| matches!(n, Note::Finished { how: chordsim::trace::Ending::Returned(_), .. }));
        assert_eq!(ran, completes, "always_retry={always}: the body runs only once STARTED is stored");
        assert_eq!(has(&r, |n| matches!(n, Note::StoreFailed { state: TaskState::Started, .. })), !always);
        match (completes, r.verdict.ending) {
            (true, Ending::Terminal { status: RunStatus::Completed, at }) => assert!(secs(at) >= 15.0, "{at}"),
            (false, Ending::Stuck) => {}
            (_, other) => panic!("always_retry={always}: {other:?}"),
        }
    }
}

#[test]
fn a_failed_success_store_is_followed_by_a_failure_store_that_can_land_later() {
    // w1 cannot reach the backend from 1 s to 150 s: the SUCCESS store gives up after the 120 s
    // connect timeout, the FAILURE store that follows lands when the link heals.
    let r = sc(r#"horizon = "10m"
[app]
errback = "inline"
[run]
tests = 1
duration = "2s"
[[fault]]
at = "1s"
kind = "partition"
between = ["w1", "backend"]
heal_after = "149s""#);
    let failed_success = first_at(&r, |n| matches!(n, Note::StoreFailed { state: TaskState::Success, .. })).unwrap();
    assert!((failed_success - 122.0).abs() < 1.0, "{failed_success}");
    let failure =
        first_at(&r, |n| matches!(n, Note::Stored { state: TaskState::Failure, task: TaskRef::Header(0), .. }))
            .unwrap();
    assert!((150.0..152.0).contains(&failure), "{failure}");
    assert_eq!(status(&r), Some(RunStatus::Failed));
}

#[test]
fn reconnects_back_off_to_30_seconds_and_stop_after_broker_connection_max_retries() {
    // The worker notices the cut at 1 s at its next health-check PING, 25 s, plus 924.6 s of
    // retransmissions (source notes §16): 949.6 s (its test, still running, writes nothing on
    // the link meanwhile). Each attempt then fails after Linux's 131 s of SYN retries (the
    // Redis transport sets no connect timeout), and kombu sleeps 2, 4, …, 28 s, then 30 s from
    // the 15th attempt: 30 + 5 × 131 s for 5 attempts, 390 + 20 × 131 s for 20.
    for (max, exits_at) in [("5", Some(1634.6)), ("20", Some(3959.6)), ("100", None)] {
        let r = sc(&format!(
            r#"horizon = "2h"
[celery]
broker_connection_max_retries = {max}
[run]
tests = 1
duration = "20m"
[[fault]]
at = "1s"
kind = "partition"
between = ["w1", "broker"]"#
        ));
        assert_eq!(first_at(&r, |n| matches!(n, Note::WorkerExited { .. })), exits_at, "max {max}");
    }
}

#[test]
fn without_broker_connection_retry_a_worker_exits_when_its_connection_breaks() {
    // RabbitMQ: the cut at 1 s is noticed at the heartbeat check at 20 s plus the 1 s user
    // timeout (source notes §16); one that heals before then breaks nothing.
    for (heal, exits) in [("30s", Some(21.0)), ("15s", None)] {
        let r = sc(&format!(
            r#"horizon = "1m"
[celery]
broker_connection_retry = false
[topology]
broker = "amqp"
[run]
tests = 1
duration = "40s"
[[fault]]
at = "1s"
kind = "partition"
between = ["w1", "broker"]
heal_after = "{heal}""#
        ));
        assert_eq!(first_at(&r, |n| matches!(n, Note::WorkerExited { .. })), exits, "heal after {heal}");
        assert_eq!(r.verdict.ending == Ending::Stuck, exits.is_some(), "heal after {heal}");
    }
}

#[test]
fn a_per_call_ignore_result_stops_failure_storage_from_5_6() {
    for v in VERSIONS {
        let r = sc(&format!(
            r#"horizon = "1m"
[celery]
version = "{v}"
[topology]
backend = "database"
[app]
errback = "inline"
[run]
tests = 2
duration = "1s"
[[run.override]]
test = 0
outcome = "raise"
ignore_result = true"#
        ));
        if v == "5.5" {
            assert_eq!(r.verdict.header_states[0], TaskState::Failure, "{v}: only SUCCESS is skipped");
            assert_eq!(status(&r), Some(RunStatus::Failed), "{v}");
        } else {
            assert_eq!(r.verdict.header_states[0], TaskState::Pending, "{v}");
            assert!(r.verdict.violations.contains_key(&Property::PollingBounded), "{v}: polls for ever");
        }
    }
}

#[test]
fn a_revoked_message_is_acked_only_after_its_revoked_state_is_stored() {
    let r = sc(r#"horizon = "1m"
[celery]
version = "5.5"
[topology]
concurrency = 1
[run]
tests = 3
duration = "10s"
[[fault]]
at = "2s"
kind = "revoke"
target = "test"
test = 2
[[fault]]
at = "19s"
kind = "backend_outage"
duration = "20s""#);
    assert!(has(&r, |n| matches!(n, Note::RevokedDropped { task: TaskRef::Header(2), .. })));
    assert!(has(&r, |n| matches!(n, Note::StoreFailed { task: TaskRef::Header(2), state: TaskState::Revoked })));
    assert!(
        !has(&r, |n| matches!(n, Note::Acked { task: TaskRef::Header(2), .. })),
        "left unacked for a later restore"
    );
}

// ---- rules the review found untested ------------------------------------------------------

#[test]
fn a_consumer_start_restores_unacked_messages_older_than_the_visibility_timeout() {
    let r = sc(r#"horizon = "2m"
[celery]
task_acks_late = true
broker_transport_options = { visibility_timeout = 10 }
[run]
tests = 1
duration = "30s"
[[fault]]
at = "5s"
kind = "kill_worker"
worker = "w1"
restart_after = "20s""#);
    // Delivered at 0, the message is 25.7 s old when the restarted worker registers its event
    // loop at 25.7 s (25 s, then 0.6 s of imports and 4 × 25 ms for the pool).
    assert_eq!(first_at(&r, |n| matches!(n, Note::Restored { sweep: true, .. })), Some(25.7));
}

#[test]
fn autoretry_jitter_draws_from_zero_to_the_backoff_from_the_seed() {
    let body = |jitter: bool, seed: u64| {
        format!(
            r#"seed = {seed}
horizon = "1h"
[celery.task_annotations.execute_single_test]
autoretry_for = ["Exception"]
max_retries = 6
retry_backoff = true
retry_jitter = {jitter}
[run]
tests = 1
duration = "100ms"
outcome = "raise""#
        )
    };
    let countdowns = |r: &RunResult| -> Vec<u64> {
        r.trace
            .iter()
            .filter_map(|rec| match rec.note {
                Note::RetryScheduled { countdown, .. } => Some(countdown.0 / 1_000_000),
                _ => None,
            })
            .collect()
    };
    assert_eq!(countdowns(&sc(&body(false, 1))), vec![1, 2, 4, 8, 16, 32], "§3: factor·2^retries");
    let jittered: Vec<Vec<u64>> = (1..=5).map(|seed| countdowns(&sc(&body(true, seed)))).collect();
    for c in &jittered {
        assert!(c.iter().zip([1, 2, 4, 8, 16, 32]).all(|(x, max)| *x <= max), "{c:?}");
    }
    assert!(jittered.iter().any(|c| c != &jittered[0]), "the seed changes the draws: {jittered:?}");
}

#[test]
fn mingle_hands_a_starting_worker_the_revoked_ids_of_its_peers() {
    // w1 holds test 0 (running, acked) and test 1 (prefetched); tests 2 and 3 wait in the
    // broker. w2 starts after the revoke of test 3 and copies w1's revoked set.
    let r = sc(r#"horizon = "1m"
[celery]
version = "5.5"
worker_prefetch_multiplier = 1
[topology]
workers = [{ concurrency = 1 }, { concurrency = 1, start = false }]
[run]
tests = 4
duration = "10s"
[[fault]]
at = "1s"
kind = "revoke"
target = "test"
test = 3
[[fault]]
at = "5s"
kind = "start_worker"
worker = "w2""#);
    assert!(has(&r, |n| matches!(n, Note::RevokedDropped { task: TaskRef::Header(3), worker: 1 })));
    assert_eq!(r.verdict.header_runs[3], 0);
}

#[test]
fn a_backend_that_comes_back_empty_loses_the_chord_keys() {
    for (lose, completes) in [(false, true), (true, false)] {
        let r = sc(&format!(
            r#"horizon = "5m"
[run]
tests = 2
duration = "1s"
[[run.override]]
test = 1
duration = "10s"
[[fault]]
at = "5s"
kind = "backend_outage"
duration = "1s"
lose_data = {lose}"#
        ));
        assert_eq!(status(&r) == Some(RunStatus::Completed), completes, "lose_data={lose}");
        if lose {
            assert!(has(&r, |n| matches!(n, Note::PartReturn { outcome: chordsim::trace::PartNote::NoSizeKey, .. })));
        }
    }
}

#[test]
fn an_amqp_broker_requeues_unacked_deliveries_when_it_comes_back() {
    let r = sc(r#"horizon = "2m"
[celery]
task_acks_late = true
[topology]
broker = "amqp"
[run]
tests = 2
duration = "10s"
[[fault]]
at = "2s"
kind = "broker_restart"
down_for = "3s""#);
    assert_eq!(first_at(&r, |n| matches!(n, Note::Restored { sweep: false, .. })), Some(5.0));
    assert_eq!(r.verdict.header_runs, vec![2, 2], "the running copies finish, the requeued ones run again");
}

#[test]
fn the_doc_profile_counts_a_malformed_result_as_passed_and_rhesis_drops_it() {
    for (profile, want) in [("doc", RunStatus::Completed), ("rhesis", RunStatus::Completed)] {
        assert_eq!(profile_status(profile, 2, 1, "malformed"), Some(want), "{profile}");
    }
    // Only None and `status: failed` are failures in the doc profile (rhesis-model §c era A).
    let r = sc("horizon = \"1m\"\n[run]\ntests = 2\nduration = \"1s\"\noutcome = \"malformed\"");
    assert_eq!(status(&r), Some(RunStatus::Completed));
    let r = sc("horizon = \"1m\"\n[run]\ntests = 2\nduration = \"1s\"\noutcome = \"return_none\"");
    assert_eq!(status(&r), Some(RunStatus::Failed));
}

#[test]
fn the_watchdog_revokes_the_body_so_collect_results_never_runs() {
    let r = sc(r#"horizon = "1m"
[[policy]]
kind = "watchdog"
older_than = "5s"
[run]
tests = 1
duration = "10s""#);
    assert!(has(&r, |n| matches!(n, Note::RevokedDropped { task: TaskRef::Body, .. })));
    assert_eq!(r.verdict.callback_runs, 0);
    assert_eq!(r.verdict.final_status, RunStatus::Failed);
}

#[test]
fn split_ack_on_timeout_off_requeues_a_timed_out_task_in_every_version() {
    for v in VERSIONS {
        let setting =
            if v == "5.7" { "task_acks_on_timeout = false" } else { "task_acks_on_failure_or_timeout = false" };
        let r = sc(&format!(
            r#"horizon = "5s"
[celery]
version = "{v}"
task_acks_late = true
{setting}
[run]
tests = 1
duration = "10s"
time_limit = "3s""#
        ));
        assert!(has(&r, |n| matches!(n, Note::Requeued { .. })), "{v}");
    }
}

#[test]
fn a_terminal_guard_also_stops_a_late_errback() {
    for guard in [false, true] {
        let r = sc(&format!(
            r#"horizon = "1m"
[app]
errback = "inline"
terminal_guard = {guard}
[run]
tests = 2
duration = "10s"
[[run.override]]
test = 1
outcome = "raise"
[[fault]]
at = "1s"
kind = "cancel_run""#
        ));
        assert_eq!(r.verdict.final_status, if guard { RunStatus::Cancelled } else { RunStatus::Failed });
        assert_eq!(r.verdict.violations.contains_key(&Property::TerminalNeverOverwritten), !guard);
    }
}

/// Memory follows the tests, not simulated time: after 20 identical chord_unlock polls the
/// trace folds further identical ones (World::note), so a day of polling for ever keeps about
/// the records of an hour while the engine does 24 times the work.
#[test]
fn a_day_of_polling_for_ever_keeps_the_trace_of_an_hour() {
    let poll_for = |horizon: &str| {
        run_toml(&format!(
            "name = \"poll\"\nabout = \"a hung header keeps chord_unlock polling (max_retries None)\"\nhorizon = \"{horizon}\"\n\
             [topology]\nbackend = \"database\"\n[run]\ntests = 2\nduration = \"1s\"\noutcome = \"hang\"\n[expect]\nstatus = \"stuck\"\n"
        ))
    };
    let (hour, day) = (poll_for("1h"), poll_for("24h"));
    assert!(day.events > 20 * hour.events, "a day polls on: {} vs {} events", day.events, hour.events);
    assert!(
        day.trace.len() <= hour.trace.len() + 8,
        "the trace grew with simulated time: {} records after a day, {} after an hour",
        day.trace.len(),
        hour.trace.len()
    );
    assert!(has(&day, |n| matches!(n, Note::PollsFolded { polls, .. } if *polls > 80_000)));
}

// ---- §3 an explicit self.retry() -----------------------------------------------------------

#[test]
fn self_retry_resends_the_task_after_its_countdown_then_it_passes() {
    // Observation 21: self.retry(countdown=1, max_retries=3) on the first two runs of 1 s.
    let r = sc(r#"[run]
tests = 2
duration = "1s"
[[run.override]]
test = 1
outcome = "retry"
fails = 2
countdown = "1s"
max_retries = 3"#);
    let starts: Vec<f64> = r
        .trace
        .iter()
        .filter(|rec| matches!(rec.note, Note::Started { task: TaskRef::Header(1), .. }))
        .map(|rec| secs(rec.at))
        .collect();
    assert_eq!(starts.len(), 3);
    assert!(starts.windows(2).all(|w| (w[1] - w[0] - 2.0).abs() < 0.05), "1 s run + 1 s countdown: {starts:?}");
    assert_eq!(count(&r, |n| matches!(n, Note::RetryScheduled { task: TaskRef::Header(1), .. })), 2);
    assert_eq!(status(&r), Some(RunStatus::Completed));
}

#[test]
fn self_retry_past_its_max_retries_raises_the_exception() {
    let r = sc(r#"[run]
tests = 1
duration = "1s"
outcome = "retry"
fails = 5
countdown = "1s"
max_retries = 2"#);
    assert_eq!(r.verdict.header_runs, vec![3], "the first run and two retries");
    assert_eq!(r.verdict.header_states, vec![TaskState::Failure]);
    assert!(has(&r, |n| matches!(n, Note::RetriesExhausted { task: TaskRef::Header(0) })));
}

#[test]
fn retry_parameters_on_an_outcome_that_does_not_take_them_are_refused() {
    let e = chordsim::scenario::Scenario::parse(
        "x.toml",
        "name = \"x\"\nabout = \"y\"\n[run]\ntests = 1\noutcome = \"pass\"\ncountdown = \"1s\"\n[expect]\nstatus = \"stuck\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("run.countdown: `countdown` applies to the outcome retry only"), "{e}");
}

// ---- §9 stalls, signals to the process group, soft shutdown ----------------------------------

#[test]
fn a_stalled_backend_delays_the_stores_until_it_answers_and_loses_nothing() {
    let r = sc(r#"[run]
tests = 2
duration = "1s"
[[fault]]
at = "500ms"
kind = "stall"
nodes = ["backend"]
duration = "5s""#);
    let stored = first_at(&r, |n| matches!(n, Note::Stored { state: TaskState::Success, .. })).unwrap();
    assert!((stored - 5.5).abs() < 0.01, "the SUCCESS stores land when the stall ends: {stored}");
    assert!(!has(&r, |n| matches!(n, Note::StoreFailed { .. } | Note::ConnectionLost { .. })));
    assert_eq!(status(&r), Some(RunStatus::Completed));
}

#[test]
fn a_stalled_broker_holds_the_publish_until_it_answers() {
    // chord_unlock's retry, published during the stall, arrives when it ends (observation 11 B).
    let r = sc(r#"[topology]
backend = "database"
[run]
tests = 1
duration = "3s"
[[fault]]
at = "1500ms"
kind = "stall"
nodes = ["broker"]
duration = "5s""#);
    let polls = poll_times(&r);
    assert!(polls.iter().any(|p| (6.5..6.6).contains(p)), "a poll right after the stall: {polls:?}");
    assert!(!polls.iter().any(|p| (2.2..6.5).contains(p)), "none during it: {polls:?}");
    assert_eq!(status(&r), Some(RunStatus::Completed));
}

#[test]
fn term_to_the_process_group_fails_the_running_tasks_and_to_the_main_process_lets_them_finish() {
    let run = |group: bool| {
        sc(&format!(
            r#"[app]
errback = "inline"
[run]
tests = 2
duration = "3s"
[[fault]]
at = "1s"
kind = "warm_shutdown"
worker = "w1"
group = {group}"#
        ))
    };
    let group = run(true);
    assert_eq!(group.verdict.header_states, vec![TaskState::Failure; 2]);
    assert_eq!(count(&group, |n| matches!(n, Note::Finished { how: chordsim::trace::Ending::ChildKilled, .. })), 2);
    assert_eq!(status(&group), Some(RunStatus::Failed));
    // The children exit at the signal; the shutting-down main process reaps them from its stop
    // loop, 0.5·k s later, k ≤ 2 (docs/celery-source-notes.md §10), and only then fails the tasks.
    assert_eq!(count(&group, |n| matches!(n, Note::ChildSignalled { .. })), 2);
    for seed in 1..=20 {
        let r = run_toml(&format!(
            "name = \"rule\"\nabout = \"rule test\"\nseed = {seed}\n[app]\nerrback = \"inline\"\n[run]\ntests = 2\n\
             duration = \"3s\"\n[[fault]]\nat = \"1s\"\nkind = \"warm_shutdown\"\nworker = \"w1\"\ngroup = true\n\
             [expect]\nstatus = \"Failed\"\n"
        ));
        let failed: Vec<f64> = r
            .trace
            .iter()
            .filter(|rec| matches!(rec.note, Note::Stored { state: TaskState::Failure, task: TaskRef::Header(_), .. }))
            .map(|rec| secs(rec.at))
            .collect();
        assert_eq!(failed.len(), 2, "seed {seed}");
        assert!(failed.iter().all(|t| (1.01..2.25).contains(t)), "seed {seed}: {failed:?}");
    }
    let main = run(false);
    assert_eq!(main.verdict.header_states, vec![TaskState::Success; 2]);
    assert!(has(&main, |n| matches!(n, Note::BodyCalled { .. })), "the counter publishes the body");
    assert_eq!(status(&main), None, "which waits for a worker: this one has exited");
}

#[test]
fn a_time_limit_counts_from_the_ack_read_after_the_header_follows_chord_unlock() {
    // chord_unlock is published first and its countdown anchors the polls; the header leaves
    // 10 ms later (the producer's first publish opens its connection), and a job's limits are
    // armed 5 ms after its hand-off, when the main process reads the child's ACK
    // (docs/calibration.md "Applying the chord"). So a 2 s soft limit fires after the second
    // poll is due, and that poll does not see its result (observation 09 B).
    let r = sc(r#"[topology]
backend = "database"
[run]
tests = 2
duration = "1s"
soft_time_limit = "2s"
[[run.override]]
test = 1
duration = "4s"
outcome = "soft_catch""#);
    let unlock_published =
        first_at(&r, |n| matches!(n, Note::Published { task: TaskRef::ChordUnlock, .. })).expect("published");
    let header_published =
        first_at(&r, |n| matches!(n, Note::Published { task: TaskRef::Header(0), .. })).expect("published");
    assert!((header_published - unlock_published - 0.010).abs() < 1e-6, "{unlock_published} {header_published}");
    let started = first_at(&r, |n| matches!(n, Note::Started { task: TaskRef::Header(1), .. })).unwrap();
    // It catches SoftTimeLimitExceeded and returns when the limit fires.
    let soft = first_at(&r, |n| matches!(n, Note::Finished { task: TaskRef::Header(1), .. })).expect("its end");
    assert!((soft - started - 2.005).abs() < 1e-6, "armed 5 ms after the hand-off: {started} → {soft}");
    let stored =
        first_at(&r, |n| matches!(n, Note::Stored { task: TaskRef::Header(1), state: TaskState::Success, .. }))
            .unwrap();
    let reads: Vec<f64> =
        r.trace.iter().filter(|rec| matches!(rec.note, Note::Poll { .. })).map(|rec| secs(rec.at)).collect();
    assert!(reads[1] < stored, "the second poll reads ({}) before the result lands ({stored})", reads[1]);
    assert_eq!(reads.len(), 3, "so a third poll sees it: {reads:?}");
}

#[test]
fn a_soft_shutdown_lets_short_tasks_finish_before_the_cold_shutdown_cancels_the_rest() {
    let r = sc(r#"horizon = "1m"
[celery]
worker_soft_shutdown_timeout = 5
[run]
tests = 2
duration = "3s"
[[run.override]]
test = 1
duration = "20s"
[[fault]]
at = "1s"
kind = "cold_shutdown"
worker = "w1""#);
    assert_eq!(r.verdict.header_states[0], TaskState::Success, "finished inside the 5 s window");
    assert!(has(&r, |n| matches!(
        n,
        Note::Finished { task: TaskRef::Header(1), how: chordsim::trace::Ending::Cancelled, .. }
    )));
    let cancelled =
        first_at(&r, |n| matches!(n, Note::Finished { how: chordsim::trace::Ending::Cancelled, .. })).unwrap();
    assert!((cancelled - 6.0).abs() < 0.01, "cancelled when the window ends: {cancelled}");
}

#[test]
fn a_worker_started_late_boots_and_mingles_before_it_consumes() {
    let r = sc(r#"[topology]
workers = [{ concurrency = 4 }, { concurrency = 6, start = false }]
[run]
tests = 1
[[fault]]
at = "10s"
kind = "start_worker"
worker = "w2""#);
    let started = r
        .trace
        .iter()
        .find(|rec| matches!(rec.note, Note::ConsumerStarted { worker: 1 }))
        .map(|rec| secs(rec.at))
        .unwrap();
    // 0.6 s of imports, 6 × 25 ms for the pool, then mingle's 1 s (docs/calibration.md).
    assert!((started - 11.75).abs() < 1e-6, "w2 consumes from {started}");
}

#[test]
fn what_a_starting_workers_restore_finds_goes_at_once_to_a_consuming_peer() {
    // Observation 16b: w1 runs four 8 s tests with late acks and a 3 s visibility timeout; w2's
    // start-up scan restores them, and w1, which has free processes and is waiting on the
    // queue, takes them at once (docs/celery-source-notes.md §8), long before w2 consumes.
    let r = sc(r#"horizon = "40s"
[celery]
task_acks_late = true
broker_transport_options = { visibility_timeout = 3 }
[topology]
workers = [{ concurrency = 6 }, { concurrency = 6, start = false }]
[run]
tests = 4
duration = "8s"
[[fault]]
at = "5s"
kind = "start_worker"
worker = "w2""#);
    let restored = first_at(&r, |n| matches!(n, Note::Restored { .. })).expect("a restore");
    let redelivered = first_at(&r, |n| matches!(n, Note::Delivered { worker: 0, redelivered: true, .. }));
    let w2_consumes = first_at(&r, |n| matches!(n, Note::ConsumerStarted { worker: 1 })).expect("w2 consumes");
    assert_eq!(redelivered, Some(restored), "w1 fetches the restored messages when they land");
    assert!(restored < w2_consumes, "restored at {restored}, w2 consumes at {w2_consumes}");
    assert_eq!(r.verdict.header_runs, vec![2, 2, 2, 2]);
}

#[test]
fn an_early_ack_opens_the_prefetch_window() {
    // Prefetch 1, concurrency 1, acks on receipt: acking test 0 as its child takes it frees
    // the window, so the worker fetches test 1 at once and holds it (kombu's QoS counts only
    // unacknowledged deliveries, §1 `worker_prefetch_multiplier`).
    let r = sc(r#"horizon = "30s"
[celery]
worker_prefetch_multiplier = 1
[topology]
concurrency = 1
[run]
tests = 3
duration = "10s""#);
    let acked = first_at(&r, |n| {
        matches!(n, Note::Acked { task: TaskRef::Header(0), when: chordsim::trace::AckWhen::OnReceipt, .. })
    })
    .unwrap();
    let fetched = first_at(&r, |n| matches!(n, Note::Delivered { task: TaskRef::Header(1), .. })).unwrap();
    let third = first_at(&r, |n| matches!(n, Note::Delivered { task: TaskRef::Header(2), .. })).unwrap();
    // Test 1 is published 10 ms after test 0 (the producer's first publish opens its
    // connection): it is fetched as it arrives, with test 0 running.
    assert!(acked < fetched && fetched < 0.05, "test 1 fetched at once: {fetched} (test 0 acked at {acked})");
    assert!(third > 10.0, "test 2 waits for test 1's ack at its start, after 10 s: {third}");
}

/// A revoked message the worker drops is acked once REVOKED is stored, whatever task_acks_late
/// says (§9 "Revoke"); the trace says why instead of claiming task_acks_late=true.
#[test]
fn a_dropped_revoked_message_is_acked_for_being_revoked() {
    let r = sc(r#"horizon = "1m"
[celery]
task_acks_late = false
[topology]
concurrency = 1
[run]
tests = 3
duration = "5s"
[[fault]]
at = "1s"
kind = "revoke"
target = "test"
test = 2"#);
    let acked: Vec<String> = r
        .trace
        .iter()
        .filter(|rec| matches!(rec.note, Note::Acked { task: TaskRef::Header(2), .. }))
        .map(|rec| rec.note.to_string())
        .collect();
    assert_eq!(acked.len(), 1, "{acked:?}");
    assert!(acked[0].contains("once REVOKED is stored"), "{acked:?}");
    assert!(!acked[0].contains("task_acks_late=true"), "{acked:?}");
}

/// A cause chain starts with the fault that lost what the run waits for, then its consequences
/// (issue 11: it used to open with the symptom, chord_unlock's message held unacked).
#[test]
fn the_cause_chain_starts_with_the_fault_that_lost_the_work() {
    let r = sc(r#"horizon = "10m"
[celery]
task_acks_late = true
[topology]
backend = "database"
[run]
tests = 6
duration = "20s"
[[fault]]
at = "5s"
kind = "kill_worker"
worker = "w1"
restart_after = "10s""#);
    let cause = &r.verdict.cause;
    assert!(cause[0].starts_with("root cause: SIGKILL worker w1 at 5.000s"), "{cause:#?}");
    let held = cause.iter().position(|c| c.contains("held unacked")).expect("the symptom is still named");
    assert!(held > 0, "{cause:#?}");
    // Without a fault, no root-cause line is invented.
    let r = sc("[run]\ntests = 2\noutcome = \"hang\"");
    assert!(r.verdict.cause.iter().all(|c| !c.starts_with("root cause")), "{:#?}", r.verdict.cause);
}

/// A poll whose ETA comes while every pool slot of its worker runs a test waits for one, and
/// the verdict says so (issue 11: a poll delayed by an hour was never explained).
#[test]
fn a_late_poll_is_explained_by_the_slots_it_waited_for() {
    let r = sc(r#"horizon = "2m"
[topology]
backend = "database"
concurrency = 1
[run]
tests = 2
duration = "30s""#);
    let late = &r.verdict.late_polls;
    // Due at 1 s, it joins the worker's reserved requests then, behind test 1 (prefetched at
    // once): it runs when both tests have, at 60 s.
    assert!(!late.is_empty(), "the first poll waits for the tests");
    assert!(late[0].starts_with("a poll due at 1.000s ran at 1m0."), "{late:#?}");
    assert!(late[0].contains("waited for a free pool slot: its one slot ran a task"), "{late:#?}");
    // With a free slot, no poll is late.
    let r = sc(
        "horizon = \"2m\"\n[topology]\nbackend = \"database\"\nconcurrency = 4\n[run]\ntests = 2\nduration = \"30s\"",
    );
    assert!(r.verdict.late_polls.is_empty(), "{:#?}", r.verdict.late_polls);
}

/// Past the first few, the verdict counts the late polls rather than explaining each; the
/// count is every poll that started a second or more after its ETA, as the trace shows them.
#[test]
fn late_polls_past_the_first_few_are_counted() {
    // Behind a hung test, the broker stalls for 5 s every 10 s: each poll due inside a stall
    // waits for it to end (its retry's publish waits, §9 "Stall").
    let stalls: String = (1..=5)
        .map(|k| {
            format!("[[fault]]\nat = \"{}s\"\nkind = \"stall\"\nnodes = [\"broker\"]\nduration = \"5s\"\n", k * 10)
        })
        .collect();
    let r = sc(&format!(
        "horizon = \"2m\"\n[topology]\nbackend = \"database\"\nconcurrency = 2\n[run]\ntests = 2\nduration = \"1s\"\n\
         [[run.override]]\ntest = 1\noutcome = \"hang\"\n{stalls}"
    ));
    let second = chordsim::time::SimDuration::from_secs(1);
    let (mut eta, mut late) = (None, 0);
    for rec in &r.trace {
        match &rec.note {
            Note::Published { task: TaskRef::ChordUnlock, eta: Some(e), .. } => eta = Some(*e),
            // The first start after a publish; its ETA is used up either way.
            Note::Started { task: TaskRef::ChordUnlock, .. } if eta.take().is_some_and(|e| rec.at >= e + second) => {
                late += 1
            }
            _ => {}
        }
    }
    assert!(late > 3, "the scenario makes more late polls than are explained: {late}");
    let shown = &r.verdict.late_polls;
    assert_eq!(shown.len(), 4, "{shown:#?}");
    assert!(shown[..3].iter().all(|l| l.starts_with("a poll due at")), "{shown:#?}");
    assert_eq!(shown[3], format!("… and {} more polls ran late", late - 3));
}

/// A message published while the broker is down never reaches a queue; the trace says so, not
/// "lost with the broker's data (a restart without persistence)" for a persistent broker
/// (issue 11).
#[test]
fn a_publish_to_a_down_persistent_broker_is_said_to_be_that() {
    // The broker goes down as the chord is applied: the header's publish, in flight, arrives
    // at a broker that is down.
    let r = sc(r#"horizon = "5m"
[topology]
broker_persistent = true
[run]
tests = 1
duration = "2s"
[[fault]]
at = "0s"
kind = "broker_restart"
down_for = "10s"
persistent = true"#);
    let lost: Vec<String> =
        r.trace.iter().filter(|rec| matches!(rec.note, Note::Lost { .. })).map(|rec| rec.note.to_string()).collect();
    assert!(lost.iter().any(|l| l.contains("published while the broker was down")), "{lost:#?}");
    assert!(lost.iter().all(|l| !l.contains("broker's data")), "a persistent broker keeps its data: {lost:#?}");
    assert!(r.verdict.cause.iter().all(|c| !c.contains("without persistence")), "{:#?}", r.verdict.cause);
}

/// The header line of a big run is a summary, not a list of every test (issue 11: 5,000
/// characters for 200 tests).
#[test]
fn the_header_line_summarises_a_big_run() {
    let r = sc(
        "horizon = \"1h\"\n[topology]\nconcurrency = 8\n[run]\ntests = 200\nduration = \"1s\"\n[[run.override]]\ntest = 7\noutcome = \"raise\"",
    );
    let line = chordsim::report::header_summary(&r.verdict);
    assert!(line.len() < 120, "{line}");
    assert!(line.starts_with("200 tests: 199 SUCCESS, 1 FAILURE (t7)"), "{line}");
}

/// Restore sweeps park while the broker holds nothing and go on, on the grid they kept, when a
/// message is published: a worker connected at 0 s sweeps at 90 s + k × 100 s, so after two idle
/// hours the test a killed peer held (unacked since 2h, visibility timeout 120 s, due at 2h2m) is
/// restored by that worker's sweep at 2h3m10s (7,390 s = 90 + 73 × 100), not by the restarted
/// worker's own later chain. An idle tail costs no events, and the run still ends at its horizon.
#[test]
fn parked_sweeps_keep_their_phase_and_the_horizon() {
    let r = sc(r#"horizon = "3h"
[celery]
task_acks_late = true
broker_transport_options = { visibility_timeout = 120 }
[topology]
workers = 2
concurrency = 1
[app]
submit_at = "2h"
[run]
tests = 1
duration = "10m"
[[fault]]
at = "2h5s"
kind = "kill_worker"
worker = "w1"
restart_after = "10s""#);
    let restored = first_at(&r, |n| matches!(n, Note::Restored { sweep: true, .. }));
    assert_eq!(
        restored,
        Some(7390.0),
        "{:?}",
        r.trace.iter().filter(|x| matches!(x.note, Note::Restored { .. })).collect::<Vec<_>>()
    );
    let idle = sc("horizon = \"3650d\"\n[run]\ntests = 1\nduration = \"1s\"");
    assert!(idle.events < 100, "{} events for ten idle years", idle.events);
    assert_eq!(idle.verdict.stopped_at, SimTime::ZERO + chordsim::time::SimDuration::from_secs(3650 * 86_400));
    assert_eq!(idle.verdict.stop, chordsim::run::StopReason::Horizon);
}

/// The application's own task class (`[app.header]`): its registered name is what
/// task_annotations are matched against, its class attributes apply, and an annotation under
/// that name wins over them, as Celery sets annotations on the class when it registers the task
/// (celery app/annotations.py; §3).
#[test]
fn the_apps_own_task_class_applies_and_annotations_under_its_name_win() {
    let body = |annotations: &str| {
        format!(
            "[app.header]\nname = \"proj.tasks.execute_single_test\"\nautoretry_for = [\"Exception\"]\n\
             max_retries = 1\ndefault_retry_delay = 1\n{annotations}\n[run]\ntests = 1\nduration = \"1s\"\n\
             outcome = \"raise_transient\"\nfails = 1"
        )
    };
    // The class retries once, so the transient failure passes on its second run.
    let own = sc(&body(""));
    assert_eq!(own.verdict.header_runs, vec![2], "{:?}", own.verdict.cause);
    assert_eq!(status(&own), Some(RunStatus::Completed));
    // An annotation under the registered name turns the retries off.
    let named = sc(&body("[celery.task_annotations.\"proj.tasks.execute_single_test\"]\nmax_retries = 0"));
    assert_eq!(named.verdict.header_runs, vec![1]);
    // Under the profile's short name it names no task, and the class's retry stays.
    let short = sc(&body("[celery.task_annotations.execute_single_test]\nmax_retries = 0"));
    assert_eq!(short.verdict.header_runs, vec![2]);
}

#[test]
fn an_apps_task_class_round_trips_and_says_what_it_cannot_read() {
    let text = "name = \"t\"\nabout = \"t\"\n[app.header]\nname = \"proj.t\"\nacks_late = true\ntime_limit = 60\n\
                [app.body]\nname = \"proj.c\"\n[run]\ntests = 1\n[expect]\nstatus = \"stuck\"\n";
    let sc = chordsim::scenario::Scenario::parse("t.toml", text).unwrap();
    assert_eq!(sc.app.header_task.name.as_deref(), Some("proj.t"));
    assert_eq!(sc.app.header_task.attrs.acks_late, Some(true));
    let back = chordsim::scenario::Scenario::parse("back.toml", &sc.to_toml()).unwrap();
    assert_eq!(back.app.header_task, sc.app.header_task);
    assert_eq!(back.app.body_task, sc.app.body_task);
    let bad = text.replace("acks_late = true", "rate_limit = \"10/m\"");
    let e = chordsim::scenario::Scenario::parse("t.toml", &bad).unwrap_err().to_string();
    assert!(
        e.contains("t.toml:5:14") && e.contains("app.header") && e.contains("expected one of: name, max_retries"),
        "{e}"
    );
}

/// `autoretry_for` retries an exception whose class or a base it names (celery
/// app/autoretry.py: `except autoretry_for`; §3): a test's `exception` gives the class and its
/// bases as Python's MRO lists them, and every exception is an `Exception`.
#[test]
fn autoretry_for_retries_only_the_exceptions_it_names() {
    let runs = |autoretry: &str, exception: &str| {
        let r = sc(&format!(
            "[app.header]\nautoretry_for = {autoretry}\nmax_retries = 1\ndefault_retry_delay = 1\n\
             [run]\ntests = 1\nduration = \"1s\"\noutcome = \"raise_transient\"\n{exception}"
        ));
        r.verdict.header_runs[0]
    };
    assert_eq!(runs("[\"ConnectionError\"]", "exception = [\"ConnectionError\", \"OSError\"]"), 2);
    assert_eq!(runs("[\"OSError\"]", "exception = [\"ConnectionError\", \"OSError\"]"), 2, "a base catches it");
    assert_eq!(runs("[\"ConnectionError\"]", "exception = \"KeyError\""), 1, "another class is not caught");
    assert_eq!(runs("[\"ConnectionError\"]", ""), 1, "a plain Exception is not a ConnectionError");
    assert_eq!(runs("[\"Exception\"]", "exception = \"KeyError\""), 2, "Exception catches every one");
}

/// The application's status rule as a table (`[app.status_rule]`): how each result counts and
/// which status each tally gives, in place of the profile's (rhesis-model §c). Its defaults are
/// the doc profile's rule, so only what differs needs saying.
#[test]
fn an_apps_status_rule_table_replaces_the_profiles() {
    let body = |rule: &str| {
        format!("{rule}\n[run]\ntests = 2\nduration = \"1s\"\n[[run.override]]\ntest = 1\noutcome = \"return_none\"")
    };
    // The doc rule counts None as failed: one of two failed is Partial.
    assert_eq!(status(&sc(&body(""))), Some(RunStatus::Partial));
    // Skipping None leaves one passed and nothing failed.
    let skip = sc(&body("[app.status_rule]\nreturn_none = \"skipped\""));
    assert_eq!(status(&skip), Some(RunStatus::Completed));
    assert!(!skip.verdict.violations.contains_key(&Property::StatusFollowsRule), "the check uses the same rule");
    // A stricter rule: any failure fails the run.
    let strict = sc(&body("[app.status_rule]\nsome_failed = \"Failed\""));
    assert_eq!(status(&strict), Some(RunStatus::Failed));
    // It round-trips through the file.
    let text = format!(
        "name = \"r\"\nabout = \"r\"\n{}\n[expect]\nstatus = \"stuck\"\n",
        body("[app.status_rule]\nreturn_none = \"skipped\"\nall_failed = \"Partial\"")
    );
    let parsed = chordsim::scenario::Scenario::parse("r.toml", &text).unwrap();
    let back = chordsim::scenario::Scenario::parse("back.toml", &parsed.to_toml()).unwrap();
    assert_eq!(format!("{:?}", back.app.status_rule), format!("{:?}", parsed.app.status_rule));
    let bad = text.replace("return_none = \"skipped\"", "return_none = \"ignored\"");
    let e = chordsim::scenario::Scenario::parse("r.toml", &bad).unwrap_err().to_string();
    assert!(e.contains("app.status_rule.return_none") && e.contains("passed, failed, skipped"), "{e}");
}
