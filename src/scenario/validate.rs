//! Building a [`Scenario`] from TOML text: merge the file over its preset, read every table,
//! check cross-references (worker names, test indices), and collect every problem before
//! failing, so one run of `chordsim run` shows all that is wrong with a file.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::deployment;
use super::import::Import;
use super::read::{Problem, Table, Value, keep};
use super::*;
use crate::config::CeleryConfig;
use crate::time::parse_duration;
use crate::words::{Property, TaskState};

const TOP: &[&str] =
    &["name", "about", "seed", "preset", "horizon", "celery", "topology", "run", "app", "fault", "policy", "expect"];

/// Parse `text`, merged over its preset — or over `preset_text` instead, when given (a preset
/// changed in memory).
pub(super) fn scenario(
    file: &str,
    text: &str,
    preset_text: Option<&str>,
    import: Option<&Import>,
    needs: Needs,
) -> Result<Scenario, ScenarioError> {
    let parsed = DeTable::parse(text).map_err(|e| {
        let message = format!("not valid TOML: {}", e.message().trim());
        let problem = match (e.span(), too_deep(text)) {
            (Some(span), _) => Problem { span, field: "(toml)".into(), message },
            // The TOML reader names no place for a key nested too deep: find it.
            (None, Some((span, parts))) => Problem {
                span,
                field: "(toml)".into(),
                message: format!(
                    "a key of {parts} dotted parts; TOML readers stop at {TOML_DEPTH} levels of nesting, so expected fewer"
                ),
            },
            (None, None) => Problem { span: 0..0, field: "(toml)".into(), message },
        };
        ScenarioError::new(file, text, vec![problem])
    })?;
    let mut problems = Vec::new();
    let root_span = parsed.span();
    let mut root = parsed.into_inner();

    // The imported configuration goes under the file and over the preset; its values carry
    // the IMPORTED span, so a message about one names the imported file instead.
    let layer = import.map(|i| DeTable::parse(&i.layer).expect("an import's layer is TOML it wrote"));
    if let Some(layer) = layer {
        for (k, v) in layer.into_inner() {
            merge_under(&mut root, Spanned::new(IMPORTED, k.into_inner()), respan(v.into_inner(), &IMPORTED));
        }
    }

    // The preset: merged under the file, its values re-spanned to the `preset` field so that a
    // message about one of them points at the line that brought it in.
    let (preset, preset_span) = match root.get("preset") {
        Some(v) => {
            let value = Value { path: "preset".into(), value: v };
            let names: Vec<(&str, Preset)> = Preset::ALL.iter().map(|p| (p.name(), *p)).collect();
            (keep(value.one_of(&names), &mut problems).unwrap_or(Preset::CeleryDefaults), v.span())
        }
        None => (Preset::CeleryDefaults, 0..0),
    };
    let preset_table = match DeTable::parse(preset_text.unwrap_or(preset.toml())) {
        Ok(t) => t.into_inner(),
        Err(e) => {
            let problem = Problem {
                span: preset_span,
                field: "preset".into(),
                message: format!("the preset is not valid TOML: {}", e.message().trim()),
            };
            return Err(ScenarioError::new(file, text, vec![problem]));
        }
    };
    for (k, v) in preset_table {
        let v = respan(v.into_inner(), &preset_span);
        merge_under(&mut root, k, v);
    }

    let mut t = Table::new("", root_span, &root);
    let (name, about) = match needs {
        Needs::Expectations => (
            t.require("name", "a string", &mut problems),
            t.require("about", "a string saying which rule predicts the outcome", &mut problems),
        ),
        Needs::Nothing => (t.get("name"), t.get("about")),
    };
    let name = name.and_then(|v| keep(v.str(), &mut problems)).map(str::to_string).unwrap_or_else(|| {
        // A question's name is its file's.
        let stem = std::path::Path::new(file).file_stem().map(|s| s.to_string_lossy().into_owned());
        stem.unwrap_or_else(|| file.to_string())
    });
    let about = about.and_then(|v| keep(v.str(), &mut problems));
    let seed = t.get("seed").and_then(|v| keep(v.count(0, i64::MAX as u64), &mut problems)).unwrap_or(1);
    t.get("preset");
    let horizon = t
        .get("horizon")
        .and_then(|v| keep(v.positive_duration(), &mut problems))
        .unwrap_or(SimDuration::from_secs(3600));

    let origin = Origin { preset: preset_span.clone(), import };
    let (celery, topology, app, notes) = read_configuration(&mut t, &origin, text, &mut problems);
    let (tests, rates) = read_run(t.get("run"), t.span(), &mut problems);
    let faults = match t.get("fault") {
        Some(v) => keep(v.array(), &mut problems)
            .unwrap_or_default()
            .iter()
            .filter_map(|f| {
                let at = f.table().ok().and_then(|mut t| t.get("at")).map(|a| (a.span(), a.path.clone()));
                let (span, field) = at.unwrap_or_else(|| (f.span(), f.path.clone()));
                read_fault(f, &topology, tests.len(), &mut problems).map(|fault| (fault, span, field))
            })
            .collect(),
        None => Vec::new(),
    };
    let policies = match t.get("policy") {
        Some(v) => keep(v.array(), &mut problems)
            .unwrap_or_default()
            .iter()
            .filter_map(|p| read_policy(p, &mut problems))
            .collect(),
        None => Vec::new(),
    };
    let expect = match (t.get("expect"), needs) {
        (None, Needs::Nothing) => None,
        (v, _) => Some(read_expect(v, t.span(), &mut problems)),
    };
    t.finish(TOP, &mut problems);
    for (f, span, field) in &faults {
        if f.until.unwrap_or(f.at) >= SimTime::ZERO + horizon {
            problems.push(Problem {
                span: span.clone(),
                field: field.clone(),
                message: format!(
                    "at {} is not before the horizon ({horizon}), so the fault might never happen; expected a time before {horizon}, or a longer horizon",
                    f.until.unwrap_or(f.at).since(SimTime::ZERO)
                ),
            });
        }
    }

    if let Some(import) = import {
        // A problem with an imported value (one that only the file's Celery version makes
        // wrong): at the file's version, naming where the import says it.
        let version = root.get("celery").and_then(|c| c.get_ref().as_table()?.get("version")).map(|v| v.span());
        for p in problems.iter_mut().filter(|p| p.span == IMPORTED) {
            p.message = format!("as {} sets it: {}", import.place(&p.field), p.message);
            p.span = version.clone().filter(|s| *s != IMPORTED).unwrap_or(0..0);
        }
    }
    if !problems.is_empty() {
        return Err(ScenarioError::new(file, text, problems));
    }
    let mut faults: Vec<Fault> = faults.into_iter().map(|(f, _, _)| f).collect();
    faults.sort_by_key(|f| f.at);
    let mut warnings = warnings(file, text, &celery);
    warnings.extend(notes.into_iter().map(|n| origin.warning(file, text, n)));
    Ok(Scenario {
        name,
        about: about.unwrap_or_default().to_string(),
        file: file.to_string(),
        seed,
        preset,
        horizon,
        celery,
        topology,
        app,
        tests,
        rates,
        faults,
        policies,
        expect,
        warnings,
    })
}

/// A warning for each name the file writes that Celery does not define but nearly does.
fn warnings(file: &str, text: &str, celery: &CeleryConfig) -> Vec<Warning> {
    use super::read::toml_key;
    use crate::config::InertPlace;
    celery
        .inert
        .iter()
        .filter(|i| i.span != IMPORTED)
        .filter_map(|i| {
            let meant = i.meant?;
            let (field, what) = match &i.place {
                InertPlace::Setting(k) => (format!("celery.{}", toml_key(k)), "a Celery setting, so Celery ignores it"),
                InertPlace::Annotation { task, attr } => (
                    format!("celery.task_annotations.{}.{}", toml_key(task), toml_key(attr)),
                    "an attribute of Celery's tasks, so nothing reads it",
                ),
            };
            let (line, column) = super::diagnostic::position(text, i.span.start);
            Some(Warning {
                file: file.to_string(),
                line,
                column,
                field,
                message: format!("not {what}; did you mean {meant}?"),
            })
        })
        .collect()
}

/// How deep the TOML reader lets keys nest (toml's parser `LIMIT`).
const TOML_DEPTH: usize = 80;

/// The first key (a table header or the key of `key = value`) with at least [`TOML_DEPTH`]
/// dotted parts, and how many it has.
fn too_deep(text: &str) -> Option<(Range<usize>, usize)> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let start = offset + (line.len() - trimmed.len());
        offset += line.len();
        let key = match trimmed.strip_prefix('[') {
            Some(rest) => rest.trim_start_matches('[').split(']').next().unwrap_or(""),
            None => trimmed.split('=').next().unwrap_or(""),
        };
        let mut quote = None;
        let parts = 1 + key
            .chars()
            .filter(|c| {
                match (quote, *c) {
                    (None, '"' | '\'') => quote = Some(*c),
                    (Some(q), c) if q == c => quote = None,
                    _ => {}
                }
                quote.is_none() && *c == '.'
            })
            .count();
        if parts >= TOML_DEPTH {
            return Some((start..start + trimmed.trim_end().len(), parts));
        }
    }
    None
}

/// Put a preset entry under the file's: tables merge key by key, anything else the file wins.
fn merge_under<'i>(root: &mut DeTable<'i>, key: Spanned<std::borrow::Cow<'i, str>>, value: Spanned<DeValue<'i>>) {
    match root.get_mut(key.get_ref().as_ref()) {
        None => {
            root.insert(key, value);
        }
        Some(existing) => {
            if let (DeValue::Table(mine), DeValue::Table(theirs)) = (existing.get_mut(), value.into_inner()) {
                for (k, v) in theirs {
                    merge_under(mine, k, v);
                }
            }
        }
    }
}

fn respan<'i>(value: DeValue<'i>, span: &Range<usize>) -> Spanned<DeValue<'i>> {
    let value = match value {
        DeValue::Table(t) => DeValue::Table(
            t.into_iter()
                .map(|(k, v)| (Spanned::new(span.clone(), k.into_inner()), respan(v.into_inner(), span)))
                .collect(),
        ),
        DeValue::Array(mut a) => {
            for item in a.iter_mut() {
                let inner = std::mem::replace(item.get_mut(), DeValue::Boolean(false));
                *item = respan(inner, span);
            }
            DeValue::Array(a)
        }
        other => other,
    };
    Spanned::new(span.clone(), value)
}

/// The span an imported value carries (`import.rs`): in no file's text.
const IMPORTED: Range<usize> = usize::MAX..usize::MAX;

/// Where the values being read came from: the file, its preset, or an imported configuration.
struct Origin<'a> {
    /// The span the preset's values carry (the `preset` key's, or empty).
    preset: Range<usize>,
    import: Option<&'a Import>,
}

impl Origin<'_> {
    /// Whether the file itself wrote the value at `span`.
    fn written(&self, span: &Range<usize>) -> bool {
        *span != self.preset && *span != IMPORTED
    }

    /// Where the value at `span` (of `field`) is, for a message: `line 4` of this file, or the
    /// imported file's place.
    fn place(&self, text: &str, span: &Range<usize>, field: &str) -> String {
        match self.import {
            Some(i) if *span == IMPORTED => i.place(field),
            _ => {
                let (line, col) = super::diagnostic::position(text, span.start);
                format!("line {line}:{col}")
            }
        }
    }

    fn warning(&self, file: &str, text: &str, n: Note) -> Warning {
        let (file, (line, column)) = match self.import {
            Some(i) if n.span == IMPORTED => (i.file.clone(), i.position(&n.field)),
            _ => (file.to_string(), super::diagnostic::position(text, n.span.start)),
        };
        Warning { file, line, column, field: n.field, message: n.message }
    }
}

/// A warning found while reading, before it is placed in a file.
pub(super) struct Note {
    span: Range<usize>,
    field: String,
    message: String,
}

/// An imported configuration's tables, checked on their own (`import.rs`): everything in
/// them counts as written.
pub(super) fn configuration(root: &DeTable<'_>, span: Range<usize>, problems: &mut Vec<Problem>) {
    let mut t = Table::new("", span, root);
    let origin = Origin { preset: usize::MAX - 1..usize::MAX - 1, import: None };
    read_configuration(&mut t, &origin, "", problems);
}

/// `[celery]`, `[topology]` (with what the settings say of the deployment) and `[app]`.
fn read_configuration(
    t: &mut Table<'_, '_>,
    origin: &Origin<'_>,
    text: &str,
    problems: &mut Vec<Problem>,
) -> (CeleryConfig, Topology, AppConfig, Vec<Note>) {
    let celery = match t.get("celery") {
        Some(v) => match keep(v.table(), problems) {
            Some(table) => CeleryConfig::read(table, problems),
            None => CeleryConfig::defaults(crate::version::CeleryVersion::NEWEST),
        },
        None => CeleryConfig::defaults(crate::version::CeleryVersion::NEWEST),
    };
    let (mut topology, written) = read_topology(t.get("topology"), origin, problems);
    let app = read_app(t.get("app"), problems);
    let mut notes = Vec::new();
    apply_deployment(&celery, &mut topology, &written, origin, text, problems, &mut notes);
    // Turned on (off is Celery's default), it does nothing on the database backend but in 5.6.
    if topology.backend == BackendKind::Database
        && celery.backend_always_retry
        && let Some(span) = t.span_of("celery", "result_backend_always_retry")
    {
        use crate::version::DatabaseRetries;
        let why = match celery.version.database_store_retries() {
            DatabaseRetries::Immediate => {
                Some("5.5's database backend retries a failed store 3 times at once whatever it says")
            }
            DatabaseRetries::AlwaysRetryHonoured => None,
            DatabaseRetries::FourWithBackoff => Some(
                "5.7's database backend retries a failed store anyway (3 times with backoff, or result_backend_max_retries)",
            ),
        };
        if let Some(why) = why {
            notes.push(Note {
                span,
                field: "celery.result_backend_always_retry".into(),
                message: format!("no effect with the database backend: {why} (celery-semantics §12, the table row \"database backend: store retries\")"),
            });
        }
    }
    if let Some(import) = origin.import {
        // What `inspect conf` does not carry, when neither the flags nor the file say it.
        let wrote = |table: &str, key: &str| t.span_of(table, key).is_some_and(|s| origin.written(&s));
        let mut assumed = |field: &str, message: String| {
            notes.push(Note { span: IMPORTED, field: field.to_string(), message });
        };
        if !wrote("celery", "version") && !import.sets("celery", "version") {
            assumed(
                "celery.version",
                format!(
                    "not in the configuration (inspect conf does not print Celery's version); modelling {}, the newest modelled — give --celery-version or [celery] version",
                    celery.version
                ),
            );
        }
        if written.concurrency.is_empty()
            && celery.deployment.worker_concurrency.is_none()
            && !import.sets("topology", "concurrency")
        {
            assumed(
                "celery.worker_concurrency",
                format!(
                    "not set: Celery starts as many pool processes as the host has CPUs (or -c); modelling {} per worker — give --concurrency or [topology] concurrency",
                    topology.workers[0].concurrency
                ),
            );
        }
        if !wrote("topology", "workers") && !import.sets("topology", "workers") {
            assumed(
                "topology.workers",
                format!(
                    "how many workers run is not in a Celery configuration; modelling {} — give --workers or [topology] workers",
                    topology.workers.len()
                ),
            );
        }
    }
    (celery, topology, app, notes)
}

/// What `[topology]` keys the file itself wrote, with their spans.
#[derive(Default)]
struct Written {
    broker: Option<Range<usize>>,
    backend: Option<Range<usize>>,
    /// `concurrency`, or a worker's own.
    concurrency: Vec<(Range<usize>, String)>,
    /// Whether any layer set `backend_write_latency`.
    backend_write_latency: bool,
}

/// `broker_url`, `result_backend` and `worker_concurrency` set the topology (`deployment.rs`),
/// over the preset's; against a `[topology]` key the file writes, a disagreement is a problem
/// naming both places.
fn apply_deployment(
    celery: &CeleryConfig,
    topo: &mut Topology,
    written: &Written,
    origin: &Origin<'_>,
    text: &str,
    problems: &mut Vec<Problem>,
    notes: &mut Vec<Note>,
) {
    let dep = &celery.deployment;
    let conflict = |key: &str, at: &Range<usize>, wrote: &str, setting: &str, span: &Range<usize>, value: &str| {
        Problem {
            span: at.clone(),
            field: format!("topology.{key}"),
            message: format!(
                "{wrote} disagrees with {setting} = {value} ({}); Celery {}, so expected them to agree: remove one or make them the same",
                origin.place(text, span, &format!("celery.{setting}")),
                if setting == "worker_concurrency" {
                    "starts a worker without -c with worker_concurrency processes"
                } else {
                    "connects where the setting says"
                },
            ),
        }
    };
    if let Some((url, span)) = &dep.broker_url {
        match deployment::broker_kind(url) {
            Err(m) => problems.push(Problem { span: span.clone(), field: "celery.broker_url".into(), message: m }),
            Ok(kind) => match &written.broker {
                Some(at) if topo.broker != kind => {
                    let wrote = format!("broker = \"{}\"", topo.broker.name());
                    problems.push(conflict("broker", at, &wrote, "broker_url", span, &format!("\"{url}\"")));
                }
                _ => topo.broker = kind,
            },
        }
    }
    if let Some((url, span)) = &dep.result_backend {
        match deployment::backend_kind(url) {
            Err(m) => problems.push(Problem { span: span.clone(), field: "celery.result_backend".into(), message: m }),
            Ok((kind, warning)) => {
                match &written.backend {
                    Some(at) if topo.backend != kind => {
                        let wrote = format!("backend = \"{}\"", topo.backend.name());
                        problems.push(conflict("backend", at, &wrote, "result_backend", span, &format!("\"{url}\"")));
                    }
                    _ => {
                        if topo.backend != kind && !written.backend_write_latency {
                            topo.backend_write_latency = default_write_latency(kind);
                        }
                        topo.backend = kind;
                    }
                }
                if let Some(message) = warning {
                    notes.push(Note { span: span.clone(), field: "celery.result_backend".into(), message });
                }
            }
        }
    }
    match &dep.worker_concurrency {
        Some((Some(n), span)) => {
            for (at, field) in &written.concurrency {
                let key = field.trim_start_matches("topology.");
                let named: Vec<_> = topo.workers.iter().filter(|w| w.concurrency != *n).collect();
                if !named.is_empty() {
                    let wrote = format!("{key} = {}", named[0].concurrency);
                    problems.push(Problem { field: field.clone(), ..conflict(key, at, &wrote, "worker_concurrency", span, &n.to_string()) });
                    break;
                }
            }
            if written.concurrency.is_empty() {
                for w in &mut topo.workers {
                    w.concurrency = *n;
                }
            }
        }
        Some((None, span)) if written.concurrency.is_empty() => notes.push(Note {
            span: span.clone(),
            field: "celery.worker_concurrency".into(),
            message: format!(
                "None: Celery starts as many pool processes as the host has CPUs, which chordsim cannot know; it runs {} — give --concurrency or [topology] concurrency",
                topo.workers[0].concurrency
            ),
        }),
        _ => {}
    }
}

/// A result backend's default write cost (docs/calibration.md): a Redis SET about 1 ms; on
/// SQLite the part of a write that holds the database's write lock, its commit: 5 ms fits the
/// observations, whose four first STARTED writes landed within 17–28 ms, and the odds of 16b's
/// late-copy race (2 ms on a fast disk, 10–20 ms on a slow one, measured). The session set-up
/// and the row's read come on top (src/model/sqlite.rs).
fn default_write_latency(kind: BackendKind) -> SimDuration {
    match kind {
        BackendKind::Redis => SimDuration::from_millis(1),
        BackendKind::Database => SimDuration::from_millis(5),
    }
}

/// The most pool processes a scenario's workers may have in all: every process may hold a
/// running task and its pending end, so this bounds a run's memory.
const MAX_PROCESSES: u64 = 100_000;

fn read_topology(v: Option<Value<'_, '_>>, origin: &Origin<'_>, problems: &mut Vec<Problem>) -> (Topology, Written) {
    const FIELDS: &[&str] = &[
        "broker",
        "backend",
        "broker_persistent",
        "workers",
        "concurrency",
        "latency",
        "backend_write_latency",
        "task_overhead",
    ];
    let mut topo = Topology {
        broker: BrokerKind::Redis,
        backend: BackendKind::Redis,
        broker_persistent: true,
        workers: Vec::new(),
        latency: SimDuration::from_millis(1),
        backend_write_latency: SimDuration::ZERO,
        task_overhead: SimDuration::from_millis(2),
    };
    let mut written = Written::default();
    let Some(mut t) = v.and_then(|v| keep(v.table(), problems)) else {
        topo.workers = vec![WorkerSpec { name: "w1".into(), concurrency: 4, start: true }];
        topo.backend_write_latency = default_write_latency(topo.backend);
        return (topo, written);
    };
    if let Some(v) = t.get("broker") {
        written.broker = Some(v.span()).filter(|s| origin.written(s));
        topo.broker = keep(v.one_of(&[("redis", BrokerKind::Redis), ("amqp", BrokerKind::Amqp)]), problems)
            .unwrap_or(BrokerKind::Redis);
    }
    if let Some(v) = t.get("backend") {
        written.backend = Some(v.span()).filter(|s| origin.written(s));
        topo.backend = keep(v.one_of(&[("redis", BackendKind::Redis), ("database", BackendKind::Database)]), problems)
            .unwrap_or(BackendKind::Redis);
    }
    if let Some(v) = t.get("broker_persistent") {
        topo.broker_persistent = keep(v.bool(), problems).unwrap_or(true);
    }
    let concurrency = t.get("concurrency").and_then(|v| {
        if origin.written(&v.span()) {
            written.concurrency.push((v.span(), v.path.clone()));
        }
        keep(v.count(1, 10_000), problems)
    });
    let concurrency = concurrency.unwrap_or(4) as u32;
    match t.get("workers") {
        Some(v) if matches!(v.value.get_ref(), DeValue::Array(_)) => {
            // Workers are named w1, w2, … by position; each entry sets its own pool.
            for (i, w) in keep(v.array(), problems).unwrap_or_default().into_iter().enumerate() {
                let Some(mut wt) = keep(w.table(), problems) else { continue };
                let c = wt
                    .get("concurrency")
                    .and_then(|c| {
                        if origin.written(&c.span()) {
                            written.concurrency.push((c.span(), c.path.clone()));
                        }
                        keep(c.count(1, 10_000), problems)
                    })
                    .unwrap_or(concurrency as u64);
                let start = wt.get("start").and_then(|s| keep(s.bool(), problems)).unwrap_or(true);
                topo.workers.push(WorkerSpec { name: format!("w{}", i + 1), concurrency: c as u32, start });
                wt.finish(&["concurrency", "start"], problems);
            }
        }
        Some(v) => {
            let n = keep(v.count(1, 1_000), problems).unwrap_or(1);
            topo.workers = (1..=n).map(|i| WorkerSpec { name: format!("w{i}"), concurrency, start: true }).collect();
        }
        None => topo.workers = vec![WorkerSpec { name: "w1".into(), concurrency, start: true }],
    }
    if topo.workers.is_empty() {
        problems.push(Problem {
            span: t.span(),
            field: t.field("workers"),
            message: "expected at least one worker".into(),
        });
    }
    let processes: u64 = topo.workers.iter().map(|w| u64::from(w.concurrency)).sum();
    if processes > MAX_PROCESSES {
        let span = t.get("workers").map_or_else(|| t.span(), |v| v.span());
        problems.push(Problem {
            span,
            field: t.field("workers"),
            message: format!(
                "{} workers with {processes} pool processes in all; expected at most {MAX_PROCESSES} processes across the workers",
                topo.workers.len()
            ),
        });
    }
    if let Some(v) = t.get("latency") {
        topo.latency = keep(v.duration(), problems).unwrap_or(topo.latency);
    }
    topo.backend_write_latency = default_write_latency(topo.backend);
    if let Some(v) = t.get("backend_write_latency") {
        topo.backend_write_latency = keep(v.duration(), problems).unwrap_or(topo.backend_write_latency);
        written.backend_write_latency = true;
    }
    if let Some(v) = t.get("task_overhead") {
        topo.task_overhead = keep(v.duration(), problems).unwrap_or(topo.task_overhead);
    }
    t.finish(FIELDS, problems);
    (topo, written)
}

fn read_app(v: Option<Value<'_, '_>>, problems: &mut Vec<Problem>) -> AppConfig {
    const FIELDS: &[&str] = &[
        "profile",
        "errback",
        "errback_params",
        "errback_kwargs",
        "callback",
        "callback_duration",
        "terminal_guard",
        "chord_max_retries",
        "chord_interval",
        "submit_at",
        "header",
        "body",
        "status_rule",
        "returns",
    ];
    let mut app = AppConfig::default();
    let Some(mut t) = v.and_then(|v| keep(v.table(), problems)) else { return app };
    if let Some(v) = t.get("profile") {
        app.profile =
            keep(v.one_of(&[("doc", Profile::Doc), ("rhesis", Profile::Rhesis)]), problems).unwrap_or(app.profile);
    }
    if let Some(v) = t.get("errback") {
        app.errback =
            keep(v.one_of(&[("none", Errback::None), ("inline", Errback::Inline), ("task", Errback::Task)]), problems)
                .unwrap_or(app.errback);
    }
    let params = t.get("errback_params").and_then(|v| keep(errback_params(&v), problems));
    let kwargs: Option<Vec<String>> = t.get("errback_kwargs").and_then(|v| {
        let items = keep(v.array(), problems)?;
        items.iter().map(|i| keep(i.str().map(str::to_string), problems)).collect()
    });
    if let Some(params) = params {
        app.errback_signature = Some(ErrbackSignature { params, kwargs: kwargs.unwrap_or_default() });
    } else if let Some(k) = t.get("errback_kwargs").filter(|_| kwargs.is_some()) {
        problems.push(k.problem("`errback_kwargs` needs `errback_params`, the errback's parameters"));
    }
    if let Some(v) = t.get("callback") {
        app.callback = keep(
            v.one_of(&[("ok", CallbackBehaviour::Ok), ("raise_before_write", CallbackBehaviour::RaiseBeforeWrite)]),
            problems,
        )
        .unwrap_or(app.callback);
    }
    if let Some(v) = t.get("callback_duration") {
        app.callback_duration = keep(v.duration(), problems).unwrap_or(app.callback_duration);
    }
    if let Some(v) = t.get("terminal_guard") {
        app.terminal_guard = keep(v.bool(), problems).unwrap_or(false);
    }
    if let Some(v) = t.get("watchdog") {
        problems.push(v.problem(
            "the watchdog is an operator policy now; expected [[policy]] with kind = \"watchdog\" and older_than = \"2h\" (its deadline)",
        ));
    }
    if let Some(v) = t.get("chord_max_retries") {
        app.chord_max_retries = keep(v.count(0, 1_000_000), problems).map(|n| n as u32);
    }
    if let Some(v) = t.get("chord_interval") {
        app.chord_interval = keep(v.positive_duration(), problems);
    }
    if let Some(v) = t.get("submit_at") {
        app.submit_at = SimTime::ZERO + keep(v.duration(), problems).unwrap_or_default();
    }
    for (key, task) in [("header", &mut app.header_task), ("body", &mut app.body_task)] {
        if let Some(v) = t.get(key) {
            *task = read_task(&v, problems);
        }
    }
    if let Some(v) = t.get("status_rule") {
        app.status_rule = StatusRule::Table(read_rule(&v, problems));
    }
    if let Some(v) = t.get("returns") {
        app.returns = read_returns(&v, problems);
    }
    t.finish(FIELDS, problems);
    app
}

/// `[app.status_rule]`: how each result counts, and the status of each tally (the defaults
/// are the doc profile's rule).
fn read_rule(v: &Value<'_, '_>, problems: &mut Vec<Problem>) -> RuleTable {
    let mut rule = RuleTable::default();
    let Some(mut t) = keep(v.table(), problems) else { return rule };
    let counts = [("passed", Counts::Passed), ("failed", Counts::Failed), ("skipped", Counts::Skipped)];
    for (key, slot) in [
        ("pass", &mut rule.pass),
        ("fail_status", &mut rule.failure),
        ("return_none", &mut rule.none),
        ("malformed", &mut rule.malformed),
        ("missing", &mut rule.missing),
    ] {
        if let Some(x) = t.get(key) {
            *slot = keep(x.one_of(&counts), problems).unwrap_or(*slot);
        }
    }
    let statuses = [
        ("Completed", RunStatus::Completed),
        ("Partial", RunStatus::Partial),
        ("Failed", RunStatus::Failed),
        ("Progress", RunStatus::Progress),
    ];
    for (key, slot) in [
        ("all_passed", &mut rule.all_passed),
        ("some_failed", &mut rule.some_failed),
        ("all_failed", &mut rule.all_failed),
        ("none_counted", &mut rule.none_counted),
    ] {
        if let Some(x) = t.get(key) {
            *slot = keep(x.one_of(&statuses), problems).unwrap_or(*slot);
        }
    }
    t.finish(
        &[
            "pass",
            "fail_status",
            "return_none",
            "malformed",
            "missing",
            "all_passed",
            "some_failed",
            "all_failed",
            "none_counted",
        ],
        problems,
    );
    rule
}

/// `[app.returns]`: what a passing test, a failed one and a malformed one return, as any TOML
/// value (a callable status rule gets them as JSON).
fn read_returns(v: &Value<'_, '_>, problems: &mut Vec<Problem>) -> Returns {
    let mut r = Returns::default();
    let Some(mut t) = keep(v.table(), problems) else { return r };
    for (key, slot) in [("pass", &mut r.pass), ("fail_status", &mut r.failure), ("malformed", &mut r.malformed)] {
        if let Some(x) = t.get(key)
            && let Some(value) = keep(x.to_toml(), problems)
        {
            *slot = Some(serde_json::to_value(value).unwrap_or(serde_json::Value::Null));
        }
    }
    t.finish(&["pass", "fail_status", "malformed"], problems);
    r
}

/// `[app.header]` or `[app.body]`: the task's registered name and the class attributes its code
/// sets, read as task_annotations entries are.
fn read_task(v: &Value<'_, '_>, problems: &mut Vec<Problem>) -> TaskSpec {
    let mut spec = TaskSpec::default();
    let Some(mut t) = keep(v.table(), problems) else { return spec };
    for (key, x) in t.entries() {
        let attr: &str = key.get_ref();
        if attr == "name" {
            spec.name = keep(x.str().map(str::to_string), problems).filter(|n| !n.is_empty());
            if spec.name.is_none() {
                problems
                    .push(x.problem("expected the task's registered name, such as \"proj.tasks.execute_single_test\""));
            }
            continue;
        }
        match spec.attrs.read_attr(attr, &x) {
            Some(r) => {
                keep(r, problems);
            }
            None => {
                let mut allowed = vec!["name"];
                allowed.extend(crate::config::Annotation::ATTRIBUTES);
                problems.push(
                    x.problem(format!("not a task attribute chordsim models; expected one of: {}", allowed.join(", "))),
                );
            }
        }
    }
    spec
}

/// `["task_id", "run_id=None", "*args", "**kwargs"]`: an errback's parameters.
fn errback_params(v: &Value<'_, '_>) -> Result<Vec<Param>, Problem> {
    let ident = |s: &str| {
        !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    v.array()?
        .iter()
        .map(|item| {
            let s = item.str()?;
            let bad = || {
                item.problem(format!(
                    "\"{s}\" is not a Python parameter; expected a name, `name=default`, `*name` or `**name`"
                ))
            };
            let p = if let Some(n) = s.strip_prefix("**") {
                Param::Varkw(n.to_string())
            } else if let Some(n) = s.strip_prefix('*') {
                Param::Varargs(n.to_string())
            } else if let Some((n, _)) = s.split_once('=') {
                Param::Default(n.trim().to_string())
            } else {
                Param::Required(s.to_string())
            };
            let name = match &p {
                Param::Required(n) | Param::Default(n) | Param::Varargs(n) | Param::Varkw(n) => n,
            };
            if ident(name) { Ok(p) } else { Err(bad()) }
        })
        .collect()
}

fn outcome(v: &Value<'_, '_>) -> Result<Outcome, Problem> {
    let names: Vec<(&str, usize)> = Outcome::NAMES.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    Ok(outcome_named(Outcome::NAMES[v.one_of(&names)?]))
}

/// An outcome by its name in [`Outcome::NAMES`], with its parameters' defaults.
fn outcome_named(name: &str) -> Outcome {
    match name {
        "pass" => Outcome::Pass,
        "fail_status" => Outcome::FailStatus,
        "return_none" => Outcome::ReturnNone,
        "malformed" => Outcome::Malformed,
        "raise" => Outcome::Raise,
        "raise_transient" => Outcome::RaiseTransient { fails: 1 },
        // Celery's own defaults for a bare `self.retry()`: default_retry_delay 180 s and
        // max_retries 3 (celery-semantics §3).
        "retry" => Outcome::Retry { fails: 1, countdown: SimDuration::from_secs(180), max_retries: 3 },
        "hang" => Outcome::Hang,
        "soft_catch" => Outcome::SoftCatch,
        "flaky" => Outcome::Flaky,
        _ => Outcome::DieAfterReturn,
    }
}

/// `[run] rates = { raise = 0.05, hang = 0.01 }`: outcome names with probabilities that sum to
/// at most 1.
fn read_rates(v: &Value<'_, '_>, problems: &mut Vec<Problem>) -> Vec<(Outcome, f64)> {
    let Some(mut t) = keep(v.table(), problems) else { return Vec::new() };
    let mut rates = Vec::new();
    let mut sum = 0.0;
    for (key, value) in t.entries() {
        let name: &str = key.get_ref();
        if !Outcome::NAMES.contains(&name) {
            problems.push(Problem {
                span: key.span(),
                field: value.path.clone(),
                message: format!("not an outcome; expected one of: {}", Outcome::NAMES.join(", ")),
            });
            continue;
        }
        match value.number() {
            Ok(p) if (0.0..=1.0).contains(&p) => {
                sum += p;
                rates.push((outcome_named(name), p));
            }
            Ok(p) => problems.push(value.problem(format!("expected a probability from 0 to 1, found {p}"))),
            Err(e) => problems.push(e),
        }
    }
    if sum > 1.0 + 1e-9 {
        problems
            .push(v.problem(format!("the rates add up to {sum}; expected at most 1 (the rest keep [run]'s outcome)")));
    }
    rates
}

fn duration_spec(v: &Value<'_, '_>) -> Result<DurationSpec, Problem> {
    if let Ok(mut t) = v.table() {
        let get = |t: &mut Table<'_, '_>, key: &'static str| -> Result<SimDuration, Problem> {
            let d = t.get(key).ok_or_else(|| {
                v.problem(format!("a long-tailed duration needs `{key}`, e.g. {{ median = \"30s\", p99 = \"10m\" }}"))
            })?;
            d.positive_duration()
        };
        let (median, p99) = (get(&mut t, "median")?, get(&mut t, "p99")?);
        if p99 < median {
            return Err(v.problem(format!("p99 {p99} is below the median {median}; expected p99 at least the median")));
        }
        let mut unknown = Vec::new();
        t.finish(&["median", "p99"], &mut unknown);
        return match unknown.into_iter().next() {
            Some(p) => Err(p),
            None => Ok(DurationSpec::LongTail { median, p99 }),
        };
    }
    let s = v.str().map_err(|_| {
        v.problem("expected a duration such as \"30s\", a range \"5s..30s\", or { median = \"30s\", p99 = \"10m\" }")
    })?;
    match s.split_once("..") {
        Some((lo, hi)) => {
            let bad =
                |_| v.problem(format!("\"{s}\" is not a duration range; expected \"LOW..HIGH\" such as \"5s..30s\""));
            let lo = parse_duration(lo).map_err(bad)?;
            let hi = parse_duration(hi).map_err(bad)?;
            if lo > hi {
                return Err(v.problem(format!("\"{s}\": the low end is above the high end")));
            }
            Ok(DurationSpec::Range(lo, hi))
        }
        None => v.duration().map(DurationSpec::Fixed),
    }
}

fn read_run(
    v: Option<Value<'_, '_>>,
    root: Range<usize>,
    problems: &mut Vec<Problem>,
) -> (Vec<TestSpec>, Vec<(Outcome, f64)>) {
    // What `[run]` and each `[[run.override]]` may set for a test, in the order messages list it.
    const PER_TEST: [&str; 9] = [
        "duration",
        "outcome",
        "fails",
        "countdown",
        "max_retries",
        "ignore_result",
        "time_limit",
        "soft_time_limit",
        "exception",
    ];
    let fields: Vec<&str> = ["tests"].into_iter().chain(PER_TEST).chain(["rates", "override"]).collect();
    let override_fields: Vec<&str> = ["test"].into_iter().chain(PER_TEST).collect();
    let Some(v) = v else {
        problems.push(Problem {
            span: root,
            field: "run".into(),
            message: "missing; expected a [run] table with `tests`".into(),
        });
        return (Vec::new(), Vec::new());
    };
    let Some(mut t) = keep(v.table(), problems) else { return (Vec::new(), Vec::new()) };
    let rates = t.get("rates").map(|r| read_rates(&r, problems)).unwrap_or_default();
    let n = t
        .require("tests", "the number of header tests (0 to 100000)", problems)
        .and_then(|v| keep(v.count(0, 100_000), problems))
        .unwrap_or(0) as usize;
    let mut base = TestSpec {
        duration: DurationSpec::Fixed(SimDuration::from_secs(1)),
        outcome: Outcome::Pass,
        ignore_result: false,
        time_limit: None,
        soft_time_limit: None,
        rated: true,
        exception: Vec::new(),
    };
    apply_test_fields(&mut t, &mut base, problems);
    let mut tests = vec![base; n];
    if let Some(list) = t.get("override") {
        for o in keep(list.array(), problems).unwrap_or_default() {
            let Some(mut ot) = keep(o.table(), problems) else { continue };
            let Some(i) = ot.require("test", "a test index", problems) else { continue };
            let max = n.saturating_sub(1) as u64;
            let Some(idx) = keep(
                i.count(0, u64::MAX).and_then(|x| {
                    if (x as usize) < n {
                        Ok(x as usize)
                    } else {
                        Err(i.problem(format!("test index {x} is out of range; this run has tests 0 to {max}")))
                    }
                }),
                problems,
            ) else {
                continue;
            };
            let mut spec = tests[idx].clone();
            spec.rated &= !ot.has("outcome");
            apply_test_fields(&mut ot, &mut spec, problems);
            tests[idx] = spec;
            ot.finish(&override_fields, problems);
        }
    }
    t.finish(&fields, problems);
    (tests, rates)
}

fn apply_test_fields(t: &mut Table<'_, '_>, spec: &mut TestSpec, problems: &mut Vec<Problem>) {
    if let Some(v) = t.get("duration") {
        spec.duration = keep(duration_spec(&v), problems).unwrap_or(spec.duration);
    }
    if let Some(v) = t.get("outcome") {
        spec.outcome = keep(outcome(&v), problems).unwrap_or(spec.outcome);
    }
    // The outcome's parameters, given here or with the outcome in [run].
    let fails = t.get("fails");
    let countdown = t.get("countdown");
    let max_retries = t.get("max_retries");
    match &mut spec.outcome {
        Outcome::RaiseTransient { fails: f } | Outcome::Retry { fails: f, .. } => {
            if let Some(n) = fails.as_ref().and_then(|v| keep(v.count(1, 1_000), problems)) {
                *f = n as u32;
            }
        }
        _ => {}
    }
    if let Outcome::Retry { countdown: c, max_retries: m, .. } = &mut spec.outcome {
        if let Some(d) = countdown.as_ref().and_then(|v| keep(v.duration(), problems)) {
            *c = d;
        }
        if let Some(n) = max_retries.as_ref().and_then(|v| keep(v.count(0, 1_000_000), problems)) {
            *m = n as u32;
        }
    } else {
        let takes_fails = matches!(spec.outcome, Outcome::RaiseTransient { .. });
        for (field, v, takes) in
            [("fails", &fails, takes_fails), ("countdown", &countdown, false), ("max_retries", &max_retries, false)]
        {
            if let (Some(v), false) = (v, takes) {
                let uses = if field == "fails" { "raise_transient or retry" } else { "retry" };
                problems.push(v.problem(format!(
                    "`{field}` applies to the outcome {uses} only; this test's outcome does not take it"
                )));
            }
        }
    }
    if let Some(v) = t.get("ignore_result") {
        spec.ignore_result = keep(v.bool(), problems).unwrap_or(false);
    }
    if let Some(v) = t.get("time_limit") {
        spec.time_limit = keep(v.positive_duration(), problems);
    }
    if let Some(v) = t.get("soft_time_limit") {
        spec.soft_time_limit = keep(v.positive_duration(), problems);
    }
    if let Some(v) = t.get("exception") {
        // A class name, or the class and its bases in MRO order.
        let names = match v.str() {
            Ok(one) => Ok(vec![one.to_string()]),
            Err(_) => v.array().and_then(|items| items.iter().map(|i| i.str().map(str::to_string)).collect()),
        };
        if let Some(names) = keep(
            names.map_err(|_| {
                v.problem(
                    "expected an exception class name, or the class and its bases: [\"ConnectionError\", \"OSError\"]",
                )
            }),
            problems,
        ) {
            spec.exception = names;
        }
    }
}

fn node(v: &Value<'_, '_>, topo: &Topology) -> Result<Node, Problem> {
    let s = v.str()?;
    match s {
        "producer" => Ok(Node::Producer),
        "broker" => Ok(Node::Broker),
        "backend" => Ok(Node::Backend),
        w => topo.workers.iter().position(|x| x.name == w).map(Node::Worker).ok_or_else(|| {
            let mut names = vec!["producer".to_string(), "broker".into(), "backend".into()];
            names.extend(topo.workers.iter().map(|w| w.name.clone()));
            v.problem(format!("unknown node \"{w}\"; expected one of: {}", names.join(", ")))
        }),
    }
}

fn worker(t: &mut Table<'_, '_>, topo: &Topology, problems: &mut Vec<Problem>) -> Option<usize> {
    let v = t.require("worker", "a worker name", problems)?;
    let s = keep(v.str(), problems)?;
    let found = topo.workers.iter().position(|w| w.name == s);
    if found.is_none() {
        let names: Vec<&str> = topo.workers.iter().map(|w| w.name.as_str()).collect();
        problems.push(v.problem(format!("unknown worker \"{s}\"; expected one of: {}", names.join(", "))));
    }
    found
}

fn test_index(t: &mut Table<'_, '_>, n: usize, problems: &mut Vec<Problem>) -> Option<usize> {
    let v = t.require("test", "a test index", problems)?;
    let x = keep(v.count(0, u64::MAX), problems)? as usize;
    if x >= n {
        problems.push(v.problem(format!(
            "test index {x} is out of range; this run has {}",
            if n == 0 { "no tests".to_string() } else { format!("tests 0 to {}", n - 1) }
        )));
        return None;
    }
    Some(x)
}

fn read_fault(v: &Value<'_, '_>, topo: &Topology, n_tests: usize, problems: &mut Vec<Problem>) -> Option<Fault> {
    const KINDS: &[&str] = &[
        "kill_worker",
        "start_worker",
        "kill_child",
        "warm_shutdown",
        "cold_shutdown",
        "partition",
        "broker_restart",
        "backend_outage",
        "stall",
        "revoke",
        "cancel_run",
    ];
    let mut t = keep(v.table(), problems)?;
    let kind_v = t.require("kind", "a fault kind", problems)?;
    let kind_names: Vec<(&str, usize)> = KINDS.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let kind = KINDS[keep(kind_v.one_of(&kind_names), problems)?];
    // A pool child can be killed a while after its test starts, wherever that lands in time.
    let after_start = match kind {
        "kill_child" => t.get("after_start").and_then(|v| keep(v.duration(), problems)),
        _ => None,
    };
    let at = match after_start {
        Some(_) => {
            if let Some(a) = t.get("at") {
                problems.push(a.problem("give `at` or `after_start`, not both"));
            }
            Some(DurationSpec::Fixed(SimDuration::ZERO))
        }
        None => t.require("at", "a time such as \"10s\", or a range \"10m..2h\"", problems).and_then(|a| {
            let when = if a.table().is_ok() {
                Err(a.problem("expected a time such as \"10s\", or a range \"10m..2h\""))
            } else {
                duration_spec(&a)
            };
            keep(when, problems)
        }),
    };
    let (at, until) = match at {
        Some(DurationSpec::Fixed(d)) => (Some(d), None),
        Some(DurationSpec::Range(lo, hi)) => (Some(lo), Some(SimTime::ZERO + hi)),
        Some(DurationSpec::LongTail { .. }) | None => (None, None),
    };
    // A fault that recurs: from `at`, then after gaps drawn per seed, on average `every`.
    let every = t.get("every").and_then(|v| {
        if matches!(kind, "start_worker" | "revoke" | "cancel_run") || after_start.is_some() {
            problems.push(v.problem(format!(
                "a {kind}{} happens once; expected `every` only on kill_worker, kill_child (with `test`), warm_shutdown, cold_shutdown, partition, broker_restart, backend_outage and stall",
                if after_start.is_some() { " with after_start" } else { "" }
            )));
            return None;
        }
        keep(v.positive_duration(), problems)
    });
    let restart = |t: &mut Table<'_, '_>, problems: &mut Vec<Problem>| {
        t.get("restart_after").and_then(|r| keep(r.duration(), problems))
    };
    let (fields, kind): (&[&str], Option<FaultKind>) = match kind {
        "kill_worker" => {
            let w = worker(&mut t, topo, problems);
            let r = restart(&mut t, problems);
            (
                &["at", "kind", "worker", "restart_after"],
                w.map(|worker| FaultKind::KillWorker { worker, restart_after: r }),
            )
        }
        "warm_shutdown" | "cold_shutdown" => {
            let w = worker(&mut t, topo, problems);
            let r = restart(&mut t, problems);
            let group = t.get("group").and_then(|g| keep(g.bool(), problems)).unwrap_or(false);
            (
                &["at", "kind", "worker", "restart_after", "group"],
                w.map(|worker| match kind {
                    "warm_shutdown" => FaultKind::WarmShutdown { worker, restart_after: r, group },
                    _ => FaultKind::ColdShutdown { worker, restart_after: r, group },
                }),
            )
        }
        "stall" => {
            let d = t.require("duration", "a duration", problems).and_then(|d| keep(d.positive_duration(), problems));
            let nodes = t.require("nodes", "[\"broker\"], [\"backend\"] or both", problems).and_then(|v| {
                let items = keep(v.array(), problems)?;
                let mut which = (false, false);
                for item in &items {
                    match keep(item.one_of(&[("broker", 0), ("backend", 1)]), problems)? {
                        0 => which.0 = true,
                        _ => which.1 = true,
                    }
                }
                if items.is_empty() || items.len() != usize::from(which.0) + usize::from(which.1) {
                    problems.push(v.problem("expected \"broker\", \"backend\" or both, each once"));
                    return None;
                }
                Some(which)
            });
            (
                &["at", "kind", "nodes", "duration"],
                nodes.zip(d).map(|((broker, backend), duration)| FaultKind::Stall { broker, backend, duration }),
            )
        }
        "start_worker" => {
            (&["at", "kind", "worker"], worker(&mut t, topo, problems).map(|worker| FaultKind::StartWorker { worker }))
        }
        "kill_child" => (
            &["at", "after_start", "kind", "test"],
            test_index(&mut t, n_tests, problems).map(|test| FaultKind::KillChild { test, after_start }),
        ),
        "partition" => {
            let between = t.require("between", "two node names, e.g. [\"w1\", \"broker\"]", problems);
            let nodes = between.and_then(|b| {
                let items = keep(b.array(), problems)?;
                if items.len() != 2 {
                    problems.push(b.problem(format!("expected exactly two node names, found {}", items.len())));
                    return None;
                }
                let a = keep(node(&items[0], topo), problems)?;
                let c = keep(node(&items[1], topo), problems)?;
                if a == c {
                    problems.push(b.problem("a partition needs two different nodes"));
                    return None;
                }
                Some((a, c))
            });
            let direction = t
                .get("direction")
                .and_then(|d| keep(d.one_of(&[("both", Direction::Both), ("one_way", Direction::OneWay)]), problems))
                .unwrap_or(Direction::Both);
            let heal_after = t.get("heal_after").and_then(|h| keep(h.positive_duration(), problems));
            (
                &["at", "kind", "between", "direction", "heal_after"],
                nodes.map(|(a, b)| FaultKind::Partition { a, b, direction, heal_after }),
            )
        }
        "broker_restart" => {
            let d = t.require("down_for", "a duration", problems).and_then(|d| keep(d.duration(), problems));
            let persistent = t.get("persistent").and_then(|p| keep(p.bool(), problems));
            (
                &["at", "kind", "down_for", "persistent"],
                d.map(|down_for| FaultKind::BrokerRestart { down_for, persistent }),
            )
        }
        "backend_outage" => {
            let d = t.require("duration", "a duration", problems).and_then(|d| keep(d.positive_duration(), problems));
            let lose = t.get("lose_data").and_then(|l| keep(l.bool(), problems)).unwrap_or(false);
            (
                &["at", "kind", "duration", "lose_data"],
                d.map(|duration| FaultKind::BackendOutage { duration, lose_data: lose }),
            )
        }
        "cancel_run" => (&["at", "kind"], Some(FaultKind::CancelRun)),
        _ => {
            let target = t
                .require("target", "\"test\", \"chord_unlock\" or \"body\"", problems)
                .and_then(|x| keep(x.one_of(&[("test", 0), ("chord_unlock", 1), ("body", 2)]), problems));
            let test = if target == Some(0) { test_index(&mut t, n_tests, problems) } else { None };
            let terminate = t.get("terminate").and_then(|x| keep(x.bool(), problems)).unwrap_or(false);
            let target = match target {
                Some(0) => test.map(RevokeTarget::Test),
                Some(1) => Some(RevokeTarget::ChordUnlock),
                Some(2) => Some(RevokeTarget::Body),
                _ => None,
            };
            (
                &["at", "kind", "target", "test", "terminate"],
                target.map(|target| FaultKind::Revoke { target, terminate }),
            )
        }
    };
    t.finish(fields, problems);
    Some(Fault { at: SimTime::ZERO + at?, until, every, kind: kind? })
}

/// One `[[policy]]`: a shipped policy with its flags, or a custom one with every field.
fn read_policy(v: &Value<'_, '_>, problems: &mut Vec<Problem>) -> Option<Policy> {
    let mut t = keep(v.table(), problems)?;
    let kinds = [
        ("chord-monitor", PolicyKind::ChordMonitor),
        ("fix-chords", PolicyKind::FixChords),
        ("watchdog", PolicyKind::Watchdog),
        ("custom", PolicyKind::Custom),
    ];
    let kind = keep(t.require("kind", "a policy kind", problems)?.one_of(&kinds), problems)?;
    // What the kind is unless a flag says otherwise (`Policy::shipped`); a custom policy starts
    // from nothing, and the watchdog has no default deadline.
    let older_than = Policy::shipped(kind, None).map(|p| p.older_than);
    let (every, clock, report, actions, terminate_default) = match Policy::shipped(kind, Some(SimDuration::ZERO)) {
        Some(p) => (p.every, Some(p.clock), p.report_older_than, p.actions, p.terminate),
        None => (None, None, None, Vec::new(), false),
    };
    let fields: &[&str] = match kind {
        PolicyKind::Watchdog => &["kind", "older_than", "at", "every", "dry_run"],
        PolicyKind::Custom => {
            &["kind", "older_than", "at", "every", "clock", "report_older_than", "action", "terminate", "dry_run"]
        }
        _ => &["kind", "older_than", "at", "every", "clock", "report_older_than", "terminate", "dry_run"],
    };
    let older_than = match (t.get("older_than"), older_than) {
        (Some(o), _) => keep(o.positive_duration(), problems),
        (None, Some(d)) => Some(d),
        (None, None) => {
            let what = if kind == PolicyKind::Watchdog { "the deadline, e.g. \"2h\"" } else { "a duration" };
            t.require("older_than", what, problems);
            None
        }
    };
    let every = match t.get("every") {
        Some(e) if e.str().ok() == Some("none") => None,
        Some(e) => keep(e.positive_duration(), problems),
        None => every,
    };
    let clocks = [("task_start", Clock::TaskStart), ("chord_age", Clock::ChordAge)];
    // A field this kind does not take is left unread, for `finish` to name with the allowed ones.
    let takes = |f: &str| fields.contains(&f);
    let clock = match (if takes("clock") { t.get("clock") } else { None }, clock) {
        (Some(c), _) => keep(c.one_of(&clocks), problems),
        (None, Some(c)) => Some(c),
        (None, None) => {
            t.require("clock", "\"task_start\" or \"chord_age\"", problems);
            None
        }
    };
    let report = match if takes("report_older_than") { t.get("report_older_than") } else { None } {
        Some(r) => keep(r.positive_duration(), problems),
        None => report,
    };
    if !takes("action")
        && let Some(a) = t.get("action")
    {
        let does: Vec<String> = actions.iter().map(|a| a.words(terminate_default)).collect();
        problems.push(a.problem(format!(
            "a {} always does this: {}; for another action, expected kind = \"custom\" with clock, older_than and action",
            kind.name(),
            does.join(", ")
        )));
    }
    let actions: Option<Vec<Action>> = match if takes("action") { t.get("action") } else { None } {
        Some(a) => {
            let names: Vec<(&str, Action)> = Action::NAMES
                .iter()
                .zip([Action::RevokeChordUnlock, Action::RevokeBody, Action::MarkFailed, Action::Purge])
                .map(|(n, a)| (*n, a))
                .collect();
            let empty = a.problem(format!("expected at least one action, of {}", Action::NAMES.join(", ")));
            let items = if a.array().is_ok() { keep(a.array(), problems)? } else { vec![a] };
            let picked: Option<Vec<Action>> = items.iter().map(|i| keep(i.one_of(&names), problems)).collect();
            match picked {
                Some(p) if p.is_empty() => {
                    problems.push(empty);
                    None
                }
                p => p,
            }
        }
        None if actions.is_empty() => {
            t.require("action", "an action, or a list of them", problems);
            None
        }
        None => Some(actions),
    };
    let terminate = if takes("terminate") { t.get("terminate") } else { None };
    let terminate = terminate.and_then(|v| keep(v.bool(), problems)).unwrap_or(terminate_default);
    let dry_run = t.get("dry_run").and_then(|v| keep(v.bool(), problems)).unwrap_or(false);
    // As `Policy::shipped` places it, unless `at` says.
    let at = match t.get("at") {
        Some(a) => keep(a.duration(), problems),
        None => every.or(older_than),
    };
    t.finish(fields, problems);
    let (older_than, clock, actions) = (older_than?, clock?, actions?);
    if let (Some(r), true) = (report, report.is_some_and(|r| r >= older_than)) {
        problems.push(v.problem(format!(
            "report_older_than ({r}) is not below older_than ({older_than}): nothing would ever be reported before it is acted on; expected a shorter report threshold"
        )));
    }
    Some(Policy { kind, at: at?, every, clock, older_than, report_older_than: report, actions, terminate, dry_run })
}

fn count_range(v: &Value<'_, '_>) -> Result<CountRange, Problem> {
    if let Ok(s) = v.str() {
        let bad = || v.problem(format!("\"{s}\" is not a count range; expected \"LOW..HIGH\" such as \"1..3\""));
        let (lo, hi) = s.split_once("..").ok_or_else(bad)?;
        let lo: u64 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u64 = hi.trim().parse().map_err(|_| bad())?;
        if lo > hi {
            return Err(bad());
        }
        return Ok(CountRange { lo, hi });
    }
    let n = v.count(0, u64::MAX).map_err(|_| v.problem("expected a count (0 or more) or a range \"LOW..HIGH\""))?;
    Ok(CountRange { lo: n, hi: n })
}

fn read_expect(v: Option<Value<'_, '_>>, root: Range<usize>, problems: &mut Vec<Problem>) -> Expect {
    const FIELDS: &[&str] =
        &["status", "within", "callback_runs", "errback_runs", "chord_unlock_runs", "body_state", "violations"];
    let mut e = Expect::stuck();
    let Some(v) = v else {
        problems.push(Problem {
            span: root,
            field: "expect".into(),
            message: "missing; expected an [expect] table with `status`".into(),
        });
        return e;
    };
    let Some(mut t) = keep(v.table(), problems) else { return e };
    if let Some(s) = t.require("status", "a status", problems) {
        e.status = keep(
            s.one_of(&[
                ("Completed", ExpectedStatus::Terminal(RunStatus::Completed)),
                ("Partial", ExpectedStatus::Terminal(RunStatus::Partial)),
                ("Failed", ExpectedStatus::Terminal(RunStatus::Failed)),
                ("Cancelled", ExpectedStatus::Terminal(RunStatus::Cancelled)),
                ("stuck", ExpectedStatus::Stuck),
            ]),
            problems,
        )
        .unwrap_or(ExpectedStatus::Stuck);
    }
    if let Some(w) = t.get("within") {
        e.within = keep(w.duration(), problems);
    }
    e.callback_runs = t.get("callback_runs").and_then(|c| keep(count_range(&c), problems));
    e.errback_runs = t.get("errback_runs").and_then(|c| keep(count_range(&c), problems));
    e.chord_unlock_runs = t.get("chord_unlock_runs").and_then(|c| keep(count_range(&c), problems));
    if let Some(b) = t.get("body_state") {
        e.body_state = keep(b.one_of(&TaskState::NAMED), problems);
    }
    if let Some(list) = t.get("violations") {
        for item in keep(list.array(), problems).unwrap_or_default() {
            let names: Vec<(&str, Property)> = Property::ALL.iter().map(|p| (p.name(), *p)).collect();
            if let Some(p) = keep(item.one_of(&names), problems) {
                e.violations.insert(p);
            }
        }
    }
    t.finish(FIELDS, problems);
    e
}
