//! Every shipped scenario meets its own expectation, and says why.

use chordsim::check::misses;
use chordsim::run::run;
use chordsim::scenario::Scenario;

use super::shipped;

#[test]
fn every_shipped_scenario_meets_its_expectation() {
    let files = shipped();
    assert!(files.len() >= 16 + 46, "expected the 46 observed scenarios and at least 16 more, found {}", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let sc = Scenario::load(f).unwrap_or_else(|e| panic!("{e}"));
        let result = run(sc.clone(), None);
        let missed = misses(&result.verdict, sc.expect.as_ref());
        if !missed.is_empty() {
            failures.push(format!("{}:\n  {}", f.display(), missed.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "scenarios missed their expectations:\n{}", failures.join("\n"));
}

#[test]
fn every_shipped_scenario_names_the_rule_that_predicts_it() {
    for f in shipped() {
        let sc = Scenario::load(&f).unwrap();
        // Counterexamples written by explore carry the cause chain instead, each link citing
        // its rule; hand-written scenarios say which rule predicts the outcome.
        let text = if f.starts_with("scenarios/found") {
            assert!(sc.about.starts_with("Found by `chordsim explore`"), "{}", f.display());
            sc.about.split_once("shrunk to a minimum.").map(|(_, c)| c.to_string()).unwrap_or_default()
        } else {
            sc.about.clone()
        };
        let cites = ["celery-semantics", "§", "rhesis-model", "celery-source-notes"];
        assert!(
            cites.iter().any(|c| text.contains(c)) && text.len() > 100,
            "{}: `about` must justify the expectation by a rule",
            f.display()
        );
    }
}

#[test]
fn stuck_verdicts_come_with_a_specific_cause_chain() {
    for f in shipped() {
        let sc = Scenario::load(&f).unwrap();
        let v = run(sc, None).verdict;
        if v.ending == chordsim::check::Ending::Stuck {
            // Never just the fallback line: some link names what was lost or who gave up.
            assert!(!v.cause[0].starts_with("no terminal status by"), "{}: {:?}", f.display(), v.cause);
            assert!(v.cause.iter().any(|c| c.contains('§')), "{}: no rule cited in {:?}", f.display(), v.cause);
        }
    }
}
