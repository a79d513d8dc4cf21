//! `chordsim report`: generate the site in memory, then write it into `--out` without touching
//! anything a report did not write. The folder's `summary.json` is the proof that it is a
//! report, and its `files` list says what the earlier report wrote: only those may be replaced
//! or removed. A non-empty folder without one is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::inputs::load_paths;
use super::output::{Stdout, warn_raw, write_atomic};
use super::{EXIT_BAD_INPUT, EXIT_OK, bad_input};
use crate::report::site;

pub fn report(paths: &[PathBuf], out: &Path) -> u8 {
    let (files, scenarios) = match load_paths(paths, None) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let inputs: Vec<site::Input> =
        files.iter().zip(scenarios).map(|(f, scenario)| site::Input { path: relative(f), scenario }).collect();
    let mut pages = BTreeMap::new();
    for (input, file) in inputs.iter().zip(&files) {
        if let Some(other) = pages.insert(input.path.clone(), file) {
            return bad_input(&format!(
                "{} and {} would share the report page for {}; report them separately",
                other.display(),
                file.display(),
                input.path
            ));
        }
    }
    let earlier = match earlier_report(out) {
        Ok(e) => e,
        Err(e) => return bad_input(&e),
    };
    let generated = match site::generate(&inputs, &site::shipped_presets()) {
        Ok(g) => g,
        Err(e) => {
            warn_raw(&e.to_string());
            return EXIT_BAD_INPUT;
        }
    };
    match write_site(out, &earlier, &generated) {
        Ok(stale) => {
            let mut stdout = Stdout::new();
            stdout.line(&format!("wrote {} files to {} (removed {stale} stale)", generated.len(), out.display()));
            stdout.finish(EXIT_OK)
        }
        Err(e) => bad_input(&e),
    }
}

/// A scenario's path relative to the scenarios folder, for report file names: what follows
/// `scenarios/`, else the path without `.`, `..` and root components.
fn relative(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    if let Some(i) = text.rfind("scenarios/") {
        return text[i + "scenarios/".len()..].to_string();
    }
    text.split('/').filter(|part| !part.is_empty() && *part != "." && *part != "..").collect::<Vec<_>>().join("/")
}

/// What an earlier report wrote into `out`: nothing if the folder is new or empty; its
/// `summary.json`'s `files` if it is a report; an error if it is anything else.
fn earlier_report(out: &Path) -> Result<BTreeSet<String>, String> {
    let shown = out.display();
    if !out.exists() {
        return Ok(BTreeSet::new());
    }
    if !out.is_dir() {
        return Err(format!("--out {shown}: not a folder"));
    }
    let empty = std::fs::read_dir(out).map_err(|e| format!("--out {shown}: {e}"))?.next().is_none();
    if empty {
        return Ok(BTreeSet::new());
    }
    let refuse = |why: &str| {
        format!(
            "--out {shown}: not a chordsim report ({why}), and not empty; choose an empty or new folder, so that nothing of yours is overwritten or removed"
        )
    };
    let text = std::fs::read_to_string(out.join("summary.json")).map_err(|_| refuse("no summary.json"))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| refuse("its summary.json is not a report's"))?;
    match doc["format_version"].as_u64() {
        Some(1) => {
            // Version 1 listed no files: a page and a picture per scenario, the index, itself.
            let rows = doc["scenarios"].as_array().ok_or_else(|| refuse("its summary.json lists no scenarios"))?;
            let mut files: BTreeSet<String> = ["index.md", "summary.json"].map(String::from).into();
            for row in rows {
                let stem = site::slug(row["file"].as_str().ok_or_else(|| refuse("a scenario without a file"))?);
                files.extend([format!("{stem}.md"), format!("{stem}.svg")]);
            }
            Ok(files)
        }
        Some(v) if v == u64::from(site::SUMMARY_FORMAT_VERSION) => {
            let files = doc["files"]
                .as_array()
                .and_then(|a| a.iter().map(|f| f.as_str().map(String::from)).collect::<Option<BTreeSet<_>>>())
                .ok_or_else(|| refuse("its summary.json lists no files"))?;
            // A report writes plain names into its own folder; anything else is not a report's.
            match files.iter().find(|f| f.is_empty() || f.starts_with('.') || f.contains(['/', '\\'])) {
                Some(f) => Err(refuse(&format!("its summary.json lists {f:?}, which no report writes"))),
                None => Ok(files),
            }
        }
        _ => Err(refuse("its summary.json has no format_version this chordsim reads")),
    }
}

/// Write the site: refuse to overwrite a file no report wrote, remove what the earlier report
/// wrote and this one does not, then write `summary.json` (the new list) and the pages, each
/// whole or not at all. Returns how many stale files were removed.
fn write_site(out: &Path, earlier: &BTreeSet<String>, files: &[(String, String)]) -> Result<usize, String> {
    for (name, _) in files {
        let p = out.join(name);
        if !earlier.contains(name) && (p.exists() || p.is_symlink()) {
            return Err(format!("{}: exists and no earlier report wrote it; not overwriting it", p.display()));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| format!("--out {}: {e}", out.display()))?;
    let wanted: BTreeSet<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    let mut stale = 0;
    for name in earlier.iter().filter(|n| !wanted.contains(n.as_str())) {
        let p = out.join(name);
        if p.is_file() {
            std::fs::remove_file(&p).map_err(|e| format!("{}: cannot remove: {e}", p.display()))?;
            stale += 1;
        }
    }
    let summary = files.iter().filter(|(p, _)| p == "summary.json");
    for (name, text) in summary.chain(files.iter().filter(|(p, _)| p != "summary.json")) {
        write_atomic(&out.join(name), text.as_bytes())?;
    }
    Ok(stale)
}
