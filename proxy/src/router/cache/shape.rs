//! The shape of a query: its text with the constants taken out.
//!
//! `SELECT * FROM t WHERE id = 42` and `… WHERE id = 43` have one shape,
//! `SELECT * FROM t WHERE id = $1`, and the summaries of the two differ only in the value
//! where `$1` stands. The parse cache keeps one summary per shape (see `template.rs`), so a
//! simple-protocol workload that inlines its values is parsed once per shape instead of
//! once per query.
//!
//! This is a lexer, not a parser: it knows where PostgreSQL's tokens start and end, and
//! gives up (`None`) on the ones whose text it does not decode itself (`E'…'`, `U&'…'`,
//! bit strings, dollar quoting, `0x1F`, `1_000`). Whatever it gets wrong about meaning is
//! caught when the shape's summary is first checked against a real parse.

use std::borrow::Cow;
use std::fmt::Write;

/// A query's shape and the constants taken out of it, in order.
#[derive(Debug, PartialEq, Eq)]
pub struct Shape<'a> {
    /// The text with each constant replaced by `$n`, n counting on from `base`.
    pub text: String,
    pub literals: Vec<Literal<'a>>,
    /// The highest `$n` the query itself uses: constant k (0-based) is `$(base + k + 1)`.
    pub base: u16,
}

/// A constant as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal<'a> {
    /// A numeric constant's text (`42`, `1.5`, `2e3`).
    Number(&'a str),
    /// A standard string constant's value, quotes removed and `''` undoubled.
    String(Cow<'a, str>),
}

/// The shape of `sql`, or `None` when it holds a token this lexer does not take apart (or
/// no constant at all: then the text is its own shape).
pub fn shape(sql: &str) -> Option<Shape<'_>> {
    let first = lex(sql, 0)?;
    if first.literals.is_empty() {
        return None;
    }
    if first.base == 0 {
        return Some(first);
    }
    // The query uses parameters of its own: number the constants after them.
    lex(sql, first.base)
}

fn lex(sql: &str, base: u16) -> Option<Shape<'_>> {
    let bytes = sql.as_bytes();
    let mut out = Shape {
        text: String::with_capacity(sql.len() + 8),
        literals: Vec::new(),
        base: 0,
    };
    // Where the text not yet copied to `out.text` starts.
    let mut copied = 0;
    let mut depth = 0usize;
    // Inside ORDER BY / GROUP BY (from this parenthesis depth on), integers are positions
    // (`ORDER BY 2`): they stay in the shape.
    let mut positions_from: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let after_word = i > 0 && is_ident(bytes[i - 1]);
        match b {
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(bytes.len(), |n| i + n);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = block_comment_end(bytes, i)?,
            b'"' => i = quoted_end(bytes, i, b'"')?,
            b'\'' => {
                // A prefix makes it another kind of string: E'', B'', X'', N'', U&''.
                if after_word || (i > 0 && bytes[i - 1] == b'&') {
                    return None;
                }
                let end = quoted_end(bytes, i, b'\'')?;
                let inner = &sql[i + 1..end - 1];
                let value = if inner.contains('\'') {
                    Cow::Owned(inner.replace("''", "'"))
                } else {
                    Cow::Borrowed(inner)
                };
                push_literal(
                    &mut out,
                    sql,
                    &mut copied,
                    i,
                    end,
                    base,
                    Literal::String(value),
                );
                i = end;
            }
            b'$' if !after_word => {
                let digits = count(&bytes[i + 1..], |c| c.is_ascii_digit());
                if digits == 0 {
                    // Dollar quoting.
                    return None;
                }
                let n: u16 = sql[i + 1..i + 1 + digits].parse().ok()?;
                out.base = out.base.max(n);
                i += 1 + digits;
            }
            b'0'..=b'9' | b'.' if !after_word && starts_number(bytes, i) => {
                let end = number_end(bytes, i)?;
                if positions_from.is_some() {
                    i = end;
                    continue;
                }
                let literal = Literal::Number(&sql[i..end]);
                push_literal(&mut out, sql, &mut copied, i, end, base, literal);
                i = end;
            }
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth.saturating_sub(1);
                if positions_from.is_some_and(|from| depth < from) {
                    positions_from = None;
                }
                i += 1;
            }
            b';' => {
                positions_from = None;
                i += 1;
            }
            _ if is_ident(b) && !after_word => {
                let end = i + count(&bytes[i..], is_ident);
                if bytes[i..end].eq_ignore_ascii_case(b"by") && positions_from.is_none() {
                    positions_from = Some(depth);
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    out.text.push_str(&sql[copied..]);
    if base > 0 {
        out.base = base;
    }
    Some(out)
}

/// Copies the text up to the constant at `start..end`, then its placeholder.
fn push_literal<'a>(
    out: &mut Shape<'a>,
    sql: &'a str,
    copied: &mut usize,
    start: usize,
    end: usize,
    base: u16,
    literal: Literal<'a>,
) {
    out.text.push_str(&sql[*copied..start]);
    out.literals.push(literal);
    let n = usize::from(base) + out.literals.len();
    // Written in place: this runs for every constant of every simple query.
    let _ = write!(out.text, "${n}");
    *copied = end;
}

/// Letters, digits, `_`, `$` and any non-ASCII byte continue an identifier or keyword.
fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn count(bytes: &[u8], pred: impl Fn(u8) -> bool) -> usize {
    bytes.iter().take_while(|&&c| pred(c)).count()
}

fn starts_number(bytes: &[u8], i: usize) -> bool {
    bytes[i].is_ascii_digit() || bytes.get(i + 1).is_some_and(|c| c.is_ascii_digit())
}

/// The end of the numeric constant at `i`: digits, a fraction, an exponent. `None` when
/// something else sticks to it (`0x1F`, `1_000`, `1.2.3`, `1e`), which this lexer leaves
/// to the parser.
fn number_end(bytes: &[u8], mut i: usize) -> Option<usize> {
    i += count(&bytes[i..], |c| c.is_ascii_digit());
    if bytes.get(i) == Some(&b'.') {
        // `1..2` is not a number followed by a dot; leave such text alone.
        if bytes.get(i + 1) == Some(&b'.') {
            return None;
        }
        i += 1;
        i += count(&bytes[i..], |c| c.is_ascii_digit());
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let digits = count(&bytes[i..], |c| c.is_ascii_digit());
        if digits == 0 {
            return None;
        }
        i += digits;
    }
    match bytes.get(i) {
        Some(&c) if is_ident(c) || c == b'.' => None,
        _ => Some(i),
    }
}

/// The index after the closing quote of the quoted token at `i` (a doubled quote stays
/// inside), or `None` when it is not closed.
fn quoted_end(bytes: &[u8], i: usize, quote: u8) -> Option<usize> {
    let mut j = i + 1;
    loop {
        let at = j + bytes.get(j..)?.iter().position(|&c| c == quote)?;
        if bytes.get(at + 1) == Some(&quote) {
            j = at + 2;
        } else {
            return Some(at + 1);
        }
    }
}

/// The index after a `/* … */` comment at `i`; they nest in PostgreSQL.
fn block_comment_end(bytes: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j + 1 < bytes.len() {
        match (bytes[j], bytes[j + 1]) {
            (b'/', b'*') => {
                depth += 1;
                j += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                j += 2;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => j += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(sql: &str) -> Option<String> {
        shape(sql).map(|s| s.text)
    }

    #[test]
    fn constants_become_parameters() {
        let s = shape("SELECT a FROM t WHERE id = 42 AND name = 'it''s' LIMIT 10").unwrap();
        assert_eq!(
            s.text,
            "SELECT a FROM t WHERE id = $1 AND name = $2 LIMIT $3"
        );
        assert_eq!(
            s.literals,
            vec![
                Literal::Number("42"),
                Literal::String("it's".into()),
                Literal::Number("10")
            ]
        );
        assert_eq!(s.base, 0);
    }

    #[test]
    fn constants_are_numbered_after_the_querys_own_parameters() {
        let s = shape("SELECT 1 FROM t WHERE a = $2 AND b = 7").unwrap();
        assert_eq!(s.text, "SELECT $3 FROM t WHERE a = $2 AND b = $4");
        assert_eq!(s.base, 2);
    }

    #[test]
    fn identifiers_comments_and_quoted_names_keep_their_digits() {
        assert_eq!(
            text("/* shard 3 */ SELECT t1.c2, \"x 5\" FROM s9.t1 -- 7\n WHERE c = 1.5e3"),
            Some("/* shard 3 */ SELECT t1.c2, \"x 5\" FROM s9.t1 -- 7\n WHERE c = $1".into())
        );
        assert_eq!(
            text("SELECT /* a /* nested 1 */ 2 */ 3"),
            Some("SELECT /* a /* nested 1 */ 2 */ $1".into())
        );
        assert_eq!(
            text("SELECT .5, 5., 1e-3"),
            Some("SELECT $1, $2, $3".into())
        );
    }

    #[test]
    fn positions_in_order_by_and_group_by_stay() {
        assert_eq!(
            text("SELECT a, count(*) FROM t WHERE b = 3 GROUP BY 1 ORDER BY 2 DESC LIMIT 5"),
            Some(
                "SELECT a, count(*) FROM t WHERE b = $1 GROUP BY 1 ORDER BY 2 DESC LIMIT 5".into()
            )
        );
        // Only until the parenthesis the clause is in closes.
        assert_eq!(
            text("SELECT * FROM (SELECT a FROM t ORDER BY 1) s WHERE a = 4"),
            Some("SELECT * FROM (SELECT a FROM t ORDER BY 1) s WHERE a = $1".into())
        );
        assert_eq!(
            text("SELECT a FROM t ORDER BY 1; SELECT 2"),
            Some("SELECT a FROM t ORDER BY 1; SELECT $1".into())
        );
    }

    #[test]
    fn tokens_it_does_not_decode_give_up() {
        for sql in [
            "SELECT E'\\n'",
            "SELECT e'x'",
            "SELECT B'101'",
            "SELECT X'ff'",
            "SELECT U&'d\\0061t'",
            "SELECT $$x$$",
            "SELECT $q$x$q$",
            "SELECT 0x1F",
            "SELECT 1_000",
            "SELECT 'unterminated",
            "SELECT \"unterminated",
            "SELECT /* unterminated",
            "SELECT 1e",
        ] {
            assert_eq!(shape(sql), None, "{sql}");
        }
    }

    #[test]
    fn a_query_without_constants_has_no_separate_shape() {
        assert_eq!(shape("SELECT a FROM t WHERE id = $1"), None);
        assert_eq!(shape("BEGIN"), None);
        assert_eq!(shape(""), None);
    }

    #[test]
    fn non_ascii_text_is_copied_whole() {
        let s = shape("SELECT 'héllo', naïve1 FROM t WHERE ü = 2").unwrap();
        assert_eq!(s.text, "SELECT $1, naïve1 FROM t WHERE ü = $2");
        assert_eq!(s.literals[0], Literal::String("héllo".into()));
    }
}
