//! `explore.json`: what an exploration ran and found, written beside its counterexample files,
//! and how the manifests of the shards of one exploration merge into the manifest of the
//! unsharded run. Nothing in it depends on the machine, the thread count or the wall clock, so
//! merged shards and one unsharded run write the same bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Options, Report, file_name, fnv1a};

/// The manifest's file name.
pub const FILE: &str = "explore.json";

/// The format version of `explore.json`.
pub const FORMAT_VERSION: u32 = 1;

/// One exploration's (or shard's) record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The preset the configuration starts from.
    pub preset: String,
    /// A hash of the whole configuration explored: shards of one exploration share it.
    pub configuration: String,
    /// The master seed.
    pub seed: u64,
    /// Cases in the whole exploration.
    pub cases: u64,
    /// Largest generated header.
    pub max_tests: usize,
    /// This shard, `I/N`.
    pub shard: String,
    /// Cases run.
    pub cases_run: u64,
    /// Cases that failed.
    pub cases_failed: u64,
    /// Whether every case of the shard ran and every failure was shrunk to its end.
    pub complete: bool,
    /// Distinct failures, in the order of their first case.
    pub failures: Vec<Failure>,
}

/// One distinct failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    /// The counterexample's file name.
    pub file: String,
    /// The cause signature.
    pub signature: String,
    /// The first case that showed it.
    pub first_case: u64,
    /// How many cases showed it.
    pub cases: u64,
}

/// The manifest of a finished exploration.
pub fn of(opts: &Options, report: &Report) -> Manifest {
    Manifest {
        format_version: FORMAT_VERSION,
        preset: opts.base.preset.name().to_string(),
        configuration: format!("{:016x}", fnv1a(opts.base.to_toml().as_bytes())),
        seed: opts.seed,
        cases: opts.cases,
        max_tests: opts.max_tests,
        shard: format!("{}/{}", opts.shard.0, opts.shard.1),
        cases_run: report.ran,
        cases_failed: report.failed,
        complete: !report.interrupted && !report.shrinking_stopped,
        failures: report
            .found
            .iter()
            .map(|f| Failure {
                file: file_name(f, opts.config.as_deref()),
                signature: f.signature.clone(),
                first_case: f.case,
                cases: f.count,
            })
            .collect(),
    }
}

/// Merge the manifests of every shard of one exploration into the unsharded run's. Returns it
/// and, for each of its failures, which input holds the file to keep (the shard whose first
/// case was the earliest: the one the unsharded run shrinks).
pub fn merge(shards: &[Manifest]) -> Result<(Manifest, Vec<usize>), String> {
    let first = shards.first().ok_or("nothing to merge")?;
    let mut seen = BTreeMap::new();
    let mut n_shards = None;
    for (i, m) in shards.iter().enumerate() {
        let same = (&m.preset, &m.configuration, m.seed, m.cases, m.max_tests)
            == (&first.preset, &first.configuration, first.seed, first.cases, first.max_tests);
        if !same {
            return Err(format!(
                "input {} is a shard of another exploration (preset, configuration, seed, cases and max tests must all agree)",
                i + 1
            ));
        }
        if !m.complete {
            return Err(format!(
                "input {} (shard {}) was stopped early: merged, it would not be what one whole run finds; run it again to its end",
                i + 1,
                m.shard
            ));
        }
        let (k, n) = parse_shard(&m.shard).ok_or_else(|| format!("input {}: shard {:?} is not I/N", i + 1, m.shard))?;
        if *n_shards.get_or_insert(n) != n {
            return Err(format!(
                "input {} splits the cases into {n} shards, another into {}",
                i + 1,
                n_shards.unwrap()
            ));
        }
        if let Some(j) = seen.insert(k, i) {
            return Err(format!("inputs {} and {} are both shard {k}/{n}", j + 1, i + 1));
        }
    }
    let n = n_shards.unwrap_or(1);
    let missing: Vec<String> = (1..=n).filter(|k| !seen.contains_key(k)).map(|k| format!("{k}/{n}")).collect();
    if !missing.is_empty() {
        return Err(format!(
            "shards {} are missing: merged, the rest would not be what one whole run finds",
            missing.join(", ")
        ));
    }
    // Per signature: the earliest first case, its shard, and the total count.
    let mut by_sig: BTreeMap<&str, (Failure, usize)> = BTreeMap::new();
    for (i, m) in shards.iter().enumerate() {
        for f in &m.failures {
            let e = by_sig.entry(f.signature.as_str()).or_insert_with(|| (Failure { cases: 0, ..f.clone() }, i));
            let total = e.0.cases + f.cases;
            if f.first_case < e.0.first_case {
                *e = (f.clone(), i);
            }
            e.0.cases = total;
        }
    }
    let mut merged: Vec<(Failure, usize)> = by_sig.into_values().collect();
    merged.sort_by_key(|(f, _)| f.first_case);
    let manifest = Manifest {
        shard: "1/1".to_string(),
        cases_run: shards.iter().map(|m| m.cases_run).sum(),
        cases_failed: shards.iter().map(|m| m.cases_failed).sum(),
        failures: merged.iter().map(|(f, _)| f.clone()).collect(),
        ..first.clone()
    };
    Ok((manifest, merged.into_iter().map(|(_, i)| i).collect()))
}

fn parse_shard(s: &str) -> Option<(u64, u64)> {
    let (i, n) = s.split_once('/')?;
    let (i, n) = (i.parse().ok()?, n.parse().ok()?);
    (1..=n).contains(&i).then_some((i, n))
}

impl Manifest {
    /// As written to `explore.json`.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a manifest serialises");
        s.push('\n');
        s
    }
}
