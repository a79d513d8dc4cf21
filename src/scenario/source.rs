//! Where scenario text comes from: a regular file or standard input, at most [`MAX_BYTES`], and
//! UTF-8. A FIFO, a device or a folder is refused before anything is read (reading `/dev/zero`
//! or a FIFO nobody writes to would never end), and so is a file over the limit.

use std::io::Read;
use std::path::Path;

use super::ScenarioError;

/// The largest scenario chordsim reads: far beyond any real scenario (the largest shipped one
/// is a few kilobytes), small enough that parsing and error rendering stay quick.
pub const MAX_BYTES: u64 = 16 * 1024 * 1024;

/// How `MAX_BYTES` reads in messages.
pub const MAX_TEXT: &str = "16 MiB";

/// The name standard input goes by in messages and reports.
pub const STDIN: &str = "<stdin>";

/// Read a scenario file.
pub fn read_file(path: &Path) -> Result<String, ScenarioError> {
    let file = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| ScenarioError::file(&file, &io_reason(&e)))?;
    if !meta.is_file() {
        let what = if meta.is_dir() { "a folder" } else { "a named pipe, a device or a socket" };
        return Err(ScenarioError::file(&file, &format!("not a regular file ({what}); expected a scenario file")));
    }
    if meta.len() > MAX_BYTES {
        return Err(too_big(&file));
    }
    let f = std::fs::File::open(path).map_err(|e| ScenarioError::file(&file, &io_reason(&e)))?;
    read_limited(&file, f)
}

/// Read a scenario from standard input.
pub fn read_stdin() -> Result<String, ScenarioError> {
    read_limited(STDIN, std::io::stdin().lock())
}

fn read_limited(file: &str, r: impl Read) -> Result<String, ScenarioError> {
    let mut bytes = Vec::new();
    r.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ScenarioError::file(file, &format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(too_big(file));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.into_bytes();
        ScenarioError::not_utf8(file, &bytes, at)
    })
}

fn too_big(file: &str) -> ScenarioError {
    ScenarioError::file(file, &format!("larger than the {MAX_TEXT} limit for a scenario file"))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => format!("cannot read: {e}"),
    }
}
