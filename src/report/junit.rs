//! `chordsim run --junit FILE`: one JUnit test case per scenario, failures carrying what was
//! missed and the cause chain, so CI systems show them natively.

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
}

/// The JUnit XML document.
pub fn render(cases: &[Case<'_>]) -> String {
    let failures = cases.iter().filter(|c| !c.misses.is_empty()).count();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(&format!(
        "<testsuites name=\"chordsim\" tests=\"{}\" failures=\"{failures}\">\n<testsuite name=\"chordsim run\" tests=\"{}\" failures=\"{failures}\">\n",
        cases.len(),
        cases.len()
    ));
    for c in cases {
        let class = c.file.rsplit_once('/').map_or("scenarios", |(dir, _)| dir);
        s.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"{}\" file=\"{}\"",
            escape(class),
            escape(c.name),
            escape(c.file)
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
