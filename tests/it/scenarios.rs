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
        let missed = misses(&result.verdict, &sc.expect);
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
        let cites = ["celery-semantics", "§", "rhesis-model", "celery-source-notes"];
        assert!(
            cites.iter().any(|c| sc.about.contains(c)) && sc.about.len() > 120,
            "{}: `about` must justify the expectation by a rule",
            f.display()
        );
    }
}

#[test]
fn stuck_verdicts_come_with_a_cause_chain() {
    for f in shipped() {
        let sc = Scenario::load(&f).unwrap();
        let v = run(sc, None).verdict;
        if v.ending == chordsim::check::Ending::Stuck {
            assert!(!v.cause.is_empty(), "{}: stuck without a cause", f.display());
        }
    }
}
