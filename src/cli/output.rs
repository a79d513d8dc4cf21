//! What the commands write: standard output that never turns a failure into success, messages
//! on standard error, and files written whole or not at all.
//!
//! A closed pipe (`chordsim run | head`) stops the printing but not the command, and keeps the
//! verdict's exit code, as ripgrep does; any other write error on standard output (a full disk,
//! `> /dev/full`) is an error of its own, exit code 2. Files go to a temporary file in the same
//! folder and are renamed into place, so a full disk or a file-size limit leaves the old file or
//! none, never a partial one.

use std::io::{self, ErrorKind, IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::EXIT_BAD_INPUT;
use crate::run::Progress;

/// Standard output for one command.
pub struct Stdout {
    out: io::StdoutLock<'static>,
    closed: bool,
    error: Option<io::Error>,
}

impl Stdout {
    /// Standard output, locked for the command's lifetime.
    pub fn new() -> Self {
        Stdout { out: io::stdout().lock(), closed: false, error: None }
    }

    /// Print `text`; after a closed pipe or an error, nothing more is written.
    pub fn print(&mut self, text: &str) {
        if self.closed || self.error.is_some() {
            return;
        }
        if let Err(e) = self.out.write_all(text.as_bytes()) {
            self.failed(e);
        }
    }

    /// Print `text` and a newline.
    pub fn line(&mut self, text: &str) {
        self.print(text);
        self.print("\n");
    }

    fn failed(&mut self, e: io::Error) {
        if e.kind() == ErrorKind::BrokenPipe {
            self.closed = true;
        } else {
            self.error = Some(e);
        }
    }

    /// Flush, and the command's exit code: `code`, unless writing failed other than by a
    /// closed pipe.
    pub fn finish(mut self, code: u8) -> u8 {
        if !self.closed
            && self.error.is_none()
            && let Err(e) = self.out.flush()
        {
            self.failed(e);
        }
        match self.error {
            Some(e) => {
                warn(&format!("cannot write to standard output: {e}"));
                EXIT_BAD_INPUT
            }
            None => code,
        }
    }
}

/// A message on standard error, `chordsim: ` first. If standard error itself cannot be
/// written, there is nobody left to tell.
pub fn warn(msg: &str) {
    let _ = writeln!(io::stderr(), "chordsim: {msg}");
}

/// Text on standard error as it is (rendered diagnostics carry their own prefix).
pub fn warn_raw(text: &str) {
    let _ = writeln!(io::stderr(), "{}", text.trim_end());
}

/// Write `contents` to `path` whole or not at all: into a temporary file beside it, then a
/// rename. On failure the temporary file is removed and the error names `path`.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), String> {
    let tmp = temporary(path);
    let result =
        std::fs::File::create(&tmp).and_then(|mut f| f.write_all(contents)).and_then(|()| std::fs::rename(&tmp, path));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: cannot write: {e}", path.display())
    })
}

/// `dir/.name.tmp-PID` for `dir/name`: hidden, not `.toml`, and per process.
fn temporary(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Make sure `dir` is a folder that files can be written to, creating it if needed: checked
/// before long work starts, so that minutes of exploring are not lost at the end.
pub fn writable_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{}: not a folder", dir.display()));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create the folder: {e}", dir.display()))?;
    let probe = dir.join(format!(".chordsim-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| format!("{}: cannot write in the folder: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// How much work (events and the items they scan, [`Progress::spent`]) a run does before it
/// shows a bar: a twentieth of the event budget, a fraction of a second on a fast machine, and
/// the same point on every machine.
const BAR_AFTER: u64 = crate::sim::EVENT_BUDGET / 20;

/// A progress bar for one long run, on a terminal only, and only once the run has done
/// [`BAR_AFTER`] work: virtual time against the horizon.
pub struct RunProgress {
    label: String,
    bar: Option<indicatif::ProgressBar>,
    enabled: bool,
}

impl RunProgress {
    /// For the run of `label` (a file name).
    pub fn new(label: &str) -> Self {
        RunProgress { label: label.to_string(), bar: None, enabled: io::stderr().is_terminal() }
    }

    /// The run has got this far.
    pub fn update(&mut self, p: Progress) {
        if !self.enabled || (self.bar.is_none() && p.spent < BAR_AFTER) {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let style = indicatif::ProgressStyle::with_template(
                "{bar:20} {pos}/{len}s of virtual time, eta {eta} · {wide_msg}",
            )
            .expect("a valid template")
            .progress_chars("=> ");
            indicatif::ProgressBar::new(p.horizon.0 / 1_000_000).with_style(style).with_message(self.label.clone())
        });
        bar.set_position(p.now.0 / 1_000_000);
    }

    /// The run is over: take the bar away.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
