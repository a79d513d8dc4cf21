//! JUnit XML: `chordsim run --junit FILE` writes one test case per scenario, `chordsim explore
//! --junit FILE` one per distinct failure found; failures carry what was missed and the cause
//! chain, so CI systems show them natively. `time` is the wall-clock seconds the command spent
//! on the case (measured by the command line; the model never sees a clock).

use super::xml_text as escape;

/// One scenario's result for JUnit.
pub struct Case<'a> {
    /// The scenario file (the test case name).
    pub file: &'a str,
    /// The scenario's name.
    pub name: &'a str,
    /// Missed expectations (empty = passed).
    pub misses: &'a [String],
    /// The cause chain, when stuck.
    pub cause: &'a [String],
    /// The replay command.
    pub replay: String,
    /// Wall-clock seconds spent on it.
    pub seconds: f64,
}

/// The JUnit XML document of the suite `suite` (`chordsim run`, `chordsim explore`).
pub fn render(suite: &str, cases: &[Case<'_>]) -> String {
    let failures = cases.iter().filter(|c| !c.misses.is_empty()).count();
    let time: f64 = cases.iter().map(|c| c.seconds).sum();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(&format!(
        "<testsuites name=\"chordsim\" tests=\"{}\" failures=\"{failures}\" time=\"{time:.3}\">\n<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" time=\"{time:.3}\">\n",
        cases.len(),
        escape(suite),
        cases.len()
    ));
    for c in cases {
        let class = c.file.rsplit_once('/').map_or("scenarios", |(dir, _)| dir);
        s.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3}\"",
            escape(class),
            escape(c.name),
            escape(c.file),
            c.seconds
        ));
        if c.misses.is_empty() {
            s.push_str("/>\n");
            continue;
        }
        let mut body = c.misses.join("\n");
        if !c.cause.is_empty() {
            body.push_str("\ncause:\n");
            body.push_str(&c.cause.iter().map(|l| format!("  - {l}")).collect::<Vec<_>>().join("\n"));
        }
        body.push('\n');
        body.push_str(&c.replay);
        s.push_str(&format!(
            ">\n    <failure message=\"{}\" type=\"expectation\">{}</failure>\n  </testcase>\n",
            escape(&c.misses[0]),
            escape(&body)
        ));
    }
    s.push_str("</testsuite>\n</testsuites>\n");
    s
}
