//! Reading TOML with spans: a thin cursor over toml's spanned parse tree that checks types,
//! remembers which keys were used, and reports every problem as a [`Problem`] with the byte span
//! it belongs to. Unknown keys are problems too, listing the keys that are allowed.

use std::collections::BTreeSet;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::time::{DURATION_FORMS, SimDuration, parse_duration};

/// One thing wrong with the input: where, which field, what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Byte range in the source text.
    pub span: Range<usize>,
    /// Dotted path of the field, e.g. `fault[2].worker`.
    pub field: String,
    /// What was wrong and what is allowed.
    pub message: String,
}

/// A table being read; `finish` reports keys that nobody asked for.
pub struct Table<'a, 'i> {
    path: String,
    span: Range<usize>,
    table: &'a DeTable<'i>,
    used: BTreeSet<&'a str>,
}

/// A value with its field path, for the typed readers.
pub struct Value<'a, 'i> {
    /// Dotted field path.
    pub path: String,
    /// The spanned TOML value.
    pub value: &'a Spanned<DeValue<'i>>,
}

impl<'a, 'i> Table<'a, 'i> {
    /// Wrap a table found at `path`.
    pub fn new(path: impl Into<String>, span: Range<usize>, table: &'a DeTable<'i>) -> Self {
        Table { path: path.into(), span, table, used: BTreeSet::new() }
    }

    /// The table's own span.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// Whether the table has `key` (read or not).
    pub fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    /// The span of the value at `table.key` under this table, if there is one (read or not).
    pub fn span_of(&self, table: &str, key: &str) -> Option<Range<usize>> {
        self.table.get(table)?.get_ref().as_table()?.get(key).map(|v| v.span())
    }

    /// The field path of `key` inside this table.
    pub fn field(&self, key: &str) -> String {
        let key = if key.contains('.') || key.contains(' ') { format!("\"{key}\"") } else { key.to_string() };
        if self.path.is_empty() { key } else { format!("{}.{key}", self.path) }
    }

    /// Look a key up and mark it used.
    pub fn get(&mut self, key: &'static str) -> Option<Value<'a, 'i>> {
        let (k, v) = self.table.get_key_value(key)?;
        self.used.insert(k.get_ref().as_ref());
        Some(Value { path: self.field(key), value: v })
    }

    /// Every entry, in key order, marking all used (for open-ended tables like `[celery]`).
    pub fn entries(&mut self) -> Vec<(&'a Spanned<std::borrow::Cow<'i, str>>, Value<'a, 'i>)> {
        let mut out: Vec<_> = self
            .table
            .iter()
            .map(|(k, v)| {
                self.used.insert(k.get_ref().as_ref());
                (k, Value { path: self.field(k.get_ref()), value: v })
            })
            .collect();
        out.sort_by(|a, b| a.0.get_ref().cmp(b.0.get_ref()));
        out
    }

    /// A required key: a problem at the table when missing.
    pub fn require(&mut self, key: &'static str, what: &str, problems: &mut Vec<Problem>) -> Option<Value<'a, 'i>> {
        let v = self.get(key);
        if v.is_none() {
            problems.push(Problem {
                span: self.span.clone(),
                field: self.field(key),
                message: format!("missing; expected {what}"),
            });
        }
        v
    }

    /// Report keys that were not read, naming the allowed ones.
    pub fn finish(self, allowed: &[&str], problems: &mut Vec<Problem>) {
        let mut unknown: Vec<_> =
            self.table.iter().filter(|(k, _)| !self.used.contains(k.get_ref().as_ref())).collect();
        unknown.sort_by_key(|(k, _)| k.span().start);
        for (k, _) in unknown {
            problems.push(Problem {
                span: k.span(),
                field: self.field(k.get_ref()),
                message: format!("unknown field; expected one of: {}", allowed.join(", ")),
            });
        }
    }
}

impl<'a, 'i> Value<'a, 'i> {
    /// The value's span.
    pub fn span(&self) -> Range<usize> {
        self.value.span()
    }

    /// A problem at this value.
    pub fn problem(&self, message: impl Into<String>) -> Problem {
        Problem { span: self.span(), field: self.path.clone(), message: message.into() }
    }

    fn found(&self) -> &'static str {
        self.value.get_ref().type_str()
    }

    /// A string.
    pub fn str(&self) -> Result<&'a str, Problem> {
        match self.value.get_ref() {
            DeValue::String(s) => Ok(s.as_ref()),
            _ => Err(self.problem(format!("expected a string, found {}", self.found()))),
        }
    }

    /// A boolean.
    pub fn bool(&self) -> Result<bool, Problem> {
        match self.value.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.problem(format!("expected true or false, found {}", self.found()))),
        }
    }

    /// An integer (any radix TOML allows).
    pub fn int(&self) -> Result<i64, Problem> {
        match self.value.get_ref() {
            DeValue::Integer(i) => {
                let text = i.as_str().replace('_', "");
                let (sign, digits) = match text.strip_prefix('-') {
                    Some(rest) => (-1, rest.to_string()),
                    None => (1, text.trim_start_matches('+').to_string()),
                };
                let digits = digits.trim_start_matches("0x").trim_start_matches("0o").trim_start_matches("0b");
                // Parsed with its sign, so that -2^63 fits.
                let signed = if sign < 0 { format!("-{digits}") } else { digits.to_string() };
                i64::from_str_radix(&signed, i.radix()).map_err(|_| {
                    self.problem(format!(
                        "integer {} is out of range; TOML integers are 64-bit, from {} to {}",
                        i.as_str(),
                        i64::MIN,
                        i64::MAX
                    ))
                })
            }
            _ => Err(self.problem(format!("expected an integer, found {}", self.found()))),
        }
    }

    /// A whole number from `min` up.
    pub fn count(&self, min: u64, max: u64) -> Result<u64, Problem> {
        let v = self.int()?;
        if v < min as i64 || v as u64 > max {
            return Err(self.problem(format!("expected a whole number from {min} to {max}, found {v}")));
        }
        Ok(v as u64)
    }

    /// A number (integer or float), as Celery writes seconds.
    pub fn number(&self) -> Result<f64, Problem> {
        match self.value.get_ref() {
            DeValue::Integer(_) => self.int().map(|v| v as f64),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().map_err(|_| self.problem("not a number")),
            _ => Err(self.problem(format!("expected a number, found {}", self.found()))),
        }
    }

    /// Seconds as a non-negative number (Celery's unit for settings).
    pub fn seconds(&self) -> Result<SimDuration, Problem> {
        let s = self.number()?;
        if !s.is_finite() || !(0.0..=1e10).contains(&s) {
            return Err(self.problem(format!("expected a number of seconds from 0 to 1e10, found {s}")));
        }
        Ok(SimDuration::from_secs_f64(s))
    }

    /// Seconds, or `"none"` (Celery's None).
    pub fn seconds_or_none(&self) -> Result<Option<SimDuration>, Problem> {
        if let DeValue::String(s) = self.value.get_ref() {
            if s == "none" {
                return Ok(None);
            }
            return Err(self.problem(format!("expected a number of seconds or \"none\", found \"{s}\"")));
        }
        self.seconds().map(Some)
    }

    /// A duration string such as `"1.5s"`.
    pub fn duration(&self) -> Result<SimDuration, Problem> {
        let s = self.str().map_err(|_| self.problem(format!("expected {DURATION_FORMS}, found {}", self.found())))?;
        parse_duration(s).map_err(|expected| {
            let what = if expected == DURATION_FORMS { "is not a duration" } else { "is too long" };
            self.problem(format!("\"{s}\" {what}; expected {expected}"))
        })
    }

    /// A strictly positive duration.
    pub fn positive_duration(&self) -> Result<SimDuration, Problem> {
        let d = self.duration()?;
        if d == SimDuration::ZERO {
            return Err(self.problem("expected a duration greater than zero"));
        }
        Ok(d)
    }

    /// One of a closed set of names.
    pub fn one_of<T: Copy>(&self, choices: &[(&str, T)]) -> Result<T, Problem> {
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let s = self
            .str()
            .map_err(|_| self.problem(format!("expected one of: {}, found {}", names.join(", "), self.found())))?;
        choices
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, v)| *v)
            .ok_or_else(|| self.problem(format!("\"{s}\" is not allowed; expected one of: {}", names.join(", "))))
    }

    /// A table.
    pub fn table(&self) -> Result<Table<'a, 'i>, Problem> {
        match self.value.get_ref() {
            DeValue::Table(t) => Ok(Table::new(self.path.clone(), self.span(), t)),
            _ => Err(self.problem(format!("expected a table, found {}", self.found()))),
        }
    }

    /// An array of values, each with an indexed path.
    pub fn array(&self) -> Result<Vec<Value<'a, 'i>>, Problem> {
        match self.value.get_ref() {
            DeValue::Array(a) => {
                Ok(a.iter().enumerate().map(|(i, v)| Value { path: format!("{}[{i}]", self.path), value: v }).collect())
            }
            _ => Err(self.problem(format!("expected an array, found {}", self.found()))),
        }
    }

    /// The value as TOML text that reads back as the same value (inert settings are written
    /// back with it, and reports show it).
    pub fn to_toml_text(&self) -> Result<String, Problem> {
        self.to_toml().map(|v| v.to_string())
    }

    /// The value as a TOML value.
    pub fn to_toml(&self) -> Result<toml::Value, Problem> {
        Ok(match self.value.get_ref() {
            DeValue::String(s) => toml::Value::String(s.to_string()),
            DeValue::Integer(_) => toml::Value::Integer(self.int()?),
            DeValue::Float(f) => {
                let text = f.as_str().replace('_', "");
                toml::Value::Float(text.parse::<f64>().map_err(|_| self.problem(format!("\"{text}\" is not a float")))?)
            }
            DeValue::Boolean(b) => toml::Value::Boolean(*b),
            DeValue::Datetime(d) => toml::Value::Datetime(*d),
            DeValue::Array(_) => {
                toml::Value::Array(self.array()?.iter().map(Value::to_toml).collect::<Result<_, _>>()?)
            }
            DeValue::Table(t) => {
                let mut out = toml::Table::new();
                for (k, v) in t.iter() {
                    let item = Value { path: format!("{}.{}", self.path, k.get_ref()), value: v };
                    out.insert(k.get_ref().to_string(), item.to_toml()?);
                }
                toml::Value::Table(out)
            }
        })
    }
}

/// A TOML key as written in a file: bare when it can be, else quoted.
pub fn toml_key(key: &str) -> String {
    let bare = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { key.to_string() } else { toml::Value::String(key.to_string()).to_string() }
}

/// Collect `Err`s into `problems`, keeping the `Ok` value.
pub fn keep<T>(r: Result<T, Problem>, problems: &mut Vec<Problem>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(p) => {
            problems.push(p);
            None
        }
    }
}
