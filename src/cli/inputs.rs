//! Which scenarios a command reads: the files and folders named on the command line (folders
//! walked in name order for `*.toml`), or `-` for one scenario on standard input. Symbolic links
//! are followed, but nothing is read twice: a link loop, or two links to one file, yields each
//! file once. Every file is loaded before anything runs, so a partial run is never reported as
//! success.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::EXIT_BAD_INPUT;
use super::output::warn_raw;
use crate::scenario::import::Import;
use crate::scenario::source::{self, STDIN};
use crate::scenario::{Needs, Scenario, ScenarioError};

/// The scenario files under `paths` (default `scenarios/`), sorted, each once; `-` stands for
/// standard input and is kept as it is.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let defaults = [PathBuf::from("scenarios")];
    let paths = if paths.is_empty() { &defaults[..] } else { paths };
    let mut files = Vec::new();
    let mut dirs_seen = BTreeSet::new();
    let mut stdin = false;
    for p in paths {
        if p.as_os_str() == "-" {
            if stdin {
                return Err("`-` (standard input) given twice".to_string());
            }
            stdin = true;
        } else if p.is_dir() {
            walk(p, &mut files, &mut dirs_seen).map_err(|e| format!("{}: {e}", p.display()))?;
        } else if p.exists() || p.is_symlink() {
            files.push(p.clone());
        } else {
            return Err(format!("{}: no such file or folder", p.display()));
        }
    }
    files.sort();
    // One entry per file, whatever the links: the first path to it in sorted order.
    let mut seen = BTreeSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    if stdin {
        files.insert(0, PathBuf::from("-"));
    }
    if files.is_empty() {
        return Err("no scenario files (*.toml) found".to_string());
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, seen: &mut BTreeSet<PathBuf>) -> std::io::Result<()> {
    if !seen.insert(std::fs::canonicalize(dir)?) {
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out, seen)?;
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
    Ok(())
}

/// Load one scenario, over the imported configuration if any: a file, or standard input
/// for `-`.
pub fn load(path: &Path, import: Option<&Import>, needs: Needs) -> Result<Scenario, ScenarioError> {
    if path.as_os_str() == "-" {
        let text = source::read_stdin()?;
        return Scenario::parse_with(STDIN, &text, import, needs);
    }
    Scenario::load_with(path, import, needs)
}

/// The scenarios under `paths`, all loaded; on any problem every message is printed and the
/// exit code returned.
pub fn load_paths(paths: &[PathBuf], import: Option<&Import>) -> Result<(Vec<PathBuf>, Vec<Scenario>), u8> {
    let files = collect(paths).map_err(|e| super::bad_input(&e))?;
    let mut ok = Vec::new();
    let mut bad = false;
    for f in &files {
        match load(f, import, Needs::Expectations) {
            Ok(s) => ok.push(s),
            Err(e) => {
                warn_raw(&e.to_string());
                bad = true;
            }
        }
    }
    if bad { Err(EXIT_BAD_INPUT) } else { Ok((files, ok)) }
}

/// The configuration a command without a scenario file works on: `--preset` (else the imported
/// file's own `preset`, else celery-defaults) under the imported configuration.
pub fn base(preset: Option<&str>, import: Option<&Import>) -> Result<Scenario, String> {
    let name = preset.or(import.and_then(|i| i.preset.as_deref())).unwrap_or("celery-defaults");
    let Some(p) = crate::scenario::Preset::from_name(name) else {
        let names: Vec<&str> = crate::scenario::Preset::ALL.iter().map(|p| p.name()).collect();
        return Err(format!("chordsim: --preset {name}: no such preset; expected one of: {}", names.join(", ")));
    };
    Scenario::from_preset_with(p, import).map_err(|e| e.to_string())
}
