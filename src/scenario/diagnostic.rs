//! Rendering input problems: each becomes one line naming the file, line:column, the field and
//! what was expected, followed by the source line with a caret under the problem
//! (annotate-snippets, as cargo uses).

use std::fmt;
use std::path::Path;

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};

use super::read::Problem;

/// A scenario that could not be used: every problem found, rendered.
#[derive(Debug, thiserror::Error)]
pub struct ScenarioError {
    /// The file.
    pub file: String,
    /// The problems, each with its 1-based line and column.
    pub problems: Vec<Located>,
    rendered: String,
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
    /// The file could not be read.
    pub fn io(path: &Path, err: &std::io::Error) -> Self {
        let file = path.display().to_string();
        ScenarioError {
            rendered: format!("error: {file}: cannot read the scenario: {err}"),
            file,
            problems: Vec::new(),
        }
    }

    /// Problems found in `text`.
    pub fn new(file: &str, text: &str, mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|p| (p.span.start, p.field.clone()));
        problems.dedup();
        let renderer = Renderer::plain();
        let mut rendered = String::new();
        let mut located = Vec::new();
        for p in problems {
            let start = p.span.start.min(text.len());
            let end = p.span.end.clamp(start, text.len());
            let (line, col) = line_col(text, start);
            let title = p.field.clone();
            let report = [Level::ERROR
                .primary_title(&title)
                .element(Snippet::source(text).path(file).annotation(AnnotationKind::Primary.span(start..end)))];
            if !rendered.is_empty() {
                rendered.push('\n');
            }
            rendered.push_str(&format!("{file}:{line}:{col}: {}: {}\n", p.field, p.message));
            rendered.push_str(&renderer.render(&report));
            rendered.push('\n');
            located.push(Located { line, col, problem: p });
        }
        ScenarioError { file: file.to_string(), problems: located, rendered }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rendered.trim_end())
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}
