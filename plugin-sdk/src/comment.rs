//! `key: value` pairs in a statement's leading comment.
//!
//! Applications tag queries they cannot otherwise shape (ORMs, reporting tools) with a
//! comment such as `/* tenant: acme, shard=2 */` or sqlcommenter's `/*app='web'*/`. The
//! parser is forgiving on purpose: pairs are separated by commas, semicolons or
//! whitespace, `:` and `=` both assign, values may be quoted, and words that are not part
//! of a pair are skipped, so free text in the same comment does no harm.

use crate::types::Statement;

impl Statement<'_> {
    /// The pairs of the leading comment, in order. Empty when there is no comment.
    pub fn comment_pairs(&self) -> Vec<(&str, &str)> {
        self.comment().map(pairs).unwrap_or_default()
    }

    /// The value of `key` (ASCII case-insensitive) in the leading comment; the first one
    /// when it appears twice.
    pub fn comment_value(&self, key: &str) -> Option<&str> {
        let comment = self.comment()?;
        pairs(comment)
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }
}

/// Parses `key: value` / `key=value` pairs from comment text, with or without its
/// `/* */` or `--` delimiters.
pub fn pairs(comment: &str) -> Vec<(&str, &str)> {
    let mut rest = strip_delimiters(comment);
    let mut found = Vec::new();
    loop {
        rest = rest.trim_start_matches(is_separator);
        if rest.is_empty() {
            return found;
        }
        let key_len = rest.find(|c: char| !is_key_char(c)).unwrap_or(rest.len());
        if key_len == 0 {
            // Punctuation that starts no key: skip it.
            rest = skip_word(rest);
            continue;
        }
        let key = &rest[..key_len];
        let after_key = rest[key_len..].trim_start_matches([' ', '\t']);
        let Some(after_op) = after_key
            .strip_prefix(':')
            .or_else(|| after_key.strip_prefix('='))
        else {
            // A word without `:` or `=` is free text.
            rest = skip_word(rest);
            continue;
        };
        let after_op = after_op.trim_start_matches([' ', '\t']);
        let (value, remainder) = take_value(after_op);
        if value.is_empty() {
            rest = remainder;
            continue;
        }
        found.push((key, value));
        rest = remainder;
    }
}

fn strip_delimiters(comment: &str) -> &str {
    let text = comment.trim();
    if let Some(inner) = text.strip_prefix("/*") {
        inner.strip_suffix("*/").unwrap_or(inner)
    } else {
        text.strip_prefix("--").unwrap_or(text)
    }
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || c == ',' || c == ';'
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

fn skip_word(text: &str) -> &str {
    let first = text.chars().next().map_or(0, char::len_utf8);
    let end = text[first..]
        .find(is_separator)
        .map_or(text.len(), |i| i + first);
    &text[end..]
}

/// A quoted value runs to its closing quote; a bare one to the next separator.
fn take_value(text: &str) -> (&str, &str) {
    for quote in ['\'', '"'] {
        if let Some(inner) = text.strip_prefix(quote) {
            return match inner.find(quote) {
                Some(end) => (&inner[..end], &inner[end + 1..]),
                None => (inner, ""),
            };
        }
    }
    let end = text.find(is_separator).unwrap_or(text.len());
    (&text[..end], &text[end..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::statement;
    use crate::types::Command;

    #[test]
    fn colon_and_equals() {
        assert_eq!(
            pairs("tenant: acme, shard=2"),
            vec![("tenant", "acme"), ("shard", "2")]
        );
        assert_eq!(pairs("tenant : acme"), vec![("tenant", "acme")]);
    }

    #[test]
    fn delimiters_are_optional() {
        assert_eq!(pairs("/* tenant: acme */"), vec![("tenant", "acme")]);
        assert_eq!(pairs("-- tenant=acme"), vec![("tenant", "acme")]);
    }

    #[test]
    fn sqlcommenter_quotes() {
        assert_eq!(
            pairs("app='web server',route=\"/users\""),
            vec![("app", "web server"), ("route", "/users")]
        );
        assert_eq!(pairs("k='unterminated"), vec![("k", "unterminated")]);
    }

    #[test]
    fn free_text_is_skipped() {
        assert_eq!(
            pairs("nightly report; tenant: globex (see #12) owner = ops"),
            vec![("tenant", "globex"), ("owner", "ops")]
        );
        assert!(pairs("just words").is_empty());
        assert!(pairs("").is_empty());
        assert!(pairs("key: ").is_empty());
    }

    #[test]
    fn non_ascii_text_does_not_split_a_character() {
        assert_eq!(
            pairs("→ ünïcode: wert é=x"),
            vec![("ünïcode", "wert"), ("é", "x")]
        );
    }

    #[test]
    fn statement_lookup_is_case_insensitive() {
        let mut stmt = statement(Command::Select, "/* Tenant: acme */ SELECT 1");
        stmt.comment = Some("Tenant: acme".into());
        let tagged = Statement::from(stmt.clone());
        assert_eq!(tagged.comment_value("tenant"), Some("acme"));
        assert_eq!(tagged.comment_value("shard"), None);
        assert_eq!(tagged.comment_pairs(), vec![("Tenant", "acme")]);
        stmt.comment = None;
        assert_eq!(Statement::from(stmt).comment_value("tenant"), None);
    }
}
