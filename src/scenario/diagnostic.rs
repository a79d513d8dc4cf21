//! Rendering input problems: each becomes one line naming the file, line:column, the field and
//! what was expected, followed by the source line with a caret under the problem
//! (annotate-snippets, as cargo uses). The first [`MAX_RENDERED`] problems are rendered, then a
//! count of the rest; positions come from one pass over the text, so a file with many problems
//! costs time in proportion to its size.

use std::fmt;

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};

use super::read::Problem;

/// How many problems of one file are rendered; the rest are counted.
pub const MAX_RENDERED: usize = 50;

/// The widest piece of a source line shown under a message (a minified file can be one line).
const WINDOW: usize = 160;

/// A scenario that could not be used: every problem found, rendered.
#[derive(Debug, thiserror::Error)]
pub struct ScenarioError {
    /// The file.
    pub file: String,
    /// The problems, each with its 1-based line and column.
    pub problems: Vec<Located>,
    rendered: String,
}

/// Something in a scenario that runs, but is probably not what was meant: a name Celery does
/// not define that is one typo away from one it does. `run` prints these; what is real but
/// inert is left to `replay` and `report`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// Dotted path of the field.
    pub field: String,
    /// What is wrong and what was probably meant.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: warning: {}: {}", self.file, self.line, self.column, self.field, self.message)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn position(text: &str, offset: usize) -> (usize, usize) {
    let (line, col, _) = locate(text, &[offset.min(text.len())])[0];
    (line, col)
}

/// A problem with its position resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// The problem.
    pub problem: Problem,
}

impl ScenarioError {
    /// The file as a whole cannot be used (missing, not a regular file, too large).
    pub fn file(file: &str, message: &str) -> Self {
        ScenarioError { rendered: format!("{file}: {message}"), file: file.to_string(), problems: Vec::new() }
    }

    /// The file is not UTF-8: the first bad byte is at `at`.
    pub fn not_utf8(file: &str, bytes: &[u8], at: usize) -> Self {
        let before = &bytes[..at];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        // Everything before `at` is valid UTF-8.
        let col = std::str::from_utf8(&bytes[line_start..at]).map_or(1, |s| s.chars().count() + 1);
        let rendered = format!(
            "{file}:{line}:{col}: (encoding): byte 0x{:02X} is not UTF-8; expected a UTF-8 text file",
            bytes[at]
        );
        ScenarioError { rendered, file: file.to_string(), problems: Vec::new() }
    }

    /// Problems found in `text`.
    pub fn new(file: &str, text: &str, mut problems: Vec<Problem>) -> Self {
        problems.sort_by(|a, b| (a.span.start, &a.field).cmp(&(b.span.start, &b.field)));
        problems.dedup();
        let starts: Vec<usize> = problems.iter().map(|p| p.span.start.min(text.len())).collect();
        let positions = locate(text, &starts);
        let renderer = Renderer::plain();
        let mut rendered = String::new();
        for ((p, &(line, col, line_start)), &start) in problems.iter().zip(&positions).zip(&starts).take(MAX_RENDERED) {
            if !rendered.is_empty() {
                rendered.push('\n');
            }
            rendered.push_str(&format!("{file}:{line}:{col}: {}: {}\n", p.field, p.message));
            let (window, offset) = window(text, line_start, start);
            let from = start - offset;
            let to = p.span.end.clamp(start, text.len()).min(offset + window.len()) - offset;
            let title = p.field.clone();
            let snippet = Snippet::source(window).line_start(line).annotation(AnnotationKind::Primary.span(from..to));
            // A window of a long line would give the wrong column: the first line has the right one.
            let whole_line = offset == line_start && !text[offset + window.len()..].starts_with(|c| c != '\n');
            let snippet = if whole_line { snippet.path(file) } else { snippet };
            let report = [Level::ERROR.primary_title(&title).element(snippet)];
            rendered.push_str(&renderer.render(&report));
            rendered.push('\n');
        }
        if problems.len() > MAX_RENDERED {
            rendered.push_str(&format!(
                "\n{file}: … and {} more problems (the first {MAX_RENDERED} are shown)\n",
                problems.len() - MAX_RENDERED
            ));
        }
        let problems = problems
            .into_iter()
            .zip(positions)
            .map(|(problem, (line, col, _))| Located { line, col, problem })
            .collect();
        ScenarioError { file: file.to_string(), problems, rendered }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rendered.trim_end())
    }
}

/// 1-based (line, column in characters, byte offset of the line's start) of each offset in
/// `sorted`, which must be in ascending order: one pass over the text for all of them.
fn locate(text: &str, sorted: &[usize]) -> Vec<(usize, usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(sorted.len());
    let (mut pos, mut line, mut line_start, mut col) = (0usize, 1usize, 0usize, 1usize);
    for &target in sorted {
        let target = floor_char_boundary(text, target);
        while pos < target {
            let c = text[pos..].chars().next().expect("pos is below the text's end");
            if bytes[pos] == b'\n' {
                line += 1;
                line_start = pos + 1;
                col = 1;
            } else {
                col += 1;
            }
            pos += c.len_utf8();
        }
        out.push((line, col, line_start));
    }
    out
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The part of the line starting at `line_start` to show for a problem at `at`: the whole line,
/// or [`WINDOW`] bytes around `at` when it is longer. Returns the text and its offset in `text`.
fn window(text: &str, line_start: usize, at: usize) -> (&str, usize) {
    let line_end = text[line_start..].find('\n').map_or(text.len(), |i| line_start + i);
    if line_end - line_start <= WINDOW {
        return (&text[line_start..line_end], line_start);
    }
    let from = floor_char_boundary(text, at.saturating_sub(WINDOW / 4).max(line_start));
    let to = floor_char_boundary(text, (from + WINDOW).min(line_end));
    (&text[from..to], from)
}
