//! Diagnostics for topology files: an error message tied to a byte span of a source file,
//! rendered as `file:line:col: error: message` with the offending line and a caret, the way
//! compilers print them. Owns byte-offset to line/column conversion.

use std::ops::Range;

/// One problem found in a topology. `span` is a byte range in the source, when known (a live
/// change has no source file, so its diagnostics carry none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub span: Option<Range<usize>>,
    pub message: String,
}

impl Diagnostic {
    pub fn new(span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        Diagnostic {
            span,
            message: message.into(),
        }
    }
}

/// A topology file's name and text, for turning spans into `line:col`.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

impl SourceFile {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        SourceFile {
            path: path.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// `file:line:col: error: message`, then the source line and a caret under the span.
    pub fn render(&self, d: &Diagnostic) -> String {
        let Some(span) = &d.span else {
            return format!("{}: error: {}", self.path, d.message);
        };
        let (line, col) = self.line_col(span.start);
        let text = self.text.lines().nth(line - 1).unwrap_or("");
        let width = self.text[floor_char_boundary(&self.text, span.start)
            ..floor_char_boundary(&self.text, span.end.max(span.start))]
            .lines()
            .next()
            .map_or(1, |s| s.chars().count().max(1));
        format!(
            "{}:{}:{}: error: {}\n{:>5} | {}\n      | {}{}",
            self.path,
            line,
            col,
            d.message,
            line,
            text,
            " ".repeat(col - 1),
            "^".repeat(width)
        )
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let f = SourceFile::new("t.toml", "a = 1\nbb = 2\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(6), (2, 1));
        assert_eq!(f.line_col(11), (2, 6));
    }

    #[test]
    fn render_points_at_the_span() {
        let f = SourceFile::new("t.toml", "a = 1\nbb = \"x\"\n");
        let out = f.render(&Diagnostic::new(Some(11..14), "bad value"));
        assert!(out.starts_with("t.toml:2:6: error: bad value"), "{out}");
        assert!(out.ends_with("|      ^^^"), "{out}");
    }
}
