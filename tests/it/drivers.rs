//! The two drivers: the discrete-event engine and turmoil's simulated TCP (`--driver turmoil`)
//! run the same model to the same verdicts; the turmoil driver is deterministic too; and where
//! they differ, it is because TCP holds what is on the wire when a link is cut.

use chordsim::check::Ending;
use chordsim::run::{Driver, RunResult, run_on};
use chordsim::scenario::{FaultKind, Scenario};
use chordsim::trace::Note;
use chordsim::words::TaskRef;

use super::{fingerprint_on, parse, shipped};

/// Whether a fault is carried by the network or a process: what the turmoil driver does
/// differently (holds a cut link, crashes and bounces a host) or must carry the same.
fn network_or_process(kind: &FaultKind) -> bool {
    matches!(
        kind,
        FaultKind::Partition { .. }
            | FaultKind::Stall { .. }
            | FaultKind::BrokerRestart { .. }
            | FaultKind::BackendOutage { .. }
            | FaultKind::KillWorker { .. }
            | FaultKind::WarmShutdown { .. }
            | FaultKind::ColdShutdown { .. }
    )
}

/// What the drivers must agree on: the verdict without its time (a frame held on a link
/// arrives when it is released, later than the engine delivers it, and what follows from it
/// moves with it), the counts and the states.
fn outcome(r: &RunResult) -> String {
    let v = &r.verdict;
    let ending = match v.ending {
        Ending::Terminal { status, .. } => format!("{status:?}"),
        other => format!("{other:?}"),
    };
    format!(
        "{} final {:?}; callback {} errback {} chord_unlock {}; body {:?}; header {:?} ran {:?}",
        ending,
        v.final_status,
        v.callback_runs,
        v.errback_runs,
        v.chord_unlock_runs,
        v.body_state,
        v.header_states,
        v.header_runs
    )
}

#[test]
fn both_drivers_give_every_shipped_scenario_with_a_fault_the_same_verdict() {
    let mut compared = 0;
    let mut differ = Vec::new();
    for f in shipped() {
        let sc = Scenario::load(&f).unwrap();
        if !sc.faults.iter().any(|x| network_or_process(&x.kind)) {
            continue;
        }
        compared += 1;
        let (a, b) = (run_on(sc.clone(), None, Driver::Events), run_on(sc, None, Driver::Turmoil));
        if outcome(&a) != outcome(&b) {
            differ.push(format!("{}:\n  events  {}\n  turmoil {}", f.display(), outcome(&a), outcome(&b)));
        }
    }
    assert!(compared >= 40, "only {compared} shipped scenarios have such a fault");
    assert!(differ.is_empty(), "the drivers disagree:\n{}", differ.join("\n"));
}

#[test]
fn the_turmoil_driver_replays_every_shipped_scenario_byte_for_byte() {
    for f in shipped() {
        let sc = Scenario::load(&f).unwrap();
        let a = fingerprint_on(&sc, None, Driver::Turmoil);
        let b = fingerprint_on(&sc, None, Driver::Turmoil);
        assert!(a == b, "{}: two turmoil runs of the same seed differ", f.display());
    }
}

#[test]
fn a_delivery_on_the_wire_when_its_link_is_cut_waits_for_the_heal_over_turmoil() {
    // The delivery of test 0 leaves the broker at 1 ms and would arrive at 2 ms; the link is
    // cut at 1.5 ms, for 1 s, too short for the worker to notice (source notes §16). The engine
    // delivers what was sent before a cut; over TCP the segment waits and arrives when the link
    // heals, at 1.0015 s: held on the link cut both ways, held by the driver on a link cut only
    // from the broker (turmoil holds no single direction). Either way nothing else changes.
    for direction in ["both", "one_way"] {
        let sc = parse(&format!(
            r#"
name = "a delivery in flight across a cut"
about = "the drivers differ only in when the delivery arrives"
[run]
tests = 1
duration = "1s"
[[fault]]
at = "1500us"
kind = "partition"
between = ["broker", "w1"]
direction = "{direction}"
heal_after = "1s"
[expect]
status = "Completed"
"#
        ));
        let started = |r: &RunResult| {
            r.trace.iter().find(|x| matches!(x.note, Note::Started { task: TaskRef::Header(0), .. })).map(|x| x.at.0)
        };
        let (a, b) = (run_on(sc.clone(), None, Driver::Events), run_on(sc, None, Driver::Turmoil));
        assert_eq!(started(&a), Some(2_000), "{direction}: the engine delivers at 2 ms, started at once");
        let at = started(&b).expect("started over turmoil");
        assert!(
            (1_001_500..1_002_000).contains(&at),
            "{direction}: held until the heal at 1.0015 s, started at {at} µs"
        );
        for r in [&a, &b] {
            assert_eq!(r.verdict.final_status, chordsim::scenario::RunStatus::Completed);
            assert_eq!(r.verdict.header_runs, vec![1]);
        }
        assert!(!a.trace.iter().chain(&b.trace).any(|x| matches!(x.note, Note::ConnectionLost { .. })));
    }
}

#[test]
fn a_worker_restarted_behind_a_cut_link_connects_when_it_heals_over_turmoil() {
    // w1 dies at 2 s and starts again at 7 s, while its link to the backend is cut from 3 s to
    // 33 s: over turmoil its new process connects to the backend only once the link heals (a
    // connect across the held link would wait unanswered), and its stores then travel on the
    // new connection: the drivers agree.
    let sc = parse(
        r#"
name = "restart behind a cut link"
about = "the turmoil driver reconnects a restarted worker after the heal"
horizon = "10m"
[celery]
task_acks_late = true
broker_transport_options = { visibility_timeout = 60 }
[topology]
concurrency = 100
[run]
tests = 100
duration = "1s..5s"
[[fault]]
at = "2s"
kind = "kill_worker"
worker = "w1"
restart_after = "5s"
[[fault]]
at = "3s"
kind = "partition"
between = ["w1", "backend"]
heal_after = "30s"
[expect]
status = "Completed"
"#,
    );
    let (a, b) = (run_on(sc.clone(), None, Driver::Events), run_on(sc, None, Driver::Turmoil));
    assert_eq!(outcome(&a), outcome(&b));
    assert_eq!(b.verdict.final_status, chordsim::scenario::RunStatus::Completed);
}
