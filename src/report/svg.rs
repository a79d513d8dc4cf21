//! The timeline picture of one run: a lane per worker (one row per pool slot) and lanes for the
//! broker, the result backend and chord_unlock; a bar per task execution coloured by how it
//! ended; fault windows and markers; polls as ticks; the terminal status, or STUCK, at the end;
//! a time axis with sensible units and a legend. Plain SVG 1.1 text, byte-stable.

use std::fmt::Write;

use crate::check::{Ending as RunEnding, Verdict};
use crate::scenario::{BackendKind, FaultKind, Node, Scenario};
use crate::time::{SimDuration, SimTime};
use crate::trace::{Ending, Note, PartNote, Record};
use crate::words::{ResultValue, TaskRef};

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 120.0;
const RIGHT: f64 = 110.0;
const TOP: f64 = 46.0;
const LANE: f64 = 22.0;
const GAP: f64 = 6.0;

/// The colours of execution outcomes, in legend order.
const LEGEND: [(&str, &str); 12] = [
    ("pass", "#43a047"),
    ("failure dict", "#fb8c00"),
    ("None / malformed", "#fdd835"),
    ("collect_results", "#1e88e5"),
    ("raised", "#e53935"),
    ("soft time limit", "#f06292"),
    ("retried", "#ffb300"),
    ("timed out", "#6d4c41"),
    ("killed", "#212121"),
    ("revoked", "#8e24aa"),
    ("cancelled", "#9e9e9e"),
    ("still running", "#cfd8dc"),
];

fn colour(how: Option<Ending>, task: TaskRef) -> &'static str {
    let pick = |name: &str| LEGEND.iter().find(|(n, _)| *n == name).map_or("#000", |(_, c)| *c);
    match how {
        None => pick("still running"),
        Some(Ending::Returned(ResultValue::Summary)) => pick("collect_results"),
        Some(Ending::Returned(ResultValue::Pass)) if task == TaskRef::Body => pick("collect_results"),
        Some(Ending::Returned(ResultValue::Pass)) => pick("pass"),
        Some(Ending::Returned(ResultValue::FailDict)) => pick("failure dict"),
        Some(Ending::Returned(_)) => pick("None / malformed"),
        Some(Ending::Raised) => pick("raised"),
        Some(Ending::SoftLimit) => pick("soft time limit"),
        Some(Ending::Retried) => pick("retried"),
        Some(Ending::HardLimit) => pick("timed out"),
        Some(Ending::ChildKilled | Ending::WorkerKilled) => pick("killed"),
        Some(Ending::Terminated) => pick("revoked"),
        Some(Ending::Cancelled) => pick("cancelled"),
    }
}

/// The lanes a fault shades, for how long (none: an instant), and its label.
fn fault_parts(f: &crate::scenario::Fault, span: SimDuration) -> (Vec<Node>, Option<SimDuration>, String) {
    match &f.kind {
        FaultKind::Partition { a, b, heal_after, .. } => {
            (vec![a.clone(), b.clone()], Some(heal_after.unwrap_or(span)), format!("partition {a}/{b}"))
        }
        FaultKind::BrokerRestart { down_for, .. } => (vec![Node::Broker], Some(*down_for), "broker restart".into()),
        FaultKind::BackendOutage { duration, .. } => (vec![Node::Backend], Some(*duration), "backend outage".into()),
        FaultKind::KillWorker { worker, restart_after } => {
            (vec![Node::Worker(*worker)], *restart_after, format!("SIGKILL w{}", worker + 1))
        }
        FaultKind::ColdShutdown { worker, restart_after, .. } => {
            (vec![Node::Worker(*worker)], *restart_after, format!("cold shutdown w{}", worker + 1))
        }
        FaultKind::Stall { broker, backend, duration } => {
            let nodes = [(*broker, Node::Broker), (*backend, Node::Backend)];
            let nodes = nodes.into_iter().filter_map(|(on, n)| on.then_some(n)).collect();
            (nodes, Some(*duration), "stall".into())
        }
        FaultKind::WarmShutdown { worker, .. } => {
            (vec![Node::Worker(*worker)], None, format!("warm shutdown w{}", worker + 1))
        }
        FaultKind::StartWorker { worker } => (vec![Node::Worker(*worker)], None, format!("start w{}", worker + 1)),
        FaultKind::KillChild { test, .. } => (Vec::new(), None, format!("kill child of test {test}")),
        FaultKind::Revoke { target, .. } => {
            let what = match target {
                crate::scenario::RevokeTarget::Test(i) => format!("test {i}"),
                crate::scenario::RevokeTarget::ChordUnlock => "chord_unlock".to_string(),
                crate::scenario::RevokeTarget::Body => "the body".to_string(),
            };
            (Vec::new(), None, format!("revoke {what}"))
        }
        FaultKind::CancelRun => (Vec::new(), None, "cancel".into()),
    }
}

struct Bar {
    worker: usize,
    slot: usize,
    task: TaskRef,
    start: SimTime,
    end: Option<SimTime>,
    how: Option<Ending>,
}

/// The time the picture spans: up to the terminal status, or the last thing that happened to
/// the chord, with a margin; never past the run's end.
fn span(sc: &Scenario, v: &Verdict, trace: &[Record]) -> SimDuration {
    let mut last = SimTime::ZERO;
    for r in trace {
        let interesting = !matches!(r.note, Note::Restored { .. } | Note::ConsumerStarted { .. });
        if interesting {
            last = last.max(r.at);
        }
    }
    if let RunEnding::Terminal { at, .. } = v.ending {
        last = last.max(at);
    }
    for f in &sc.faults {
        last = last.max(f.at);
    }
    let end = SimDuration(((last.0 as f64) * 1.08) as u64).max(SimDuration::from_secs(1));
    end.min(v.stopped_at.since(SimTime::ZERO)).max(SimDuration::from_millis(100))
}

/// A tick step from a ladder of round durations giving at most about eight ticks.
fn tick_step(span: SimDuration) -> u64 {
    const MS: u64 = 1_000;
    const S: u64 = 1_000_000;
    const LADDER: [u64; 22] = [
        MS,
        2 * MS,
        5 * MS,
        10 * MS,
        20 * MS,
        50 * MS,
        100 * MS,
        200 * MS,
        500 * MS,
        S,
        2 * S,
        5 * S,
        10 * S,
        15 * S,
        30 * S,
        60 * S,
        120 * S,
        300 * S,
        600 * S,
        900 * S,
        1800 * S,
        3600 * S,
    ];
    let raw = span.0 / 8;
    LADDER.iter().copied().find(|&st| st >= raw).unwrap_or_else(|| raw.div_ceil(3600 * S) * 3600 * S)
}

fn tick_label(us: u64, step: u64, span: SimDuration) -> String {
    if step >= 1_000_000 || us.is_multiple_of(1_000_000) && us > 0 {
        SimDuration(us).to_string()
    } else if span.0 >= 1_000_000 {
        format!("{}s", us as f64 / 1e6)
    } else {
        format!("{}ms", us / 1_000)
    }
}

fn esc(s: &str) -> String {
    super::xml_text(s)
}

/// Render the picture.
pub fn render(sc: &Scenario, v: &Verdict, trace: &[Record]) -> String {
    let span = span(sc, v, trace);
    let plot = WIDTH - LEFT - RIGHT;
    let x = |t: SimTime| LEFT + (t.0.min(span.0) as f64) / (span.0 as f64) * plot;
    let polling = sc.topology.backend == BackendKind::Database;

    // Fault labels go in rows above the lanes, each in the first row where it overlaps no
    // other (about 6 px a character at 10 px).
    // Policy actions are labelled like instant faults, from the trace (one per instant).
    let mut acts: Vec<(SimTime, String)> = Vec::new();
    for r in trace {
        if let Note::PolicyActed { kind, dry_run: false, .. } = &r.note {
            let what = r.note.to_string();
            let action = what.rsplit(" -> ").next().unwrap_or_default();
            match acts.last_mut() {
                Some((at, label)) if *at == r.at => {
                    label.push_str(", ");
                    label.push_str(action);
                }
                _ => acts.push((r.at, format!("{}: {action}", kind.name()))),
            }
        }
    }
    let mut label_rows: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut label_row = Vec::new();
    let labels = sc.faults.iter().map(|f| (f.at, fault_parts(f, span).2)).chain(acts.iter().cloned());
    for (at, label) in labels {
        let (x0, w) = (x(at) + 2.0, 14.0 + 6.0 * label.chars().count() as f64);
        let free = label_rows.iter().position(|r| r.iter().all(|&(a, b)| x0 + w <= a || x0 >= b));
        let row = free.unwrap_or_else(|| {
            label_rows.push(Vec::new());
            label_rows.len() - 1
        });
        label_rows[row].push((x0, x0 + w));
        label_row.push(row);
    }
    let top = TOP + 12.0 * label_rows.len().saturating_sub(1) as f64;

    // Lanes: broker, backend, chord_unlock (polling only), then each worker's slots.
    let mut lanes: Vec<(String, f64, f64)> = Vec::new(); // (label, y, height)
    let mut y = top;
    for name in ["broker", "backend"] {
        lanes.push((name.to_string(), y, LANE));
        y += LANE + GAP;
    }
    let unlock_y = y;
    if polling {
        lanes.push(("chord_unlock".to_string(), y, LANE));
        y += LANE + GAP;
    }
    let mut worker_y = Vec::new();
    for w in &sc.topology.workers {
        let rows = w.concurrency.max(1) as f64;
        let row = if rows <= 8.0 { 12.0 } else { (128.0 / rows).max(2.0) };
        let h = rows * row + 4.0;
        lanes.push((format!("{} ({} slots)", w.name, w.concurrency), y, h));
        worker_y.push((y, row));
        y += h + GAP;
    }
    let axis_y = y + 4.0;
    let legend_y = axis_y + 34.0;
    // Legend items in rows that fit the width.
    let mut legend = Vec::new();
    let (mut lx, mut ly) = (LEFT, legend_y);
    for (name, c) in LEGEND {
        let w = 22.0 + name.chars().count() as f64 * 6.4;
        if lx + w > WIDTH - 10.0 {
            (lx, ly) = (LEFT, ly + 16.0);
        }
        legend.push((lx, ly, name, c));
        lx += w;
    }
    let notes_y = ly + 24.0;
    let height = notes_y + 28.0;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, 'DejaVu Sans', sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r##"<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>"##);
    let _ = writeln!(s, r##"<text x="10" y="18" font-size="14" font-weight="bold">{}</text>"##, esc(&sc.name));
    let _ = writeln!(
        s,
        r##"<text x="10" y="34" fill="#555">Celery {} · preset {} · seed {} · {} tests · {} broker, {} backend</text>"##,
        sc.celery.version,
        sc.preset.name(),
        sc.seed,
        sc.tests.len(),
        match sc.topology.broker {
            crate::scenario::BrokerKind::Redis => "Redis",
            crate::scenario::BrokerKind::Amqp => "AMQP",
        },
        if polling { "database" } else { "Redis" }
    );
    for (i, (label, ly, h)) in lanes.iter().enumerate() {
        let fill = if i % 2 == 0 { "#f5f5f5" } else { "#fafafa" };
        let _ = writeln!(s, r#"<rect x="{LEFT}" y="{ly}" width="{plot}" height="{h}" fill="{fill}"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            ly + h / 2.0 + 4.0,
            esc(label)
        );
    }
    let lane_of = |node: &Node| -> Option<(f64, f64)> {
        match node {
            Node::Broker => Some((lanes[0].1, lanes[0].2)),
            Node::Backend => Some((lanes[1].1, lanes[1].2)),
            Node::Worker(w) => {
                let (wy, row) = worker_y[*w];
                Some((wy, sc.topology.workers[*w].concurrency as f64 * row + 4.0))
            }
            Node::Producer => None,
        }
    };

    // Fault windows (shaded) and instants (markers), from the scenario's schedule.
    for (f, row) in sc.faults.iter().zip(&label_row) {
        let (nodes, len, what) = fault_parts(f, span);
        let x0 = x(f.at);
        if let Some(len) = len {
            let x1 = x(f.at + len);
            if f.at + len <= SimTime::ZERO + span {
                let heal = if matches!(f.kind, FaultKind::KillWorker { .. } | FaultKind::ColdShutdown { .. }) {
                    "restart"
                } else {
                    "heal"
                };
                let _ = writeln!(
                    s,
                    r##"<text x="{x1:.1}" y="{}" fill="#2e7d32" font-size="10" text-anchor="middle">▶ {heal}</text>"##,
                    axis_y - 4.0
                );
            }
            for n in &nodes {
                if let Some((ly, h)) = lane_of(n) {
                    let _ = writeln!(
                        s,
                        r##"<rect x="{x0:.1}" y="{ly}" width="{:.1}" height="{h}" fill="#e53935" fill-opacity="0.15"><title>{}</title></rect>"##,
                        (x1 - x0).max(1.0),
                        esc(&what)
                    );
                }
            }
        }
        let label_y = top - 6.0 - 12.0 * *row as f64;
        let _ = writeln!(
            s,
            r##"<line x1="{x0:.1}" y1="{}" x2="{x0:.1}" y2="{axis_y}" stroke="#e53935" stroke-dasharray="3,3"/>"##,
            label_y + 2.0
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{label_y}" fill="#c62828" font-size="10">⚡ {}</text>"##,
            x0 + 2.0,
            esc(&what)
        );
    }

    for ((at, what), row) in acts.iter().zip(&label_row[sc.faults.len()..]) {
        let (x0, label_y) = (x(*at), top - 6.0 - 12.0 * *row as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{x0:.1}" y1="{}" x2="{x0:.1}" y2="{axis_y}" stroke="#6a1b9a" stroke-dasharray="3,3"/>"##,
            label_y + 2.0
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{label_y}" fill="#6a1b9a" font-size="10">⚙ {}</text>"##,
            x0 + 2.0,
            esc(what)
        );
    }

    // Executions.
    let mut bars: Vec<Bar> = Vec::new();
    for r in trace {
        match &r.note {
            Note::Started { task, worker, slot, .. } if *task != TaskRef::ChordUnlock => {
                bars.push(Bar { worker: *worker, slot: *slot, task: *task, start: r.at, end: None, how: None })
            }
            Note::Finished { task, worker, slot, how } => {
                if let Some(b) = bars
                    .iter_mut()
                    .rev()
                    .find(|b| b.worker == *worker && b.slot == *slot && b.task == *task && b.end.is_none())
                {
                    b.end = Some(r.at);
                    b.how = Some(*how);
                }
            }
            _ => {}
        }
    }
    for b in &bars {
        let (wy, row) = worker_y[b.worker];
        let x0 = x(b.start);
        let x1 = x(b.end.unwrap_or(SimTime::ZERO + span));
        let by = wy + 2.0 + b.slot as f64 * row;
        let fill = colour(b.how, b.task);
        let _ = writeln!(
            s,
            r##"<rect x="{x0:.1}" y="{by:.1}" width="{:.1}" height="{:.1}" fill="{fill}" stroke="#ffffff" stroke-width="0.5"><title>{} {}–{}</title></rect>"##,
            (x1 - x0).max(1.5),
            (row - 1.0).max(1.0),
            b.task,
            b.start,
            b.end.map_or("…".to_string(), |e| e.to_string()),
        );
    }

    // Broker, backend and chord_unlock marks.
    for r in trace {
        let at = x(r.at);
        if r.at.0 > span.0 {
            break;
        }
        match &r.note {
            Note::Restored { sweep, .. } => {
                let (ly, h) = (lanes[0].1, lanes[0].2);
                let label = if *sweep { "restored (visibility timeout)" } else { "requeued" };
                let _ = writeln!(
                    s,
                    r##"<path d="M{at:.1},{:.1} l-4,6 h8 z" fill="#00897b"><title>{label} at {}</title></path>"##,
                    ly + 4.0,
                    r.at
                );
                let _ = h;
            }
            Note::Lost { .. } => {
                let ly = lanes[0].1;
                let _ = writeln!(
                    s,
                    r##"<text x="{at:.1}" y="{:.1}" fill="#212121" font-size="10" text-anchor="middle">✕<title>{}</title></text>"##,
                    ly + LANE - 4.0,
                    esc(&r.note.to_string())
                );
            }
            Note::StoreFailed { .. } => {
                let ly = lanes[1].1;
                let _ = writeln!(
                    s,
                    r##"<text x="{at:.1}" y="{:.1}" fill="#e53935" font-size="10" text-anchor="middle">✕<title>{}</title></text>"##,
                    ly + LANE - 6.0,
                    esc(&r.note.to_string())
                );
            }
            Note::Stored { task, state, kept_success: false } if polling => {
                use crate::words::TaskState;
                let colour = match state {
                    TaskState::Success => "#43a047",
                    TaskState::Failure => "#e53935",
                    TaskState::Revoked => "#8e24aa",
                    _ => "#9e9e9e",
                };
                let ly = lanes[1].1;
                let _ = writeln!(
                    s,
                    r##"<line x1="{at:.1}" y1="{:.1}" x2="{at:.1}" y2="{:.1}" stroke="{colour}" stroke-width="1"><title>{task} stored {} at {}</title></line>"##,
                    ly + 4.0,
                    ly + LANE - 4.0,
                    state.name(),
                    r.at
                );
            }
            Note::PartReturn { outcome, .. } => {
                let ly = lanes[1].1;
                let colour = match outcome {
                    PartNote::Fired => "#1e88e5",
                    PartNote::Error => "#e53935",
                    PartNote::Counted(..) => "#757575",
                    PartNote::Duplicate | PartNote::NoSizeKey => "#fb8c00",
                };
                let _ = writeln!(
                    s,
                    r##"<line x1="{at:.1}" y1="{:.1}" x2="{at:.1}" y2="{:.1}" stroke="{colour}" stroke-width="1.5"><title>{}</title></line>"##,
                    ly + 4.0,
                    ly + LANE - 4.0,
                    esc(&r.note.to_string())
                );
            }
            Note::Started { task: TaskRef::ChordUnlock, .. } if polling => {
                let _ = writeln!(
                    s,
                    r##"<line x1="{at:.1}" y1="{:.1}" x2="{at:.1}" y2="{:.1}" stroke="#3949ab" stroke-width="1"><title>poll at {}</title></line>"##,
                    unlock_y + 4.0,
                    unlock_y + LANE - 4.0,
                    r.at
                );
            }
            Note::PollsFolded { from, until, polls } if polling => {
                let (x0, x1) = (x(*from), x(*until));
                let _ = writeln!(
                    s,
                    r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#3949ab" fill-opacity="0.35"><title>{polls} identical polls from {from} to {until}</title></rect>"##,
                    unlock_y + 4.0,
                    (x1 - x0).max(1.0),
                    LANE - 8.0
                );
            }
            Note::Folded { from, until, records, .. } => {
                let (x0, x1, ly) = (x(*from), x(*until), lanes[0].1);
                let _ = writeln!(
                    s,
                    r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#757575" fill-opacity="0.25"><title>{}</title></rect>"##,
                    ly + 2.0,
                    (x1 - x0).max(1.0),
                    LANE - 4.0,
                    esc(&format!("{records} records folded from {from} to {until}: {}", r.note))
                );
            }
            Note::UnlockGaveUp { .. } if polling => {
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" fill="#e53935" font-size="10">gave up<title>{}</title></text>"##,
                    at + 3.0,
                    unlock_y + LANE - 7.0,
                    esc(&r.note.to_string())
                );
            }
            Note::ChordError { .. } => {
                let ly = lanes[1].1;
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" fill="#e53935" font-size="10">ChordError<title>{}</title></text>"##,
                    at + 3.0,
                    ly + LANE - 7.0,
                    esc(&r.note.to_string())
                );
            }
            _ => {}
        }
    }

    // The end: the terminal status, or STUCK.
    match v.ending {
        RunEnding::Terminal { status, at } => {
            let xe = x(at);
            let good = status == crate::scenario::RunStatus::Completed;
            let c = if good { "#2e7d32" } else { "#c62828" };
            let _ = writeln!(
                s,
                r#"<line x1="{xe:.1}" y1="{top}" x2="{xe:.1}" y2="{axis_y}" stroke="{c}" stroke-width="2"/>"#
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{}" fill="{c}" font-weight="bold">{} {}</text>"#,
                (xe + 4.0).min(WIDTH - RIGHT + 4.0),
                axis_y - 4.0,
                status.name(),
                at
            );
        }
        RunEnding::Stuck => {
            let _ = writeln!(
                s,
                r##"<text x="{}" y="{}" fill="#c62828" font-weight="bold" font-size="14">STUCK</text>"##,
                WIDTH - RIGHT + 8.0,
                top + 14.0
            );
            let _ = writeln!(
                s,
                r##"<text x="{}" y="{}" fill="#c62828" font-size="10">{} at {}</text>"##,
                WIDTH - RIGHT + 8.0,
                top + 28.0,
                v.final_status.name(),
                v.stopped_at.since(SimTime::ZERO)
            );
        }
    }

    // Axis.
    let step = tick_step(span);
    let _ = writeln!(s, r##"<line x1="{LEFT}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="#424242"/>"##, LEFT + plot);
    let mut t = 0;
    while t <= span.0 {
        let tx = x(SimTime(t));
        let _ =
            writeln!(s, r##"<line x1="{tx:.1}" y1="{axis_y}" x2="{tx:.1}" y2="{}" stroke="#424242"/>"##, axis_y + 4.0);
        let _ = writeln!(
            s,
            r#"<text x="{tx:.1}" y="{}" text-anchor="middle">{}</text>"#,
            axis_y + 16.0,
            tick_label(t, step, span)
        );
        t += step;
    }

    // Legend.
    for (lx, ly, name, c) in legend {
        let _ = writeln!(s, r#"<rect x="{lx}" y="{ly}" width="10" height="10" fill="{c}"/>"#);
        let _ = writeln!(s, r#"<text x="{}" y="{}">{name}</text>"#, lx + 13.0, ly + 9.0);
    }
    let backend_ticks = if polling {
        "backend ticks: stores (green SUCCESS, red FAILURE, grey STARTED or RETRY, purple REVOKED)"
    } else {
        "backend ticks: part-returns (blue: body fired, red: error, orange: duplicate or no size key)"
    };
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="{notes_y}" fill="#555" font-size="10">red bands: fault windows · ⚙ operator policies · ticks on chord_unlock: polls (a band: identical polls folded) · ▲ broker restores · ✕ lost</text>"##
    );
    let _ =
        writeln!(s, r##"<text x="{LEFT}" y="{}" fill="#555" font-size="10">{backend_ticks}</text>"##, notes_y + 13.0);
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_step_through_round_durations() {
        assert_eq!(tick_step(SimDuration::from_secs(8)), 1_000_000);
        assert_eq!(tick_step(SimDuration::from_secs(30)), 5_000_000);
        assert_eq!(tick_step(SimDuration::from_millis(80)), 10_000);
        assert_eq!(tick_step(SimDuration::from_secs(7200)), 900_000_000);
        let long = SimDuration::from_secs(7200);
        assert_eq!(tick_label(7_200_000_000, 900_000_000, long), "2h");
        assert_eq!(tick_label(150_000_000, 30_000_000, long), "2m30s");
        assert_eq!(tick_label(1_500_000, 500_000, SimDuration::from_secs(4)), "1.5s");
        assert_eq!(tick_label(2_000_000, 500_000, SimDuration::from_secs(4)), "2s");
        assert_eq!(tick_label(500_000, 100_000, SimDuration::from_millis(800)), "500ms");
    }
}
