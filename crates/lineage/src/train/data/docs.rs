//! Text corpora as documents: the unit the tokenizer trains on, the unit that gets a
//! leading `<|endoftext|>` in the token files, and the unit the train/validation split
//! never cuts.
//!
//! Two ways to cut a file: at blank lines (a line that is empty or only whitespace; the
//! default, because `scripts/fetch-corpus.sh` joins its sources with one blank line), or
//! one document per file. A document is a slice of the file's text as written, so byte
//! counts are exact UTF-8 bytes of what is encoded (for bits per byte); the blank lines
//! between documents are not part of any document (the separator token stands for them).

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// How input files are cut into documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocSplit {
    /// Maximal runs of non-blank lines; blank lines separate documents.
    BlankLines,
    /// Each file is one document (leading and trailing blank lines dropped).
    Files,
}

impl DocSplit {
    pub fn describe(self) -> &'static str {
        match self {
            Self::BlankLines => "documents are runs of non-blank lines (blank lines separate them)",
            Self::Files => "each input file is one document",
        }
    }
}

/// The text of every input file, read once and kept in memory.
pub struct Corpus {
    files: Vec<(PathBuf, String)>,
}

impl Corpus {
    /// Reads `paths` as UTF-8. An unreadable or non-UTF-8 file is an error naming it.
    pub fn read(paths: &[PathBuf]) -> Result<Self> {
        if paths.is_empty() {
            return Err(Error::BadInput(
                "no input files: pass at least one --input FILE".into(),
            ));
        }
        let mut files = Vec::with_capacity(paths.len());
        for p in paths {
            let bytes = std::fs::read(p).map_err(|source| Error::Io {
                path: p.clone(),
                source,
            })?;
            let text = String::from_utf8(bytes).map_err(|e| {
                Error::bad_file(
                    p,
                    format!(
                        "not UTF-8 text (invalid byte at offset {}); convert it, e.g. with iconv",
                        e.utf8_error().valid_up_to()
                    ),
                )
            })?;
            files.push((p.clone(), text));
        }
        Ok(Self { files })
    }

    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(p, _)| p.as_path())
    }

    /// Every document of every file, in input order.
    pub fn documents(&self, split: DocSplit) -> Vec<&str> {
        let mut docs = Vec::new();
        for (_, text) in &self.files {
            match split {
                DocSplit::BlankLines => docs.extend(blank_line_documents(text)),
                DocSplit::Files => docs.extend(file_document(text)),
            }
        }
        docs
    }
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// The runs of non-blank lines of `text`, each a slice from its first line's start to
/// its last line's end (the final `\n` excluded).
pub fn blank_line_documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let content = line.strip_suffix('\n').unwrap_or(line);
        if is_blank(content) {
            if let Some(s) = start.take() {
                docs.push(&text[s..end]);
            }
        } else {
            start.get_or_insert(pos);
            end = pos + content.len();
        }
        pos += line.len();
    }
    if let Some(s) = start {
        docs.push(&text[s..end]);
    }
    docs
}

/// The whole file as one document without its leading and trailing blank lines; none
/// when it is all blank.
fn file_document(text: &str) -> Option<&str> {
    let docs = blank_line_documents(text);
    let (first, last) = (docs.first()?, docs.last()?);
    let start = first.as_ptr() as usize - text.as_ptr() as usize;
    let end = last.as_ptr() as usize - text.as_ptr() as usize + last.len();
    Some(&text[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_line_documents_mixed_blank_lines_cut_at_each_run() {
        let text = "\n\na b\nc\n\n  \t\nd\r\n\ne\n";
        assert_eq!(blank_line_documents(text), vec!["a b\nc", "d\r", "e"]);
    }

    #[test]
    fn blank_line_documents_no_final_newline_keeps_last_line() {
        assert_eq!(blank_line_documents("x\n\ny"), vec!["x", "y"]);
        assert!(blank_line_documents(" \n\n").is_empty());
    }

    #[test]
    fn file_document_surrounding_blank_lines_trimmed_inner_kept() {
        assert_eq!(file_document("\n a\n\nb\n\n"), Some(" a\n\nb"));
        assert_eq!(file_document("\n\n"), None);
    }
}
