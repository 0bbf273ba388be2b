//! Splitting raw text on special tokens before the model tokenizer sees it.
//!
//! Reference: llama.cpp `llama_vocab::impl::tokenizer_st_partition`: special tokens are
//! tried longest first; each one splits every remaining text fragment at all its
//! occurrences, so `<|im_start|>` is never broken into pieces by BPE.

/// A piece of the input: raw text still to tokenize, or a special token already matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

/// Special tokens as (text, id), longest text first (ties: lowest id first).
#[derive(Debug, Clone, Default)]
pub struct SpecialTokens {
    by_length: Vec<(String, u32)>,
}

impl SpecialTokens {
    pub fn new(mut tokens: Vec<(String, u32)>) -> Self {
        tokens.retain(|(text, _)| !text.is_empty());
        tokens.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        Self { by_length: tokens }
    }

    /// Splits `text` into fragments; empty text yields no fragments.
    pub fn partition<'a>(&self, text: &'a str) -> Vec<Fragment<'a>> {
        let mut fragments = if text.is_empty() {
            vec![]
        } else {
            vec![Fragment::Text(text)]
        };
        for (special, id) in &self.by_length {
            fragments = fragments
                .into_iter()
                .flat_map(|f| match f {
                    Fragment::Text(t) => split_on(t, special, *id),
                    token => vec![token],
                })
                .collect();
        }
        fragments
    }
}

fn split_on<'a>(text: &'a str, special: &str, id: u32) -> Vec<Fragment<'a>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(special) {
        if at > 0 {
            out.push(Fragment::Text(&rest[..at]));
        }
        out.push(Fragment::Token(id));
        rest = &rest[at + special.len()..];
    }
    if !rest.is_empty() {
        out.push(Fragment::Text(rest));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_overlapping_specials_longest_wins() {
        let s = SpecialTokens::new(vec![
            ("<a>".into(), 5),
            ("<a><b>".into(), 7),
            ("<b>".into(), 6),
        ]);
        let got = s.partition("x<a><b>y<b>");
        assert_eq!(
            got,
            vec![
                Fragment::Text("x"),
                Fragment::Token(7),
                Fragment::Text("y"),
                Fragment::Token(6)
            ]
        );
    }

    #[test]
    fn partition_empty_text_no_fragments() {
        let s = SpecialTokens::new(vec![("<a>".into(), 5)]);
        assert!(s.partition("").is_empty());
        assert_eq!(
            s.partition("<a><a>"),
            vec![Fragment::Token(5), Fragment::Token(5)]
        );
    }
}
