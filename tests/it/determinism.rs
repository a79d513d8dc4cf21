//! Same scenario and seed, byte-identical trace and verdict; the seed is what varies a run.

use chordsim::scenario::Scenario;

use super::{fingerprint, shipped};

#[test]
fn every_shipped_scenario_replays_byte_for_byte() {
    for f in shipped() {
        let sc = Scenario::load(&f).unwrap();
        let a = fingerprint(&sc, None);
        let b = fingerprint(&sc, None);
        assert!(a == b, "{}: two runs of the same seed differ", f.display());
    }
}

#[test]
fn a_different_seed_draws_different_durations() {
    let sc = super::parse(
        r#"
name = "ranges"
about = "durations drawn from a range by the workload stream"
[run]
tests = 20
duration = "1s..60s"
[expect]
status = "Completed"
"#,
    );
    assert_eq!(fingerprint(&sc, Some(7)), fingerprint(&sc, Some(7)));
    assert_ne!(fingerprint(&sc, Some(7)), fingerprint(&sc, Some(8)));
}
