//! Every section the code and the scenarios cite exists: a rule's `§n` must lead a reader to the
//! heading that explains it. A reference names its document on the same line — "celery-semantics",
//! "source notes" / "celery-source-notes", "rhesis-model" — and a bare `§n` after it on that line
//! continues in the same document. A bare numbered `§n` with no document before it is
//! `docs/celery-semantics.md`; a bare lettered `§a`…`§g` is `docs/rhesis-model.md`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Doc {
    Semantics,
    SourceNotes,
    Rhesis,
}

impl Doc {
    fn file(self) -> &'static str {
        match self {
            Doc::Semantics => "docs/celery-semantics.md",
            Doc::SourceNotes => "docs/celery-source-notes.md",
            Doc::Rhesis => "docs/rhesis-model.md",
        }
    }
}

/// The section labels a document's headings define: "## 9. …" gives "9", "### 5.3 …" gives
/// "5.3", "## c) …" gives "c".
fn headings(doc: Doc) -> BTreeSet<String> {
    let text = fs::read_to_string(doc.file()).expect("the document exists");
    text.lines()
        .filter_map(|line| line.strip_prefix("## ").or(line.strip_prefix("### ")))
        .filter_map(|rest| {
            let label: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
            let label = label.trim_end_matches('.').to_string();
            (!label.is_empty()).then_some(label)
        })
        .collect()
}

/// The (document, label) pairs one line cites.
fn citations(line: &str) -> Vec<(Doc, String)> {
    let lower = line.to_ascii_lowercase();
    let names = [
        ("celery-semantics", Doc::Semantics),
        ("celery-source-notes", Doc::SourceNotes),
        ("source notes", Doc::SourceNotes),
        ("rhesis-model", Doc::Rhesis),
    ];
    let mut out = Vec::new();
    for (at, _) in line.match_indices('§') {
        let label: String =
            line[at + '§'.len_utf8()..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
        let label = label.trim_end_matches('.').to_string();
        if label.is_empty() {
            continue;
        }
        let named = names
            .iter()
            .filter_map(|(name, doc)| lower[..at].rfind(name).map(|pos| (pos, *doc)))
            .max()
            .map(|(_, doc)| doc);
        let doc =
            named.unwrap_or(if label.starts_with(|c: char| c.is_ascii_digit()) { Doc::Semantics } else { Doc::Rhesis });
        out.push((doc, label));
    }
    out
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir).expect("readable").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("rs" | "toml" | "md")) {
            out.push(path);
        }
    }
}

#[test]
fn every_cited_section_exists() {
    let known: Vec<(Doc, BTreeSet<String>)> =
        [Doc::Semantics, Doc::SourceNotes, Doc::Rhesis].into_iter().map(|doc| (doc, headings(doc))).collect();
    for (doc, labels) in &known {
        assert!(labels.len() >= 5, "{} has headings: {labels:?}", doc.file());
    }
    let mut paths = vec![PathBuf::from("README.md")];
    for dir in ["src", "scenarios", "docs/model.md", "docs/calibration.md"] {
        let dir = Path::new(dir);
        if dir.is_dir() {
            files(dir, &mut paths);
        } else {
            paths.push(dir.to_path_buf());
        }
    }
    let mut cited = 0;
    let mut missing = Vec::new();
    for path in &paths {
        let text = fs::read_to_string(path).expect("readable");
        for (n, line) in text.lines().enumerate() {
            for (doc, label) in citations(line) {
                cited += 1;
                let labels = &known.iter().find(|(d, _)| *d == doc).expect("known").1;
                if !labels.contains(&label) {
                    missing.push(format!("{}:{}: §{label} is not a heading of {}", path.display(), n + 1, doc.file()));
                }
            }
        }
    }
    assert!(cited > 300, "only {cited} citations found: the scan is broken");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn a_citation_names_its_document() {
    assert_eq!(
        citations("wait (celery-semantics §5.3; source notes §4, §6); rhesis-model §c"),
        vec![
            (Doc::Semantics, "5.3".to_string()),
            (Doc::SourceNotes, "4".to_string()),
            (Doc::SourceNotes, "6".to_string()),
            (Doc::Rhesis, "c".to_string()),
        ]
    );
    assert_eq!(
        citations("/// §9. A lost child, §b."),
        vec![(Doc::Semantics, "9".to_string()), (Doc::Rhesis, "b".to_string())]
    );
}
