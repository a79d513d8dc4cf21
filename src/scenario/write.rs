//! Writing a [`Scenario`] back as TOML that parses to the same scenario: every setting explicit
//! (so the preset underneath changes nothing), durations exact to the microsecond. `explore`
//! writes its counterexamples with it, and the round trip is a property test.

use std::fmt::Write;

use super::read::toml_key;
use super::*;
use crate::config::{AckMode, InertPlace};
use crate::words::Property;

pub(super) fn q(s: &str) -> String {
    // A TOML basic string.
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn secs(d: SimDuration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 { format!("{s:.1}") } else { format!("{s}") }
}

fn secs_or_none(d: Option<SimDuration>) -> String {
    d.map_or("\"none\"".to_string(), secs)
}

fn count_or_none(n: Option<u32>) -> String {
    n.map_or("\"none\"".to_string(), |n| n.to_string())
}

fn dur(d: SimDuration) -> String {
    q(&d.to_string())
}

/// The outcome's name and its parameter lines.
fn outcome(o: Outcome) -> (&'static str, String) {
    match o {
        Outcome::Pass => ("pass", String::new()),
        Outcome::FailStatus => ("fail_status", String::new()),
        Outcome::ReturnNone => ("return_none", String::new()),
        Outcome::Malformed => ("malformed", String::new()),
        Outcome::Raise => ("raise", String::new()),
        Outcome::RaiseTransient { fails } => ("raise_transient", format!("fails = {fails}\n")),
        Outcome::Retry { fails, countdown, max_retries } => {
            ("retry", format!("fails = {fails}\ncountdown = {}\nmax_retries = {max_retries}\n", dur(countdown)))
        }
        Outcome::Hang => ("hang", String::new()),
        Outcome::SoftCatch => ("soft_catch", String::new()),
        Outcome::Flaky => ("flaky", String::new()),
        Outcome::DieAfterReturn => ("die_after_return", String::new()),
    }
}

fn node(n: &Node, sc: &Scenario) -> String {
    match n {
        Node::Producer => q("producer"),
        Node::Broker => q("broker"),
        Node::Backend => q("backend"),
        Node::Worker(w) => q(&sc.topology.workers[*w].name),
    }
}

/// The scenario as TOML.
pub fn to_toml(sc: &Scenario) -> String {
    let mut s = String::new();
    let c = &sc.celery;
    let _ = writeln!(s, "name = {}", q(&sc.name));
    let _ = writeln!(s, "about = {}", q(&sc.about));
    let _ = writeln!(s, "seed = {}", sc.seed);
    let _ = writeln!(s, "preset = {}", q(sc.preset.name()));
    let _ = writeln!(s, "horizon = {}", dur(sc.horizon));
    // A file's [[policy]] list replaces its preset's: none is said explicitly.
    if sc.policies.is_empty() {
        let _ = writeln!(s, "policy = []");
    }

    s.push_str("\n[celery]\n");
    let _ = writeln!(s, "version = {}", q(&c.version.to_string()));
    let _ = writeln!(s, "task_acks_late = {}", c.acks == AckMode::Late);
    let _ = writeln!(s, "task_reject_on_worker_lost = {}", c.reject_on_worker_lost);
    if c.version.has_split_ack_settings() {
        let _ = writeln!(s, "task_acks_on_failure = {}", c.acks_on_failure);
        let _ = writeln!(s, "task_acks_on_timeout = {}", c.acks_on_timeout);
        let _ = writeln!(s, "task_retry_on_worker_lost = {}", c.retry_on_worker_lost);
        let _ = writeln!(s, "result_chord_expires = {}", secs_or_none(c.result_chord_expires));
    } else {
        let _ = writeln!(s, "task_acks_on_failure_or_timeout = {}", c.acks_on_failure);
    }
    let _ = writeln!(s, "task_track_started = {}", c.track_started);
    let _ = writeln!(s, "task_ignore_result = {}", c.ignore_result);
    let _ = writeln!(s, "task_time_limit = {}", secs_or_none(c.time_limit));
    let _ = writeln!(s, "task_soft_time_limit = {}", secs_or_none(c.soft_time_limit));
    let _ = writeln!(s, "task_allow_error_cb_on_chord_header = {}", c.allow_error_cb_on_chord_header);
    let _ = writeln!(s, "result_expires = {}", secs_or_none(c.result_expires));
    let _ = writeln!(s, "result_chord_retry_interval = {}", secs(c.chord_retry_interval));
    let _ = writeln!(s, "result_backend_always_retry = {}", c.backend_always_retry);
    let _ = writeln!(s, "result_backend_max_retries = {}", count_or_none(c.backend_max_retries));
    let _ = writeln!(s, "task_store_errors_even_if_ignored = {}", c.store_errors_even_if_ignored);
    let _ = writeln!(s, "redis_socket_connect_timeout = {}", secs(c.redis_connect_timeout));
    let _ = writeln!(s, "broker_connection_retry = {}", c.broker_connection_retry);
    let _ = writeln!(s, "broker_connection_max_retries = {}", count_or_none(c.broker_connection_max_retries));
    let _ = writeln!(s, "broker_connection_timeout = {}", secs_or_none(c.broker_connection_timeout));
    let _ = writeln!(s, "broker_heartbeat = {}", secs(c.broker_heartbeat));
    let _ = writeln!(s, "broker_heartbeat_checkrate = {}", c.broker_heartbeat_checkrate);
    let _ = writeln!(s, "worker_prefetch_multiplier = {}", c.prefetch_multiplier);
    let _ = writeln!(s, "worker_soft_shutdown_timeout = {}", secs(c.soft_shutdown_timeout));
    let _ = writeln!(s, "worker_enable_soft_shutdown_on_idle = {}", c.soft_shutdown_on_idle);
    let _ = writeln!(
        s,
        "broker_transport_options = {{ visibility_timeout = {}, health_check_interval = {} }}",
        secs(c.visibility_timeout),
        secs(c.health_check_interval)
    );
    let _ = writeln!(s, "result_backend_transport_options = {{ result_chord_ordered = {} }}", c.chord_ordered);
    for i in &c.inert {
        if let InertPlace::Setting(key) = &i.place {
            let _ = writeln!(s, "{} = {}", toml_key(key), i.value);
        }
    }
    for (task, a) in &c.annotations {
        let _ = writeln!(s, "\n[celery.task_annotations.{}]", q(task));
        task_attrs(&mut s, a);
        for i in &c.inert {
            if let InertPlace::Annotation { task: t, attr } = &i.place
                && t == task
            {
                let _ = writeln!(s, "{} = {}", toml_key(attr), i.value);
            }
        }
    }

    let t = &sc.topology;
    s.push_str("\n[topology]\n");
    let _ = writeln!(s, "broker = {}", q(if t.broker == BrokerKind::Redis { "redis" } else { "amqp" }));
    let _ = writeln!(s, "backend = {}", q(if t.backend == BackendKind::Redis { "redis" } else { "database" }));
    let _ = writeln!(s, "broker_persistent = {}", t.broker_persistent);
    let workers: Vec<String> =
        t.workers.iter().map(|w| format!("{{ concurrency = {}, start = {} }}", w.concurrency, w.start)).collect();
    let _ = writeln!(s, "workers = [{}]", workers.join(", "));
    let _ = writeln!(s, "latency = {}", dur(t.latency));
    let _ = writeln!(s, "backend_write_latency = {}", dur(t.backend_write_latency));
    let _ = writeln!(s, "task_overhead = {}", dur(t.task_overhead));

    let a = &sc.app;
    s.push_str("\n[app]\n");
    let _ = writeln!(s, "profile = {}", q(if a.profile == Profile::Doc { "doc" } else { "rhesis" }));
    let errback = match a.errback {
        Errback::None => "none",
        Errback::Inline => "inline",
        Errback::Task => "task",
    };
    let _ = writeln!(s, "errback = {}", q(errback));
    if let Some(sig) = &a.errback_signature {
        let params: Vec<String> = sig.params.iter().map(|p| q(&p.text())).collect();
        let kwargs: Vec<String> = sig.kwargs.iter().map(|k| q(k)).collect();
        let _ = writeln!(s, "errback_params = [{}]", params.join(", "));
        let _ = writeln!(s, "errback_kwargs = [{}]", kwargs.join(", "));
    }
    let callback = if a.callback == CallbackBehaviour::Ok { "ok" } else { "raise_before_write" };
    let _ = writeln!(s, "callback = {}", q(callback));
    let _ = writeln!(s, "callback_duration = {}", dur(a.callback_duration));
    let _ = writeln!(s, "terminal_guard = {}", a.terminal_guard);
    if let Some(m) = a.chord_max_retries {
        let _ = writeln!(s, "chord_max_retries = {m}");
    }
    if let Some(i) = a.chord_interval {
        let _ = writeln!(s, "chord_interval = {}", dur(i));
    }
    let _ = writeln!(s, "submit_at = {}", dur(a.submit_at.since(SimTime::ZERO)));
    for (key, task) in [("header", &a.header_task), ("body", &a.body_task)] {
        if task.name.is_some() || !task.attrs.is_empty() {
            let _ = writeln!(s, "\n[app.{key}]");
            if let Some(n) = &task.name {
                let _ = writeln!(s, "name = {}", q(n));
            }
            task_attrs(&mut s, &task.attrs);
        }
    }
    match &a.status_rule {
        StatusRule::Profile => {}
        StatusRule::Table(t) => {
            s.push_str("\n[app.status_rule]\n");
            for (key, c) in [
                ("pass", t.pass),
                ("fail_status", t.failure),
                ("return_none", t.none),
                ("malformed", t.malformed),
                ("missing", t.missing),
            ] {
                let _ = writeln!(s, "{key} = {}", q(c.name()));
            }
            for (key, st) in [
                ("all_passed", t.all_passed),
                ("some_failed", t.some_failed),
                ("all_failed", t.all_failed),
                ("none_counted", t.none_counted),
            ] {
                let _ = writeln!(s, "{key} = {}", q(st.name()));
            }
        }
        // A file cannot hold Python code: say so where the rule would be.
        StatusRule::Callable(_) => s.push_str(
            "\n# collect_results' status rule was a Python callable, which a file cannot hold: this file\n\
             # reads back with the profile's rule; replay the scenario from Python with the callable\n",
        ),
    }
    if a.returns != Returns::default() {
        s.push_str("\n[app.returns]\n");
        for (key, v) in
            [("pass", &a.returns.pass), ("fail_status", &a.returns.failure), ("malformed", &a.returns.malformed)]
        {
            if let Some(value) = v.as_ref().and_then(|v| toml::Value::try_from(v).ok()) {
                let _ = writeln!(s, "{key} = {value}");
            }
        }
    }

    s.push_str("\n[run]\n");
    let _ = writeln!(s, "tests = {}", sc.tests.len());
    // Rated tests take [run]'s outcome, and the rates draw over it per seed.
    let rated = sc.tests.iter().find(|t| t.rated);
    if let (Some(t), false) = (rated, sc.rates.is_empty()) {
        let (name, parameters) = outcome(t.outcome);
        let _ = writeln!(s, "outcome = {}", q(name));
        s.push_str(&parameters);
        let rates: Vec<String> = sc.rates.iter().map(|(o, p)| format!("{} = {p}", outcome(*o).0)).collect();
        let _ = writeln!(s, "rates = {{ {} }}", rates.join(", "));
    }
    for (i, test) in sc.tests.iter().enumerate() {
        let _ = write!(s, "\n[[run.override]]\ntest = {i}\n");
        let d = match test.duration {
            DurationSpec::Fixed(d) => dur(d),
            DurationSpec::Range(lo, hi) => q(&format!("{lo}..{hi}")),
            DurationSpec::LongTail { median, p99 } => format!("{{ median = {}, p99 = {} }}", dur(median), dur(p99)),
        };
        let _ = writeln!(s, "duration = {d}");
        if !test.rated || sc.rates.is_empty() {
            let (name, parameters) = outcome(test.outcome);
            let _ = writeln!(s, "outcome = {}", q(name));
            s.push_str(&parameters);
        }
        let _ = writeln!(s, "ignore_result = {}", test.ignore_result);
        if let Some(l) = test.time_limit {
            let _ = writeln!(s, "time_limit = {}", dur(l));
        }
        if let Some(l) = test.soft_time_limit {
            let _ = writeln!(s, "soft_time_limit = {}", dur(l));
        }
        if !test.exception.is_empty() {
            let names: Vec<String> = test.exception.iter().map(|n| q(n)).collect();
            let _ = writeln!(s, "exception = [{}]", names.join(", "));
        }
    }

    for f in &sc.faults {
        s.push_str("\n[[fault]]\n");
        // A kill after its test's start has no time of its own.
        if !matches!(f.kind, FaultKind::KillChild { after_start: Some(_), .. }) {
            match f.until {
                Some(u) => {
                    let range = format!("{}..{}", f.at.since(SimTime::ZERO), u.since(SimTime::ZERO));
                    let _ = writeln!(s, "at = {}", q(&range));
                }
                None => {
                    let _ = writeln!(s, "at = {}", dur(f.at.since(SimTime::ZERO)));
                }
            }
            if let Some(e) = f.every {
                let _ = writeln!(s, "every = {}", dur(e));
            }
        }
        let worker = |w: usize| q(&sc.topology.workers[w].name);
        let after = |d: Option<SimDuration>| d.map_or(String::new(), |d| format!("restart_after = {}\n", dur(d)));
        let body = match &f.kind {
            FaultKind::KillWorker { worker: w, restart_after } => {
                format!("kind = \"kill_worker\"\nworker = {}\n{}", worker(*w), after(*restart_after))
            }
            FaultKind::StartWorker { worker: w } => format!("kind = \"start_worker\"\nworker = {}\n", worker(*w)),
            FaultKind::KillChild { test, after_start } => format!(
                "kind = \"kill_child\"\ntest = {test}\n{}",
                after_start.map_or(String::new(), |d| format!("after_start = {}\n", dur(d)))
            ),
            FaultKind::WarmShutdown { worker: w, restart_after, group } => {
                format!("kind = \"warm_shutdown\"\nworker = {}\ngroup = {group}\n{}", worker(*w), after(*restart_after))
            }
            FaultKind::ColdShutdown { worker: w, restart_after, group } => {
                format!("kind = \"cold_shutdown\"\nworker = {}\ngroup = {group}\n{}", worker(*w), after(*restart_after))
            }
            FaultKind::Stall { broker, backend, duration } => {
                let nodes: Vec<&str> = [(*broker, "\"broker\""), (*backend, "\"backend\"")]
                    .into_iter()
                    .filter_map(|(on, n)| on.then_some(n))
                    .collect();
                format!("kind = \"stall\"\nnodes = [{}]\nduration = {}\n", nodes.join(", "), dur(*duration))
            }
            FaultKind::Partition { a, b, direction, heal_after } => format!(
                "kind = \"partition\"\nbetween = [{}, {}]\ndirection = {}\n{}",
                node(a, sc),
                node(b, sc),
                q(if *direction == Direction::Both { "both" } else { "one_way" }),
                heal_after.map_or(String::new(), |d| format!("heal_after = {}\n", dur(d)))
            ),
            FaultKind::BrokerRestart { down_for, persistent } => format!(
                "kind = \"broker_restart\"\ndown_for = {}\n{}",
                dur(*down_for),
                persistent.map_or(String::new(), |p| format!("persistent = {p}\n"))
            ),
            FaultKind::BackendOutage { duration, lose_data } => {
                format!("kind = \"backend_outage\"\nduration = {}\nlose_data = {lose_data}\n", dur(*duration))
            }
            FaultKind::Revoke { target, terminate } => {
                let target = match target {
                    RevokeTarget::Test(t) => format!("\"test\"\ntest = {t}"),
                    RevokeTarget::ChordUnlock => "\"chord_unlock\"".to_string(),
                    RevokeTarget::Body => "\"body\"".to_string(),
                };
                format!("kind = \"revoke\"\ntarget = {target}\nterminate = {terminate}\n")
            }
            FaultKind::CancelRun => "kind = \"cancel_run\"\n".to_string(),
        };
        s.push_str(&body);
    }

    for p in &sc.policies {
        s.push_str("\n[[policy]]\n");
        s.push_str(&policy(p));
    }

    let Some(e) = &sc.expect else { return s };
    s.push_str("\n[expect]\n");
    let status = match e.status {
        ExpectedStatus::Terminal(st) => st.name(),
        ExpectedStatus::Stuck => "stuck",
    };
    let _ = writeln!(s, "status = {}", q(status));
    if let Some(w) = e.within {
        let _ = writeln!(s, "within = {}", dur(w));
    }
    for (name, r) in [
        ("callback_runs", e.callback_runs),
        ("errback_runs", e.errback_runs),
        ("chord_unlock_runs", e.chord_unlock_runs),
    ] {
        if let Some(r) = r {
            let _ = writeln!(s, "{name} = {}", q(&format!("{}..{}", r.lo, r.hi)));
        }
    }
    if let Some(b) = e.body_state {
        let _ = writeln!(s, "body_state = {}", q(b.name()));
    }
    if !e.violations.is_empty() {
        let names: Vec<String> = e.violations.iter().map(|p: &Property| q(p.name())).collect();
        let _ = writeln!(s, "violations = [{}]", names.join(", "));
    }
    s
}

/// A `[[policy]]` table's lines, every field explicit.
fn policy(p: &Policy) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "kind = {}", q(p.kind.name()));
    let _ = writeln!(s, "at = {}", dur(p.at));
    let _ = writeln!(s, "every = {}", p.every.map_or(q("none"), dur));
    let _ = writeln!(s, "older_than = {}", dur(p.older_than));
    if p.kind != PolicyKind::Watchdog {
        let _ = writeln!(s, "clock = {}", q(p.clock.name()));
        if let Some(r) = p.report_older_than {
            let _ = writeln!(s, "report_older_than = {}", dur(r));
        }
        let _ = writeln!(s, "terminate = {}", p.terminate);
    }
    if p.kind == PolicyKind::Custom {
        let actions: Vec<String> = p.actions.iter().map(|a| q(a.name())).collect();
        let _ = writeln!(s, "action = [{}]", actions.join(", "));
    }
    let _ = writeln!(s, "dry_run = {}", p.dry_run);
    s
}

/// The scenario as TOML with only the configuration lines that differ from `base`'s: its
/// `[celery]`, `[topology]` and `[app]` lines that `base` writes the same are left out, and a
/// table left empty goes too; the rest is written whole. Read over `base`'s configuration (its
/// preset, or `--config`), it is the same scenario.
pub(super) fn to_toml_over(sc: &Scenario, base: &Scenario) -> String {
    let (base_text, text) = (to_toml(base), to_toml(sc));
    let theirs = sections(&base_text);
    let mut out = String::new();
    for (header, lines) in sections(&text) {
        let configured = ["[celery", "[topology]", "[app]"].iter().any(|p| header.starts_with(p));
        let kept: Vec<&str> = if header.is_empty() && base.policies.is_empty() {
            lines.into_iter().filter(|l| *l != "policy = []").collect()
        } else if configured {
            let same = theirs.iter().find(|(h, _)| *h == header).map(|(_, l)| l.as_slice()).unwrap_or(&[]);
            lines.iter().copied().filter(|l| !l.trim().is_empty() && !same.contains(l)).collect()
        } else {
            lines
        };
        if configured && kept.is_empty() {
            continue;
        }
        if !header.is_empty() {
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push('\n');
            }
            out.push_str(header);
            out.push('\n');
        }
        for l in kept {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// TOML text split at its table headers: (header, the lines under it); the first has none.
fn sections(text: &str) -> Vec<(&str, Vec<&str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = vec![("", Vec::new())];
    for line in text.lines() {
        if line.starts_with('[') {
            out.push((line, Vec::new()));
        } else if let Some((_, lines)) = out.last_mut() {
            lines.push(line);
        }
    }
    out
}

/// The task attributes an annotation or an application task class sets, one line each.
fn task_attrs(s: &mut String, a: &crate::config::Annotation) {
    if let Some(m) = a.max_retries {
        let _ = writeln!(s, "max_retries = {}", count_or_none(m));
    }
    if let Some(d) = a.default_retry_delay {
        let _ = writeln!(s, "default_retry_delay = {}", secs(d));
    }
    if let Some(b) = a.retry_backoff {
        let _ = writeln!(s, "retry_backoff = {b}");
    }
    if let Some(m) = a.retry_backoff_max {
        let _ = writeln!(s, "retry_backoff_max = {}", secs(m));
    }
    if let Some(j) = a.retry_jitter {
        let _ = writeln!(s, "retry_jitter = {j}");
    }
    if let Some(l) = &a.autoretry_for {
        let items: Vec<String> = l.iter().map(|x| q(x)).collect();
        let _ = writeln!(s, "autoretry_for = [{}]", items.join(", "));
    }
    if let Some(t) = a.time_limit {
        let _ = writeln!(s, "time_limit = {}", secs_or_none(t));
    }
    if let Some(t) = a.soft_time_limit {
        let _ = writeln!(s, "soft_time_limit = {}", secs_or_none(t));
    }
    if let Some(i) = a.ignore_result {
        let _ = writeln!(s, "ignore_result = {i}");
    }
    if let Some(l) = a.acks_late {
        let _ = writeln!(s, "acks_late = {l}");
    }
}
