//! Renderers: the `chordsim run` table, JSON Lines, JUnit XML, the `chordsim replay`
//! timeline, the compact timeline of snapshots and reports, and the `reports/` site.

pub mod json;
pub mod junit;
pub mod site;
pub mod svg;

use std::fmt::Write;

use crate::check::{Ending, Verdict};
use crate::scenario::{ExpectedStatus, Scenario};
use crate::time::SimTime;
use crate::trace::{Note, PartNote, Record};
use crate::words::TaskState;

/// Text for XML (JUnit, SVG), in element content or a double-quoted attribute: `& < > "`
/// escaped, and every character XML 1.0 cannot carry (control characters other than tab and
/// newline) shown as `\u{1b}`, so that any scenario name or path keeps the document well formed.
pub fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// One row of the results table.
pub struct Row {
    /// Scenario file.
    pub file: String,
    /// Outcome text.
    pub outcome: String,
    /// Expected text.
    pub expected: String,
    /// Whether the expectation held.
    pub ok: bool,
    /// Why not.
    pub misses: Vec<String>,
}

/// Outcome as a short cell: `Completed at 3.145s`, `stuck`, and a run the event budget cut
/// short says so: `stuck (stopped: event budget at 53m20s)`.
pub fn outcome_cell(v: &Verdict) -> String {
    let mut s = match v.ending {
        Ending::Terminal { status, at } => {
            format!("{} at {at}{}", status.name(), v.ended_by.map_or(String::new(), |k| format!(" (by {})", k.who())))
        }
        Ending::Stuck => "stuck".to_string(),
    };
    if v.stop == crate::sim::StopReason::EventBudget {
        let _ = write!(s, " (stopped: event budget at {})", v.stopped_at);
    }
    if !v.violations.is_empty() {
        let names: Vec<&str> = v.violations.keys().map(|p| p.name()).collect();
        let _ = write!(s, " [{}]", names.join(", "));
    }
    s
}

/// Expected as a short cell.
pub fn expected_cell(sc: &Scenario) -> String {
    let Some(e) = &sc.expect else { return "terminal, safe".to_string() };
    let mut s = match e.status {
        ExpectedStatus::Terminal(st) => st.name().to_string(),
        ExpectedStatus::Stuck => "stuck".to_string(),
    };
    if let Some(w) = e.within {
        let _ = write!(s, " within {w}");
    }
    s
}

/// How wide the results table may be: wider rows take two lines, the second wrapped.
pub const TABLE_WIDTH: usize = 120;

/// The results table, aligned, within [`TABLE_WIDTH`] columns: one line per scenario when that
/// fits, else the file and ok on one line and the outcome and expectation, wrapped, under it.
/// Nothing is cut.
pub fn table(rows: &[Row]) -> String {
    let w0 = rows.iter().map(|r| r.file.chars().count()).max().unwrap_or(8).max(8);
    let w1 = rows.iter().map(|r| r.outcome.chars().count()).max().unwrap_or(7).max(7);
    let w2 = rows.iter().map(|r| r.expected.chars().count()).max().unwrap_or(8).max(8);
    let ok = |r: &Row| if r.ok { "yes" } else { "NO" };
    let mut out = String::new();
    if w0 + w1 + w2 + 10 <= TABLE_WIDTH {
        let _ = writeln!(out, "{:w0$}  {:w1$}  {:w2$}  ok", "scenario", "outcome", "expected");
        for r in rows {
            let _ = writeln!(out, "{:w0$}  {:w1$}  {:w2$}  {}", r.file, r.outcome, r.expected, ok(r));
            for m in &r.misses {
                out.push_str(&wrap(&format!("- {m}"), "    ", "      "));
            }
        }
    } else {
        let w0 = w0.min(TABLE_WIDTH - 5);
        let _ = writeln!(out, "{:w0$}  ok\n    outcome; expected", "scenario");
        for r in rows {
            let _ = writeln!(out, "{:w0$}  {}", r.file, ok(r));
            out.push_str(&wrap(&format!("{}; expected {}", r.outcome, r.expected), "    ", "      "));
            for m in &r.misses {
                out.push_str(&wrap(&format!("- {m}"), "    ", "      "));
            }
        }
    }
    let failed = rows.iter().filter(|r| !r.ok).count();
    let _ = writeln!(out, "\n{} passed, {} failed", rows.len() - failed, failed);
    out
}

/// The header in one line: counts by final state, the tests not SUCCESS named (the first few),
/// and the tests that ran other than once.
pub fn header_summary(v: &Verdict) -> String {
    const NAMED: usize = 5;
    let names = |tests: &[usize]| {
        let mut s: Vec<String> = tests.iter().take(NAMED).map(|i| format!("t{i}")).collect();
        if tests.len() > NAMED {
            s.push(format!("… {} more", tests.len() - NAMED));
        }
        s.join(", ")
    };
    let n = v.header_states.len();
    let mut by_state: Vec<(TaskState, Vec<usize>)> = Vec::new();
    for (i, s) in v.header_states.iter().enumerate() {
        match by_state.iter_mut().find(|(st, _)| st == s) {
            Some((_, list)) => list.push(i),
            None => by_state.push((*s, vec![i])),
        }
    }
    by_state.sort_by_key(|(s, _)| (*s != TaskState::Success, s.name()));
    let mut parts: Vec<String> = by_state
        .iter()
        .map(|(s, tests)| match s {
            TaskState::Success => format!("{} SUCCESS", tests.len()),
            _ => format!("{} {} ({})", tests.len(), s.name(), names(tests)),
        })
        .collect();
    if let [(TaskState::Success, _)] = by_state[..] {
        parts = vec!["all SUCCESS".to_string()];
    }
    let mut s = format!("{n} test{}: {}", if n == 1 { "" } else { "s" }, parts.join(", "));
    let never: Vec<usize> = (0..n).filter(|&i| v.header_runs[i] == 0).collect();
    let again: Vec<String> =
        (0..n).filter(|&i| v.header_runs[i] > 1).map(|i| format!("t{i} ×{}", v.header_runs[i])).collect();
    if !never.is_empty() {
        let _ = write!(s, "; {} never ran ({})", never.len(), names(&never));
    }
    if !again.is_empty() {
        let more = again.len().saturating_sub(NAMED);
        let mut listed: Vec<String> = again.into_iter().take(NAMED).collect();
        if more > 0 {
            listed.push(format!("… {more} more"));
        }
        let _ = write!(s, "; ran more than once: {}", listed.join(", "));
    }
    s
}

/// `text` in lines of at most [`TABLE_WIDTH`] columns, broken at spaces (a word longer than a
/// line stands alone, whole), the first line after `first`, the rest after `rest`.
fn wrap(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split(' ') {
        if !empty && line.chars().count() + 1 + word.chars().count() > TABLE_WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// What the monitor's health check said at each time asked, and whether it was right.
pub fn health_text(calls: &[crate::check::HealthCall]) -> String {
    let mut s = String::new();
    let mut rule = "";
    for c in calls {
        let h = &c.health;
        if h.rule != rule {
            rule = &h.rule;
            let _ = writeln!(s, "\nhealth, by {rule}:");
        }
        let active: Vec<String> = h.active_chord_unlock.iter().map(|(w, t)| format!("on {w} since {t}")).collect();
        let _ = writeln!(
            s,
            "  at {}: {} ({}) — {}",
            h.at,
            if h.healthy { "healthy" } else { "UNHEALTHY" },
            match (h.stuck.first(), active.is_empty()) {
                (Some(stuck), _) => format!("stuck: {stuck}"),
                (None, true) => format!("no chord_unlock active; run {}", h.run_status.name()),
                (None, false) => format!("chord_unlock active {}; run {}", active.join(", "), h.run_status.name()),
            },
            c.why
        );
    }
    s
}

/// The verdict as readable text: status, counts, cause chain, violations.
pub fn verdict_text(sc: &Scenario, seed: u64, v: &Verdict) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {} ({})", sc.name, sc.file);
    let _ = writeln!(out, "seed: {seed}   celery {}   preset {}", sc.celery.version, sc.preset.name());
    let _ = writeln!(out, "outcome: {}", outcome_cell(v));
    let _ = writeln!(out, "final status: {}", v.final_status.name());
    let _ = writeln!(
        out,
        "counts: collect_results {}, errback {}, chord_unlock {}; body {}",
        v.callback_runs,
        v.errback_runs,
        v.chord_unlock_runs,
        v.body_state.name()
    );
    let _ = writeln!(out, "header: {}", header_summary(v));
    let _ = writeln!(out, "stopped: {} at {}", v.stop.words(), v.stopped_at);
    if !v.cause.is_empty() {
        let _ = writeln!(out, "cause:");
        for c in &v.cause {
            let _ = writeln!(out, "  - {c}");
        }
    }
    if !v.late_polls.is_empty() {
        let _ = writeln!(out, "late polls:");
        for l in &v.late_polls {
            let _ = writeln!(out, "  - {l}");
        }
    }
    for (p, why) in &v.violations {
        let _ = writeln!(out, "violated {}: {why}", p.name());
    }
    if !sc.celery.inert.is_empty() {
        let _ = writeln!(out, "settings with no effect:");
        for i in &sc.celery.inert {
            let _ = writeln!(out, "  - {} = {}: {}", i.name, i.value, i.why);
        }
    }
    out
}

/// The events that tell a run's story, without per-message chatter (publishes, deliveries,
/// acks, STARTED stores, counted parts); runs of polls are folded. Longer stories keep their
/// first and last lines, `cap` in all, around one line saying how many were left out.
pub fn compact_timeline(trace: &[Record], cap: usize) -> Vec<String> {
    let mut lines: Vec<(SimTime, String)> = Vec::new();
    let mut polls: Vec<&Record> = Vec::new();
    let flush = |polls: &mut Vec<&Record>, lines: &mut Vec<(SimTime, String)>| {
        if polls.len() > 2 {
            lines.push((polls[0].at, polls[0].note.to_string()));
            lines.push((polls[0].at, format!("… {} more polls …", polls.len() - 2)));
            let last = polls[polls.len() - 1];
            lines.push((last.at, last.note.to_string()));
        } else {
            lines.extend(polls.iter().map(|r| (r.at, r.note.to_string())));
        }
        polls.clear();
    };
    for r in trace {
        let keep = match &r.note {
            Note::Poll { .. } => {
                polls.push(r);
                continue;
            }
            Note::Published { .. } | Note::Delivered { .. } | Note::Acked { .. } => false,
            Note::Stored { state, .. } => *state != TaskState::Started,
            Note::PartReturn { outcome, .. } => !matches!(outcome, PartNote::Counted(..)),
            Note::ConsumerStarted { .. } => r.at > SimTime::ZERO,
            Note::Started { task, .. } => *task != crate::words::TaskRef::ChordUnlock,
            _ => true,
        };
        flush(&mut polls, &mut lines);
        if keep {
            lines.push((r.at, r.note.to_string()));
        }
    }
    flush(&mut polls, &mut lines);
    let rendered: Vec<String> = lines.into_iter().map(|(at, text)| format!("{:>11}  {text}", at.to_string())).collect();
    if rendered.len() <= cap {
        return rendered;
    }
    let tail = cap / 10;
    let mut out: Vec<String> = rendered[..cap - tail].to_vec();
    out.push(format!("{:>11}  … {} more events …", "", rendered.len() - cap));
    out.extend_from_slice(&rendered[rendered.len() - tail..]);
    out
}
