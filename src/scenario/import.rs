//! A Celery configuration as its users have it, brought in under a scenario (`--config`):
//!
//! - the JSON that `celery -A proj inspect conf --json` prints: `{"node@host": {…}}`, the
//!   worker's `jsonify(app.conf.table(with_defaults=False))` (celery `worker/control.py: conf`),
//!   so only what differs from Celery's defaults, secrets masked as `"********"`, timedeltas as
//!   `str(timedelta)` (`"1 day, 0:00:00"`);
//! - a JSON dump of `app.conf`: one object of settings, as the README's one-line command writes;
//! - TOML: a scenario file or any file with `[celery]` (and `[topology]`, `[app]`), or bare
//!   settings at the top level.
//!
//! The format is told by the content, not the name: JSON starts with `{`; a JSON object whose
//! every key names a node (`name@host`) and whose every value is an object is `inspect conf`.
//! Flags fill in what `inspect conf` does not carry: the Celery version, a worker's `-c`, the
//! number of workers. The result is a layer of `[celery]`, `[topology]` and `[app]` that goes
//! between the preset and the scenario file (`validate.rs`); its values are checked here, so
//! a problem in it is reported against the imported file.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use toml::de::DeTable;

use super::read::Problem;
use super::{ScenarioError, source};

/// What the command line adds to an imported configuration (it wins over the file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// `--celery-version`.
    pub version: Option<String>,
    /// `--concurrency`: every worker's `-c`.
    pub concurrency: Option<u32>,
    /// `--workers`.
    pub workers: Option<u32>,
}

/// How the imported file was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `celery inspect conf --json`.
    InspectConf,
    /// A JSON object of settings.
    JsonDump,
    /// TOML.
    Toml,
}

impl Format {
    /// For messages.
    pub fn describe(self) -> &'static str {
        match self {
            Format::InspectConf => "`celery inspect conf --json` output",
            Format::JsonDump => "a JSON dump of app.conf",
            Format::Toml => "TOML",
        }
    }
}

/// An imported configuration, checked.
#[derive(Clone, Debug)]
pub struct Import {
    /// The file it came from.
    pub file: String,
    /// How it was read.
    pub format: Format,
    /// The layer: `[celery]`, `[topology]` and `[app]` as TOML text, the flags applied.
    pub layer: String,
    /// The same, parsed.
    tables: toml::Table,
    /// A TOML file's own `preset` (a scenario file's), for `explore`.
    pub preset: Option<String>,
    /// Where each top-level setting and table sits in the file, by its layer path
    /// (`celery.result_backend`, `topology`).
    places: BTreeMap<String, (usize, usize)>,
}

impl Import {
    /// Read and check a configuration file.
    pub fn load(path: &Path, flags: &Flags) -> Result<Import, ScenarioError> {
        let text = source::read_file(path)?;
        Self::parse(&path.display().to_string(), &text, flags)
    }

    /// Read and check configuration text; `file` names it in messages.
    pub fn parse(file: &str, text: &str, flags: &Flags) -> Result<Import, ScenarioError> {
        let trimmed = text.trim_start();
        let (format, mut layer, spans) = if trimmed.starts_with('{') {
            from_json(file, text)?
        } else if trimmed.starts_with("->") {
            let at = text.len() - trimmed.len();
            let problem = Problem {
                span: at..at + 2,
                field: "(format)".into(),
                message: "this is `celery inspect conf` printed for people; expected its JSON: run `celery -A proj inspect conf --json`".into(),
            };
            return Err(ScenarioError::new(file, text, vec![problem]));
        } else {
            from_toml(file, text)?
        };
        apply_flags(&mut layer, flags);
        let preset = layer.remove("preset").and_then(|p| p.as_str().map(str::to_string));
        let layer_text = toml::to_string(&layer).expect("a table of TOML values serialises");
        let import = Import {
            file: file.to_string(),
            format,
            layer: layer_text,
            tables: layer,
            preset,
            places: spans.iter().map(|(k, s)| (k.clone(), super::diagnostic::position(text, s.start))).collect(),
        };
        // Check the layer on its own; a problem names the imported file's line.
        let root = DeTable::parse(&import.layer).map_err(|e| {
            let problem = Problem {
                span: 0..0,
                field: "(nesting)".into(),
                message: format!("the configuration cannot be read as chordsim's tables: {}", e.message().trim()),
            };
            ScenarioError::new(file, text, vec![problem])
        })?;
        let mut problems = Vec::new();
        super::validate::configuration(root.get_ref(), root.span(), &mut problems);
        if problems.is_empty() {
            return Ok(import);
        }
        let mapped = problems
            .into_iter()
            .map(|p| {
                let span = owner(&p.field, &spans).cloned().unwrap_or(0..0);
                Problem { span, ..p }
            })
            .collect();
        Err(ScenarioError::new(file, text, mapped))
    }

    /// Where the setting or table at `field` (a layer path) is in the imported file, for
    /// messages: `conf.json:12:9`, or the file alone when a flag set it.
    pub fn place(&self, field: &str) -> String {
        match owner(field, &self.places) {
            Some((line, col)) => format!("{}:{line}:{col}", self.file),
            None => format!("{} (or a flag)", self.file),
        }
    }

    /// The line and column of the setting or table at `field` (1:1 when a flag set it).
    pub fn position(&self, field: &str) -> (usize, usize) {
        owner(field, &self.places).copied().unwrap_or((1, 1))
    }

    /// Whether the layer sets `table.key` (flags included).
    pub fn sets(&self, table: &str, key: &str) -> bool {
        self.tables.get(table).and_then(|t| t.get(key)).is_some()
    }
}

/// The entry of `places` for the top-level setting (or table) that `field` lies under.
fn owner<'a, T>(field: &str, places: &'a BTreeMap<String, T>) -> Option<&'a T> {
    let mut best = None;
    for (k, v) in places {
        let under = field == k || field.starts_with(&format!("{k}.")) || field.starts_with(&format!("{k}["));
        if under && best.is_none_or(|(b, _): (&String, _)| k.len() > b.len()) {
            best = Some((k, v));
        }
    }
    best.map(|(_, v)| v)
}

type Read = (Format, toml::Table, BTreeMap<String, Range<usize>>);

fn from_json(file: &str, text: &str) -> Result<Read, ScenarioError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        let at = offset_of(text, e.line(), e.column());
        let problem = Problem { span: at..at, field: "(json)".into(), message: format!("not valid JSON: {e}") };
        ScenarioError::new(file, text, vec![problem])
    })?;
    let serde_json::Value::Object(top) = value else { unreachable!("the text starts with {{") };
    let is_node = |(k, v): (&String, &serde_json::Value)| k.contains('@') && v.is_object();
    let (format, settings, start) = if !top.is_empty() && top.iter().all(is_node) {
        let mut nodes = top.iter();
        let (name, first) = nodes.next().expect("not empty");
        if let Some((other, _)) = nodes.find(|(_, v)| *v != first) {
            let at = key_span(text, other, 0).start;
            let problem = Problem {
                span: at..at,
                field: "(nodes)".into(),
                message: format!(
                    "the workers {name} and {other} report different configurations; expected one: import one node's object, or run `inspect conf --json -d {name}`"
                ),
            };
            return Err(ScenarioError::new(file, text, vec![problem]));
        }
        (Format::InspectConf, first.as_object().expect("a node").clone(), key_span(text, name, 0).end)
    } else {
        (Format::JsonDump, top, 0)
    };
    let mut celery = toml::Table::new();
    let mut spans = BTreeMap::new();
    let mut problems = Vec::new();
    for (key, value) in &settings {
        // Settings' own record of the deprecated names it was given (celery app/utils.py:
        // Settings.__init__), not a setting.
        if key == "deprecated_settings" {
            continue;
        }
        let name = setting_name(key);
        let span = key_span(text, key, start);
        if depth(value) > MAX_DEPTH {
            problems.push(Problem {
                span: span.clone(),
                field: format!("celery.{name}"),
                message: format!(
                    "nested {} levels deep; no Celery setting nests more than a few (TOML readers stop at 80), so expected at most {MAX_DEPTH}",
                    depth(value)
                ),
            });
            continue;
        }
        spans.insert(format!("celery.{name}"), span);
        celery.insert(name, to_toml(value));
    }
    if !problems.is_empty() {
        return Err(ScenarioError::new(file, text, problems));
    }
    let mut layer = toml::Table::new();
    layer.insert("celery".into(), toml::Value::Table(celery));
    Ok((format, layer, spans))
}

fn from_toml(file: &str, text: &str) -> Result<Read, ScenarioError> {
    let root = DeTable::parse(text).map_err(|e| {
        let problem = Problem {
            span: e.span().unwrap_or(0..0),
            field: "(toml)".into(),
            message: format!("not valid TOML: {}", e.message().trim()),
        };
        ScenarioError::new(file, text, vec![problem])
    })?;
    let value: toml::Table = toml::from_str(text).map_err(|e| {
        let problem = Problem { span: e.span().unwrap_or(0..0), field: "(toml)".into(), message: e.message().into() };
        ScenarioError::new(file, text, vec![problem])
    })?;
    let configured = ["celery", "topology", "app", "policy"];
    let mut layer = toml::Table::new();
    let mut spans = BTreeMap::new();
    if configured.iter().any(|t| value.contains_key(*t)) {
        // A scenario file or a configuration file: its configuration tables and its preset.
        if let Some(p) = value.get("preset") {
            layer.insert("preset".into(), p.clone());
        }
        for (k, v) in root.get_ref() {
            let name = k.get_ref().as_ref();
            if !configured.contains(&name) {
                continue;
            }
            spans.insert(name.to_string(), k.span());
            if let Some(inner) = v.get_ref().as_table() {
                for (ik, _) in inner {
                    spans.insert(format!("{name}.{}", ik.get_ref()), ik.span());
                }
            }
            layer.insert(name.to_string(), value[name].clone());
        }
    } else {
        // Bare settings: a TOML dump of app.conf.
        let mut celery = toml::Table::new();
        for (k, _) in root.get_ref() {
            let name = setting_name(k.get_ref());
            spans.insert(format!("celery.{name}"), k.span());
            celery.insert(name, value[k.get_ref().as_ref()].clone());
        }
        layer.insert("celery".into(), toml::Value::Table(celery));
    }
    Ok((Format::Toml, layer, spans))
}

/// How deep a setting's value may nest.
const MAX_DEPTH: usize = 32;

/// How many arrays and objects deep a JSON value nests.
fn depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A key as Celery's lowercase setting name: Django-style `CELERY_TASK_ACKS_LATE` (a
/// `namespace='CELERY'` app) is `task_acks_late`.
fn setting_name(key: &str) -> String {
    if let Some(rest) = key.strip_prefix("CELERY_")
        && key.chars().all(|c| !c.is_ascii_lowercase())
        && crate::config::names::is_setting(&rest.to_ascii_lowercase())
    {
        return rest.to_ascii_lowercase();
    }
    key.to_string()
}

/// A JSON value as TOML: Python's None is `"none"` (as scenarios write it), a timedelta's
/// `str()` is its seconds.
fn to_toml(v: &serde_json::Value) -> toml::Value {
    match v {
        serde_json::Value::Null => toml::Value::String("none".into()),
        serde_json::Value::Bool(b) => toml::Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => match timedelta_seconds(s) {
            Some(secs) if secs.fract() == 0.0 && secs.abs() < 9e15 => toml::Value::Integer(secs as i64),
            Some(secs) => toml::Value::Float(secs),
            None => toml::Value::String(s.clone()),
        },
        serde_json::Value::Array(a) => toml::Value::Array(a.iter().map(to_toml).collect()),
        serde_json::Value::Object(o) => toml::Value::Table(o.iter().map(|(k, v)| (k.clone(), to_toml(v))).collect()),
    }
}

/// Seconds of Python's `str(timedelta)`: `H:MM:SS`, `H:MM:SS.ffffff`, after `N day, ` or
/// `N days, ` (negative days included).
fn timedelta_seconds(s: &str) -> Option<f64> {
    let (days, clock) = match s.split_once(", ") {
        Some((d, rest)) => {
            let n = d.strip_suffix(" days").or_else(|| d.strip_suffix(" day"))?;
            (n.parse::<i64>().ok()?, rest)
        }
        None => (0, s),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let [h, m, sec] = parts[..] else { return None };
    let digits = |t: &str, len: usize| t.len() == len && t.bytes().all(|b| b.is_ascii_digit());
    if h.is_empty() || h.len() > 2 || !h.bytes().all(|b| b.is_ascii_digit()) || !digits(m, 2) {
        return None;
    }
    let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
    if !digits(whole, 2) || !(frac.is_empty() || digits(frac, 6)) {
        return None;
    }
    let secs: f64 = sec.parse().ok()?;
    Some(days as f64 * 86_400.0 + h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + secs)
}

/// The span of the first `"key":` at or after `from` (JSON object keys; setting names need no
/// escapes).
fn key_span(text: &str, key: &str, from: usize) -> Range<usize> {
    let quoted = format!("\"{key}\"");
    let mut at = from.min(text.len());
    while let Some(i) = text[at..].find(&quoted) {
        let start = at + i;
        let end = start + quoted.len();
        if text[end..].trim_start().starts_with(':') {
            return start..end;
        }
        at = end;
    }
    from..from
}

/// The byte offset of a 1-based line and column (serde_json counts columns in bytes).
/// The byte offset of serde_json's 1-based line and column, on a character's first byte
/// (serde_json counts the column in bytes, so an error inside a multi-byte character has one
/// in the middle of it).
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    text.floor_char_boundary(start + column.saturating_sub(1))
}

fn apply_flags(layer: &mut toml::Table, flags: &Flags) {
    fn table<'a>(layer: &'a mut toml::Table, name: &str) -> &'a mut toml::Table {
        layer
            .entry(name)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("the layer's tables are tables")
    }
    if let Some(v) = &flags.version {
        table(layer, "celery").insert("version".into(), toml::Value::String(v.clone()));
    }
    if let Some(c) = flags.concurrency {
        // `celery worker -c N` overrides worker_concurrency.
        table(layer, "celery").insert("worker_concurrency".into(), toml::Value::Integer(c.into()));
    }
    if let Some(w) = flags.workers {
        table(layer, "topology").insert("workers".into(), toml::Value::Integer(w.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timedeltas_read_as_python_prints_them() {
        assert_eq!(timedelta_seconds("0:55:00"), Some(3300.0));
        assert_eq!(timedelta_seconds("1 day, 0:00:00"), Some(86_400.0));
        assert_eq!(timedelta_seconds("2 days, 3:04:05.500000"), Some(2.0 * 86_400.0 + 3.0 * 3600.0 + 245.5));
        assert_eq!(timedelta_seconds("-1 day, 23:59:59"), Some(-1.0));
        for not in ["1:2:3", "10:00", "UTC", "0:00:00.5", "a day, 0:00:00", "12:30:00 PM"] {
            assert_eq!(timedelta_seconds(not), None, "{not}");
        }
    }

    #[test]
    fn a_problem_names_the_imported_files_line() {
        let text = "{\n \"task_acks_late\": true,\n \"task_time_limit\": \"soon\"\n}\n";
        let e = Import::parse("conf.json", text, &Flags::default()).unwrap_err().to_string();
        assert!(e.starts_with("conf.json:3:2: celery.task_time_limit:"), "{e}");
    }
}
