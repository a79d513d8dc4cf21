//! `chordsim lint`: the hazards of a configuration, worst first, each with its bound and the
//! scenario that shows it (written with `--out`, with its fixed variant). Exit 1 when a hazard
//! is found, 0 when none, 2 on bad input.

use std::path::Path;

use super::output::{Stdout, write_atomic};
use super::{EXIT_MISSED, EXIT_OK, bad_input};
use crate::advise::Workload;
use crate::advise::lint::lint as find;
use crate::scenario::Scenario;

pub fn lint(base: &Scenario, w: Workload, out_dir: Option<&Path>) -> u8 {
    let hazards = find(base, w);
    let mut out = Stdout::new();
    let workers: Vec<String> = base.topology.workers.iter().map(|w| format!("{} ×{}", w.name, w.concurrency)).collect();
    out.line(&format!(
        "chordsim lint: {} (Celery {}, {} broker, {} backend, workers {}), {} tests of {}: the header takes about {}",
        if base.file.is_empty() { format!("preset {}", base.preset.name()) } else { base.file.clone() },
        base.celery.version,
        base.topology.broker.name(),
        base.topology.backend.name(),
        workers.join(", "),
        w.tests,
        w.duration,
        w.header_time(base)
    ));
    if hazards.is_empty() {
        out.line("no hazard found");
        return out.finish(EXIT_OK);
    }
    if let Some(dir) = out_dir
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return out.finish(bad_input(&format!("--out {}: {e}", dir.display())));
    }
    for (i, h) in hazards.iter().enumerate() {
        out.line(&format!("\n{}. {}: {}", i + 1, h.id, h.why));
        out.line(&format!("   bound: {}", h.bound));
        if let Some(fix) = &h.fix {
            out.line(&format!("   fix: {}", fix.python()));
        }
        let Some((demo, symptom)) = &h.demo else {
            out.line("   no run shows it: a setting that does nothing changes no run");
            continue;
        };
        let (shown, gone) = h.demonstrate().expect("a demonstration");
        out.line(&format!(
            "   shown: {} in the generated scenario{}",
            if shown { symptom.words() } else { format!("NOT SHOWN ({})", symptom.words()) },
            match gone {
                Some(true) => "; gone with the fix",
                Some(false) => "; the fix alone does not take it away",
                None => "",
            }
        ));
        if let Some(dir) = out_dir {
            let stem = format!("{:02}-{}", i + 1, h.id.replace('_', "-"));
            let mut files = vec![(format!("{stem}.toml"), demo.to_toml())];
            if let Some(f) = h.fixed() {
                files.push((format!("{stem}-fixed.toml"), f.to_toml()));
            }
            for (name, text) in files {
                let path = dir.join(&name);
                if let Err(e) = write_atomic(&path, text.as_bytes()) {
                    return out.finish(bad_input(&format!("{}: {e}", path.display())));
                }
                out.line(&format!("   wrote {}", path.display()));
            }
        }
    }
    out.line(&format!("\n{} hazard{} found", hazards.len(), if hazards.len() == 1 { "" } else { "s" }));
    out.finish(EXIT_MISSED)
}
