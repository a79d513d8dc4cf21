//! Celery's own settings, by Celery's own names: which ones the model reads, their defaults
//! (celery-semantics §1), how `task_annotations` resolve onto a task (§3), and which names have
//! no effect. Unknown names are accepted, as Celery accepts them, and reported as inert.

pub mod names;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

use crate::scenario::read::{Problem, Table, Value, keep};
use crate::time::SimDuration;
use crate::version::CeleryVersion;

/// When a task's message is acknowledged (§9 "Ack timing").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckMode {
    /// `task_acks_late = False`: acked when the pool child accepts the job.
    Early,
    /// `task_acks_late = True`: acked after success, retry or (by default) failure.
    Late,
}

/// The settings the model reads, resolved for one Celery version.
#[derive(Clone, Debug)]
pub struct CeleryConfig {
    /// The Celery version.
    pub version: CeleryVersion,
    /// `task_acks_late`.
    pub acks: AckMode,
    /// `task_reject_on_worker_lost`.
    pub reject_on_worker_lost: bool,
    /// `task_acks_on_failure` (5.7), else `task_acks_on_failure_or_timeout`.
    pub acks_on_failure: bool,
    /// `task_acks_on_timeout` (5.7), else `task_acks_on_failure_or_timeout`.
    pub acks_on_timeout: bool,
    /// `task_retry_on_worker_lost` (5.7 only).
    pub retry_on_worker_lost: bool,
    /// `task_track_started`.
    pub track_started: bool,
    /// `task_ignore_result`.
    pub ignore_result: bool,
    /// `task_time_limit`.
    pub time_limit: Option<SimDuration>,
    /// `task_soft_time_limit`.
    pub soft_time_limit: Option<SimDuration>,
    /// `task_allow_error_cb_on_chord_header`.
    pub allow_error_cb_on_chord_header: bool,
    /// `result_expires`; `None` (or 0) = never.
    pub result_expires: Option<SimDuration>,
    /// `result_chord_expires` (5.7; default `result_expires`).
    pub result_chord_expires: Option<SimDuration>,
    /// `result_chord_retry_interval`.
    pub chord_retry_interval: SimDuration,
    /// `result_backend_always_retry`.
    pub backend_always_retry: bool,
    /// `result_backend_max_retries` (None = unlimited).
    pub backend_max_retries: Option<u32>,
    /// `task_store_errors_even_if_ignored`.
    pub store_errors_even_if_ignored: bool,
    /// How long a Redis client waits to connect to an unreachable host:
    /// `redis_socket_connect_timeout`, else `redis_socket_timeout` (120 s).
    pub redis_connect_timeout: SimDuration,
    /// `broker_connection_retry`.
    pub broker_connection_retry: bool,
    /// `broker_connection_max_retries` (None = for ever).
    pub broker_connection_max_retries: Option<u32>,
    /// `broker_connection_timeout` (AMQP: a connect's timeout; None = the kernel's).
    pub broker_connection_timeout: Option<SimDuration>,
    /// `broker_heartbeat` (AMQP: what the worker's consumer asks for; 0 = none).
    pub broker_heartbeat: SimDuration,
    /// `broker_heartbeat_checkrate`: heartbeat checks per heartbeat interval.
    pub broker_heartbeat_checkrate: f64,
    /// `broker_transport_options['health_check_interval']` (Redis transport: how often the
    /// consumer pings its pub/sub connection; 0 = never).
    pub health_check_interval: SimDuration,
    /// `worker_prefetch_multiplier` (0 = no limit).
    pub prefetch_multiplier: u32,
    /// `broker_transport_options['visibility_timeout']` (Redis transport).
    pub visibility_timeout: SimDuration,
    /// `worker_soft_shutdown_timeout` (5.5+): how long a cold shutdown first lets running
    /// tasks go on (0 = off).
    pub soft_shutdown_timeout: SimDuration,
    /// `worker_enable_soft_shutdown_on_idle`: wait the soft shutdown out with no task running.
    pub soft_shutdown_on_idle: bool,
    /// `result_backend_transport_options['result_chord_ordered']`.
    pub chord_ordered: bool,
    /// `task_annotations`, by task name (`'*'` included).
    pub annotations: BTreeMap<String, Annotation>,
    /// Names given that change nothing, each with why.
    pub inert: Vec<InertSetting>,
    /// What the settings say of the deployment; the topology reads these
    /// (`scenario/deployment.rs`).
    pub deployment: Deployment,
}

/// The settings that say what is deployed rather than how tasks behave, as written, each with
/// the span of its value: the topology follows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deployment {
    /// `broker_url`.
    pub broker_url: Option<(String, Range<usize>)>,
    /// `result_backend`.
    pub result_backend: Option<(String, Range<usize>)>,
    /// `worker_concurrency` (Celery's None or 0: the host's CPU count, so not known here).
    pub worker_concurrency: Option<(Option<u32>, Range<usize>)>,
}

/// A setting or annotation attribute that was given but has no effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InertSetting {
    /// Where, for people: `chord_unlock_max_retries` or `task_annotations['x'].retry_backoff`.
    pub name: String,
    /// Where, for writing it back.
    pub place: InertPlace,
    /// The value as TOML text, exactly what it reads back as.
    pub value: String,
    /// Why it does nothing.
    pub why: String,
    /// The name Celery defines that this one is probably a misspelling of.
    pub meant: Option<&'static str>,
    /// Where its key is in the scenario text.
    pub span: Range<usize>,
}

/// Where an inert name sits in `[celery]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InertPlace {
    /// A key of `[celery]` itself.
    Setting(String),
    /// An attribute of `task_annotations[task]`.
    Annotation {
        /// The annotated task.
        task: String,
        /// The attribute.
        attr: String,
    },
}

/// Task attributes an annotation may set (`app/annotations.py`; §3).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Annotation {
    /// `max_retries`; `Some(None)` is Celery's None.
    pub max_retries: Option<Option<u32>>,
    /// `default_retry_delay`.
    pub default_retry_delay: Option<SimDuration>,
    /// `retry_backoff` (false = 0, true = 1, or a factor).
    pub retry_backoff: Option<u32>,
    /// `retry_backoff_max`.
    pub retry_backoff_max: Option<SimDuration>,
    /// `retry_jitter`.
    pub retry_jitter: Option<bool>,
    /// `autoretry_for` (non-empty = autoretry on).
    pub autoretry_for: Option<Vec<String>>,
    /// `time_limit`.
    pub time_limit: Option<Option<SimDuration>>,
    /// `soft_time_limit`.
    pub soft_time_limit: Option<Option<SimDuration>>,
    /// `ignore_result`.
    pub ignore_result: Option<bool>,
    /// `acks_late`.
    pub acks_late: Option<bool>,
}

impl Annotation {
    /// The task attributes the model reads, by name (as `task_annotations` entries and task
    /// classes set them): `None` when `attr` is none of them.
    pub fn read_attr(&mut self, attr: &str, x: &Value<'_, '_>) -> Option<Result<(), Problem>> {
        Some(match attr {
            "max_retries" => {
                if x.str().ok() == Some("none") {
                    self.max_retries = Some(None);
                    Ok(())
                } else {
                    x.count(0, 1_000_000).map(|n| self.max_retries = Some(Some(n as u32)))
                }
            }
            "default_retry_delay" => x.seconds().map(|d| self.default_retry_delay = Some(d)),
            "retry_backoff" => match x.bool() {
                Ok(b) => {
                    self.retry_backoff = Some(u32::from(b));
                    Ok(())
                }
                Err(_) => x.count(0, 1_000_000).map(|n| self.retry_backoff = Some(n as u32)),
            },
            "retry_backoff_max" => x.seconds().map(|d| self.retry_backoff_max = Some(d)),
            "retry_jitter" => x.bool().map(|b| self.retry_jitter = Some(b)),
            "autoretry_for" => x.array().and_then(|items| {
                items
                    .iter()
                    .map(|i| i.str().map(str::to_string))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|l| self.autoretry_for = Some(l))
            }),
            "time_limit" => x.seconds_or_none().map(|d| self.time_limit = Some(d)),
            "soft_time_limit" => x.seconds_or_none().map(|d| self.soft_time_limit = Some(d)),
            "ignore_result" => x.bool().map(|b| self.ignore_result = Some(b)),
            "acks_late" => x.bool().map(|b| self.acks_late = Some(b)),
            _ => return None,
        })
    }

    /// The attribute names [`Annotation::read_attr`] reads.
    pub const ATTRIBUTES: &'static [&'static str] = &[
        "max_retries",
        "default_retry_delay",
        "retry_backoff",
        "retry_backoff_max",
        "retry_jitter",
        "autoretry_for",
        "time_limit",
        "soft_time_limit",
        "ignore_result",
        "acks_late",
    ];

    /// Whether it sets nothing.
    pub fn is_empty(&self) -> bool {
        self.max_retries.is_none()
            && self.default_retry_delay.is_none()
            && self.retry_backoff.is_none()
            && self.retry_backoff_max.is_none()
            && self.retry_jitter.is_none()
            && self.autoretry_for.is_none()
            && self.time_limit.is_none()
            && self.soft_time_limit.is_none()
            && self.ignore_result.is_none()
            && self.acks_late.is_none()
    }
}

/// Where a resolved task attribute came from, for cause chains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The task class's own default.
    ClassDefault,
    /// The application's task class (`[app.header]`, `[app.body]`).
    ClassAttribute,
    /// `task_annotations[key]`.
    Annotation(String),
    /// A per-chord call option (`chord(..., max_retries=N)`).
    ChordOption,
    /// A Celery setting by name.
    Setting(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::ClassDefault => f.write_str("the task class default"),
            Source::ClassAttribute => f.write_str("the task class"),
            Source::Annotation(k) => write!(f, "task_annotations['{k}']"),
            Source::ChordOption => f.write_str("the chord's call options"),
            Source::Setting(s) => f.write_str(s),
        }
    }
}

/// A task's class attributes before annotations.
#[derive(Clone, Debug)]
pub struct TaskClass {
    /// The registered task name (borrowed for the profiles' own tasks: a run builds its
    /// classes afresh, and explore builds thousands of runs).
    pub name: Cow<'static, str>,
    /// `max_retries` (None = unlimited for chord_unlock's polling).
    pub max_retries: Option<u32>,
    /// `default_retry_delay`.
    pub default_retry_delay: SimDuration,
    /// `autoretry_for`: the exception classes it retries, by name.
    pub autoretry_for: Cow<'static, [Cow<'static, str>]>,
    /// `retry_backoff` factor (0 = off).
    pub retry_backoff: u32,
    /// `retry_backoff_max`.
    pub retry_backoff_max: SimDuration,
    /// `retry_jitter`.
    pub retry_jitter: bool,
    /// `ignore_result`.
    pub ignore_result: bool,
}

/// A task's attributes after annotations (named entry first, then `'*'`, which wins; §3).
#[derive(Clone, Debug)]
pub struct TaskAttrs {
    /// The class with annotations applied.
    pub class: TaskClass,
    /// Where `max_retries` came from.
    pub max_retries_source: Source,
    /// Per-task time limit, if an annotation set one.
    pub time_limit: Option<Option<SimDuration>>,
    /// Per-task soft time limit, if an annotation set one.
    pub soft_time_limit: Option<Option<SimDuration>>,
    /// Per-task acks_late, if an annotation set it.
    pub acks_late: Option<bool>,
}

impl TaskAttrs {
    /// Set what `a` sets; `source` is where `max_retries` then comes from.
    fn apply(&mut self, a: &Annotation, source: Source) {
        let c = &mut self.class;
        if let Some(m) = a.max_retries {
            c.max_retries = m;
            self.max_retries_source = source;
        }
        if let Some(d) = a.default_retry_delay {
            c.default_retry_delay = d;
        }
        if let Some(b) = a.retry_backoff {
            c.retry_backoff = b;
        }
        if let Some(m) = a.retry_backoff_max {
            c.retry_backoff_max = m;
        }
        if let Some(j) = a.retry_jitter {
            c.retry_jitter = j;
        }
        if let Some(list) = &a.autoretry_for {
            c.autoretry_for = list.iter().map(|n| Cow::Owned(n.clone())).collect();
        }
        if let Some(i) = a.ignore_result {
            c.ignore_result = i;
        }
        if a.time_limit.is_some() {
            self.time_limit = a.time_limit;
        }
        if a.soft_time_limit.is_some() {
            self.soft_time_limit = a.soft_time_limit;
        }
        if a.acks_late.is_some() {
            self.acks_late = a.acks_late;
        }
    }
}

impl CeleryConfig {
    /// Celery's own defaults for `version` (§1).
    pub fn defaults(version: CeleryVersion) -> Self {
        CeleryConfig {
            version,
            acks: AckMode::Early,
            reject_on_worker_lost: false,
            acks_on_failure: true,
            acks_on_timeout: true,
            retry_on_worker_lost: false,
            track_started: false,
            ignore_result: false,
            time_limit: None,
            soft_time_limit: None,
            allow_error_cb_on_chord_header: false,
            result_expires: Some(SimDuration::from_secs(86_400)),
            result_chord_expires: None,
            chord_retry_interval: SimDuration::from_secs(1),
            backend_always_retry: false,
            backend_max_retries: None,
            store_errors_even_if_ignored: false,
            redis_connect_timeout: SimDuration::from_secs(120),
            broker_connection_retry: true,
            broker_connection_max_retries: Some(100),
            broker_connection_timeout: Some(SimDuration::from_secs(4)),
            broker_heartbeat: SimDuration::from_secs(120),
            broker_heartbeat_checkrate: 3.0,
            health_check_interval: SimDuration::from_secs(25),
            prefetch_multiplier: 4,
            visibility_timeout: SimDuration::from_secs(3600),
            soft_shutdown_timeout: SimDuration::ZERO,
            soft_shutdown_on_idle: false,
            chord_ordered: true,
            annotations: BTreeMap::new(),
            inert: Vec::new(),
            deployment: Deployment::default(),
        }
    }

    /// A task's attributes: its class's, then the application's own class attributes (`own`),
    /// then annotations, which Celery sets on the class when the task is registered (celery
    /// app/annotations.py; §3: the named entry, then `'*'`).
    pub fn resolve(&self, class: &TaskClass, own: &Annotation) -> TaskAttrs {
        let mut attrs = TaskAttrs {
            class: class.clone(),
            max_retries_source: Source::ClassDefault,
            time_limit: None,
            soft_time_limit: None,
            acks_late: None,
        };
        attrs.apply(own, Source::ClassAttribute);
        for key in [class.name.as_ref(), "*"] {
            if let Some(a) = self.annotations.get(key) {
                attrs.apply(a, Source::Annotation(key.to_string()));
            }
        }
        attrs
    }

    /// Read a `[celery]` table (already merged over the preset's). Problems are collected.
    pub fn read(mut table: Table<'_, '_>, problems: &mut Vec<Problem>) -> Self {
        let version = match table.get("version") {
            Some(v) => keep(
                v.str().and_then(|s| {
                    CeleryVersion::parse(s).ok_or_else(|| {
                        v.problem(format!(
                            "\"{s}\" is not a modelled Celery version; expected one of: {}",
                            CeleryVersion::NAMES.join(", ")
                        ))
                    })
                }),
                problems,
            )
            .unwrap_or(CeleryVersion::NEWEST),
            None => CeleryVersion::NEWEST,
        };
        let mut c = CeleryConfig::defaults(version);
        let mut failure_or_timeout = true;
        let (mut connect_timeout, mut socket_timeout) = (None, None);
        let (mut on_failure, mut on_timeout) = (None, None);
        for (key, value) in table.entries() {
            let name: &str = key.get_ref();
            let only_57 = |v: &Value<'_, '_>| -> Result<(), Problem> {
                if version.has_split_ack_settings() {
                    Ok(())
                } else {
                    Err(v.problem(format!(
                        "`{name}` exists from Celery 5.7; this scenario models {version}, so expected a setting of {version} (or version = \"5.7\")"
                    )))
                }
            };
            let r: Result<(), Problem> = match name {
                "version" => Ok(()),
                "task_acks_late" => value.bool().map(|b| c.acks = if b { AckMode::Late } else { AckMode::Early }),
                "task_reject_on_worker_lost" => value.bool().map(|b| c.reject_on_worker_lost = b),
                "task_acks_on_failure_or_timeout" => value.bool().map(|b| failure_or_timeout = b),
                "task_acks_on_failure" => only_57(&value).and_then(|_| value.bool()).map(|b| on_failure = Some(b)),
                "task_acks_on_timeout" => only_57(&value).and_then(|_| value.bool()).map(|b| on_timeout = Some(b)),
                "task_retry_on_worker_lost" => {
                    only_57(&value).and_then(|_| value.bool()).map(|b| c.retry_on_worker_lost = b)
                }
                "task_track_started" => value.bool().map(|b| c.track_started = b),
                "task_ignore_result" => value.bool().map(|b| c.ignore_result = b),
                "task_time_limit" => value.seconds_or_none().map(|d| c.time_limit = d),
                "task_soft_time_limit" => value.seconds_or_none().map(|d| c.soft_time_limit = d),
                "task_allow_error_cb_on_chord_header" => value.bool().map(|b| c.allow_error_cb_on_chord_header = b),
                "result_expires" => value.seconds_or_none().map(|d| c.result_expires = d.filter(|d| d.0 > 0)),
                "result_chord_expires" => {
                    only_57(&value).and_then(|_| value.seconds_or_none()).map(|d| c.result_chord_expires = d)
                }
                "result_chord_retry_interval" => value.seconds().map(|d| c.chord_retry_interval = d),
                "result_backend_always_retry" => value.bool().map(|b| c.backend_always_retry = b),
                "result_backend_max_retries" => count_or_none(&value).map(|n| c.backend_max_retries = n),
                "task_store_errors_even_if_ignored" => value.bool().map(|b| c.store_errors_even_if_ignored = b),
                "redis_socket_connect_timeout" => value.seconds_or_none().map(|d| connect_timeout = d),
                "redis_socket_timeout" => value.seconds_or_none().map(|d| socket_timeout = d),
                "broker_connection_retry" => value.bool().map(|b| c.broker_connection_retry = b),
                "broker_connection_max_retries" => count_or_none(&value).map(|n| c.broker_connection_max_retries = n),
                "broker_connection_timeout" => value.seconds_or_none().map(|d| c.broker_connection_timeout = d),
                "broker_heartbeat" => value.seconds_or_none().map(|d| c.broker_heartbeat = d.unwrap_or_default()),
                "broker_heartbeat_checkrate" => value.number().and_then(|r| {
                    if r.is_finite() && (0.01..=1e6).contains(&r) {
                        c.broker_heartbeat_checkrate = r;
                        Ok(())
                    } else {
                        Err(value
                            .problem(format!("expected a number of checks per heartbeat from 0.01 to 1e6, found {r}")))
                    }
                }),
                "worker_prefetch_multiplier" => value.count(0, 10_000).map(|n| c.prefetch_multiplier = n as u32),
                "broker_url" => value.str().map(|u| c.deployment.broker_url = Some((u.to_string(), value.span()))),
                "result_backend" => {
                    value.str().map(|u| c.deployment.result_backend = Some((u.to_string(), value.span())))
                }
                "worker_concurrency" => count_or_none(&value).map(|n| {
                    c.deployment.worker_concurrency = Some((n.filter(|&n| n > 0), value.span()));
                }),
                "worker_soft_shutdown_timeout" => value.seconds().map(|d| c.soft_shutdown_timeout = d),
                "worker_enable_soft_shutdown_on_idle" => value.bool().map(|b| c.soft_shutdown_on_idle = b),
                "broker_transport_options" => read_broker_options(&value, &mut c, problems),
                "result_backend_transport_options" => read_backend_options(&value, &mut c, problems),
                "task_annotations" => read_annotations(&value, &mut c, problems),
                _ => value.to_toml_text().map(|text| {
                    let (why, meant) = inert_reason(name);
                    c.inert.push(InertSetting {
                        name: name.to_string(),
                        place: InertPlace::Setting(name.to_string()),
                        value: text,
                        why,
                        meant,
                        span: key.span(),
                    })
                }),
            };
            keep(r, problems);
        }
        if let Some(t) = connect_timeout.or(socket_timeout) {
            c.redis_connect_timeout = t;
        }
        // §12: in 5.7 the split settings fall back to the old one, then True.
        c.acks_on_failure = on_failure.unwrap_or(failure_or_timeout);
        c.acks_on_timeout = on_timeout.unwrap_or(failure_or_timeout);
        c
    }

    /// The TTL of chord keys: `result_chord_expires` in 5.7, else `result_expires` (§6, §12).
    pub fn chord_key_ttl(&self) -> Option<SimDuration> {
        if self.version.has_result_chord_expires()
            && let Some(d) = self.result_chord_expires
        {
            return Some(d).filter(|d| d.0 > 0);
        }
        self.result_expires
    }
}

/// Why a name in `[celery]` changes nothing, and the setting it was probably meant to be.
fn inert_reason(name: &str) -> (String, Option<&'static str>) {
    if name == "result_chord_join_timeout" {
        return (
            "chord_unlock's final join reads the results its ready() check cached, so it never waits (docs/celery-source-notes.md §12); it bounds only the Redis join of a saved nested header, which chordsim does not model".to_string(),
            None,
        );
    }
    if names::is_setting(name) {
        return ("a Celery setting that does not change chord termination in this model".to_string(), None);
    }
    let meant = names::suggest_setting(name);
    let mut why = "not a Celery setting: Celery stores unknown keys and ignores them (§1 \"Not settings\")".to_string();
    if let Some(m) = meant {
        why.push_str(&format!("; did you mean {m}?"));
    }
    (why, meant)
}

fn count_or_none(v: &Value<'_, '_>) -> Result<Option<u32>, Problem> {
    if v.str().ok() == Some("none") {
        return Ok(None);
    }
    v.count(0, 1_000_000_000).map(|n| Some(n as u32)).map_err(|_| v.problem("expected a whole number or \"none\""))
}

fn read_broker_options(v: &Value<'_, '_>, c: &mut CeleryConfig, problems: &mut Vec<Problem>) -> Result<(), Problem> {
    let mut t = v.table()?;
    if let Some(x) = t.get("visibility_timeout")
        && let Some(d) = keep(x.seconds(), problems)
    {
        c.visibility_timeout = d;
    }
    if let Some(x) = t.get("health_check_interval")
        && let Some(d) = keep(x.seconds(), problems)
    {
        c.health_check_interval = d;
    }
    t.finish(&["visibility_timeout", "health_check_interval"], problems);
    Ok(())
}

fn read_backend_options(v: &Value<'_, '_>, c: &mut CeleryConfig, problems: &mut Vec<Problem>) -> Result<(), Problem> {
    let mut t = v.table()?;
    if let Some(x) = t.get("result_chord_ordered")
        && let Some(b) = keep(x.bool(), problems)
    {
        c.chord_ordered = b;
    }
    t.finish(&["result_chord_ordered"], problems);
    Ok(())
}

fn read_annotations(v: &Value<'_, '_>, c: &mut CeleryConfig, problems: &mut Vec<Problem>) -> Result<(), Problem> {
    let mut t = v.table()?;
    for (task, entry) in t.entries() {
        let task: &str = task.get_ref();
        let Some(mut attrs) = keep(entry.table(), problems) else { continue };
        let mut a = Annotation::default();
        // The retry-shaping attributes given, in case nothing retries by them (below).
        let mut shaping = Vec::new();
        for (attr_key, x) in attrs.entries() {
            let attr: &str = attr_key.get_ref();
            if matches!(attr, "retry_backoff" | "retry_backoff_max" | "retry_jitter")
                && let Ok(text) = x.to_toml_text()
            {
                shaping.push((attr.to_string(), text, attr_key.span()));
            }
            let r: Result<(), Problem> = match a.read_attr(attr, &x) {
                Some(r) => r,
                None => x.to_toml_text().map(|text| {
                    let meant = (!names::is_attribute(attr)).then(|| names::suggest_attribute(attr)).flatten();
                    let mut why = if names::is_attribute(attr) {
                        "set on the task class, but nothing in the model's tasks reads it".to_string()
                    } else {
                        "not an attribute Celery's tasks have: set on the task class and never read".to_string()
                    };
                    if let Some(m) = meant {
                        why.push_str(&format!("; did you mean {m}?"));
                    }
                    c.inert.push(InertSetting {
                        name: format!("task_annotations['{task}'].{attr}"),
                        place: InertPlace::Annotation { task: task.to_string(), attr: attr.to_string() },
                        value: text,
                        why,
                        meant,
                        span: attr_key.span(),
                    })
                }),
            };
            keep(r, problems);
        }
        if task == "celery.chord_unlock" && a.autoretry_for.is_none() {
            // chord_unlock retries by raising self.retry(countdown=interval) (celery
            // app/builtins.py: unlock_chord); retry_backoff, retry_backoff_max and retry_jitter
            // shape only autoretry_for's retries (app/autoretry.py), which it does not have.
            (a.retry_backoff, a.retry_backoff_max, a.retry_jitter) = (None, None, None);
            for (attr, value, span) in shaping {
                c.inert.push(InertSetting {
                    name: format!("task_annotations['{task}'].{attr}"),
                    place: InertPlace::Annotation { task: task.to_string(), attr: attr.clone() },
                    value,
                    why: format!("chord_unlock retries with self.retry(countdown=interval), at result_chord_retry_interval; {attr} shapes only autoretry_for's retries (celery app/autoretry.py), which chord_unlock does not have (§3)"),
                    meant: None,
                    span,
                });
            }
        }
        c.annotations.insert(task.to_string(), a);
    }
    Ok(())
}

impl CeleryConfig {
    /// The settings that differ from Celery's defaults for this version, as `name = value`
    /// lines in Celery's own names (for reports).
    pub fn differences(&self) -> Vec<String> {
        let d = CeleryConfig::defaults(self.version);
        let secs = |x: Option<SimDuration>| x.map_or("None".to_string(), |v| format!("{}", v.as_secs_f64()));
        let mut out = Vec::new();
        let mut diff = |name: &str, ours: String, theirs: String| {
            if ours != theirs {
                out.push(format!("{name} = {ours}"));
            }
        };
        diff("task_acks_late", (self.acks == AckMode::Late).to_string(), (d.acks == AckMode::Late).to_string());
        diff("task_reject_on_worker_lost", self.reject_on_worker_lost.to_string(), d.reject_on_worker_lost.to_string());
        diff("task_acks_on_failure", self.acks_on_failure.to_string(), d.acks_on_failure.to_string());
        diff("task_acks_on_timeout", self.acks_on_timeout.to_string(), d.acks_on_timeout.to_string());
        diff("task_retry_on_worker_lost", self.retry_on_worker_lost.to_string(), d.retry_on_worker_lost.to_string());
        diff("task_track_started", self.track_started.to_string(), d.track_started.to_string());
        diff("task_ignore_result", self.ignore_result.to_string(), d.ignore_result.to_string());
        diff("task_time_limit", secs(self.time_limit), secs(d.time_limit));
        diff("task_soft_time_limit", secs(self.soft_time_limit), secs(d.soft_time_limit));
        diff(
            "task_allow_error_cb_on_chord_header",
            self.allow_error_cb_on_chord_header.to_string(),
            d.allow_error_cb_on_chord_header.to_string(),
        );
        diff("result_expires", secs(self.result_expires), secs(d.result_expires));
        diff("result_chord_expires", secs(self.result_chord_expires), secs(d.result_chord_expires));
        diff("result_chord_retry_interval", secs(Some(self.chord_retry_interval)), secs(Some(d.chord_retry_interval)));
        diff("result_backend_always_retry", self.backend_always_retry.to_string(), d.backend_always_retry.to_string());
        diff("broker_connection_timeout", secs(self.broker_connection_timeout), secs(d.broker_connection_timeout));
        diff("broker_heartbeat", secs(Some(self.broker_heartbeat)), secs(Some(d.broker_heartbeat)));
        diff(
            "broker_heartbeat_checkrate",
            self.broker_heartbeat_checkrate.to_string(),
            d.broker_heartbeat_checkrate.to_string(),
        );
        diff("worker_prefetch_multiplier", self.prefetch_multiplier.to_string(), d.prefetch_multiplier.to_string());
        diff(
            "worker_soft_shutdown_timeout",
            secs(Some(self.soft_shutdown_timeout)),
            secs(Some(d.soft_shutdown_timeout)),
        );
        diff(
            "worker_enable_soft_shutdown_on_idle",
            self.soft_shutdown_on_idle.to_string(),
            d.soft_shutdown_on_idle.to_string(),
        );
        diff(
            "broker_transport_options['visibility_timeout']",
            secs(Some(self.visibility_timeout)),
            secs(Some(d.visibility_timeout)),
        );
        diff(
            "broker_transport_options['health_check_interval']",
            secs(Some(self.health_check_interval)),
            secs(Some(d.health_check_interval)),
        );
        diff(
            "result_backend_transport_options['result_chord_ordered']",
            self.chord_ordered.to_string(),
            d.chord_ordered.to_string(),
        );
        for (task, a) in &self.annotations {
            out.push(format!("task_annotations['{task}'] = {}", a.summary()));
        }
        for i in &self.inert {
            out.push(format!("{} = {} (no effect: {})", i.name, i.value, i.why));
        }
        out
    }
}

impl Annotation {
    /// `{max_retries: 3, …}` with only the attributes set.
    fn summary(&self) -> String {
        let secs = |x: SimDuration| format!("{}", x.as_secs_f64());
        let mut parts = Vec::new();
        if let Some(m) = self.max_retries {
            parts.push(format!("max_retries: {}", m.map_or("None".to_string(), |m| m.to_string())));
        }
        if let Some(d) = self.default_retry_delay {
            parts.push(format!("default_retry_delay: {}", secs(d)));
        }
        if let Some(b) = self.retry_backoff {
            parts.push(format!("retry_backoff: {b}"));
        }
        if let Some(m) = self.retry_backoff_max {
            parts.push(format!("retry_backoff_max: {}", secs(m)));
        }
        if let Some(j) = self.retry_jitter {
            parts.push(format!("retry_jitter: {j}"));
        }
        if let Some(l) = &self.autoretry_for {
            parts.push(format!("autoretry_for: {l:?}"));
        }
        if let Some(t) = self.time_limit {
            parts.push(format!("time_limit: {}", t.map_or("None".to_string(), secs)));
        }
        if let Some(t) = self.soft_time_limit {
            parts.push(format!("soft_time_limit: {}", t.map_or("None".to_string(), secs)));
        }
        if let Some(i) = self.ignore_result {
            parts.push(format!("ignore_result: {i}"));
        }
        if let Some(a) = self.acks_late {
            parts.push(format!("acks_late: {a}"));
        }
        format!("{{{}}}", parts.join(", "))
    }
}
