//! Values from the query text, with bind parameters replaced by what the client bound.
//!
//! The statement summary is cached per SQL text, so a `$1` in it is only a position; its
//! value arrives with each execution in `Context::params`. [`Resolved`] is the value a
//! plugin actually routes on, whichever way it was written.

use crate::types::{Context, Param, Value};

/// A value a column is compared to or inserted with, `$n` resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// An integer literal.
    Integer(i64),
    /// A string literal (or a number too large for i64), or a text-format parameter.
    Text(String),
    /// A binary-format parameter. Its meaning depends on the parameter's type, which the
    /// plugin knows (from the column it is compared to) and pgDog does not: read it with
    /// [`Resolved::as_text`] for a text column, [`Resolved::as_integer`] for an integer one.
    Binary(Vec<u8>),
    /// NULL, written or bound.
    Null,
    /// An expression, a `$n` with no bound value, or a text parameter that is not UTF-8.
    Unknown,
}

impl Resolved {
    /// The value as text, as PostgreSQL would print it: integers in decimal, a binary
    /// parameter as the UTF-8 string it holds (the binary form of text and varchar).
    /// `None` for NULL, unknown values and binary values that are not UTF-8.
    pub fn as_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Self::Integer(value) => Some(value.to_string().into()),
            Self::Text(text) => Some(text.as_str().into()),
            Self::Binary(bytes) => std::str::from_utf8(bytes).ok().map(Into::into),
            Self::Null | Self::Unknown => None,
        }
    }

    /// The value as an integer: integers, text that parses as one (text-format parameters
    /// for integer columns arrive as text), and binary parameters of 2, 4 or 8 bytes (the
    /// big-endian binary form of smallint, integer and bigint).
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Self::Integer(value) => Some(*value),
            Self::Text(text) => text.trim().parse().ok(),
            Self::Binary(bytes) => binary_integer(bytes),
            Self::Null | Self::Unknown => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }
}

/// A binary-format integer parameter: big-endian smallint, integer or bigint by its
/// length (2, 4 or 8 bytes).
pub(crate) fn binary_integer(bytes: &[u8]) -> Option<i64> {
    match *bytes {
        [a, b] => Some(i16::from_be_bytes([a, b]).into()),
        [a, b, c, d] => Some(i32::from_be_bytes([a, b, c, d]).into()),
        _ => <[u8; 8]>::try_from(bytes).ok().map(i64::from_be_bytes),
    }
}

impl Value {
    /// The value, with `$n` looked up in the context's bound parameters.
    pub fn resolve(&self, context: &Context<'_>) -> Resolved {
        match self {
            Value::Integer(value) => Resolved::Integer(*value),
            Value::Text(text) => Resolved::Text(text.clone()),
            Value::Null => Resolved::Null,
            Value::Expression => Resolved::Unknown,
            Value::Param(position) => context
                .param(*position)
                .map_or(Resolved::Unknown, Param::resolve),
        }
    }
}

impl Param {
    /// Decodes the bound value: text format as UTF-8, binary format kept as bytes (see
    /// [`Resolved::Binary`]).
    pub fn resolve(&self) -> Resolved {
        let Some(bytes) = &self.value else {
            return Resolved::Null;
        };
        if self.binary {
            return Resolved::Binary(bytes.clone());
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Resolved::Text(text.to_string()),
            Err(_) => Resolved::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{binary_param, context, null_param, text_param};
    use crate::types::ContextFields;

    fn with_params(params: Vec<Param>) -> Context<'static> {
        ContextFields {
            params,
            ..context(1)
        }
        .into()
    }

    #[test]
    fn literals_resolve_to_themselves() {
        let ctx = Context::from(context(1));
        assert_eq!(Value::Integer(-7).resolve(&ctx), Resolved::Integer(-7));
        assert_eq!(
            Value::Text("acme".into()).resolve(&ctx),
            Resolved::Text("acme".into())
        );
        assert_eq!(Value::Null.resolve(&ctx), Resolved::Null);
        assert_eq!(Value::Expression.resolve(&ctx), Resolved::Unknown);
    }

    #[test]
    fn text_params_are_utf8() {
        let ctx = with_params(vec![text_param("acme"), text_param("42")]);
        assert_eq!(Value::Param(1).resolve(&ctx), Resolved::Text("acme".into()));
        assert_eq!(Value::Param(2).resolve(&ctx).as_integer(), Some(42));
        let invalid = Param {
            value: Some(vec![0xff, 0xfe]),
            binary: false,
        };
        assert_eq!(invalid.resolve(), Resolved::Unknown);
    }

    #[test]
    fn binary_params_read_as_the_column_type() {
        let ctx = with_params(vec![
            binary_param(&(-2i16).to_be_bytes()),
            binary_param(&70_000i32.to_be_bytes()),
            binary_param(&(-5_000_000_000i64).to_be_bytes()),
            binary_param(b"acme"),
            binary_param(&[1, 2, 3]),
        ]);
        let at = |n| Value::Param(n).resolve(&ctx);
        assert_eq!(at(1).as_integer(), Some(-2));
        assert_eq!(at(2).as_integer(), Some(70_000));
        assert_eq!(at(3).as_integer(), Some(-5_000_000_000));
        // Four bytes of text are text to a text column, whatever their length says.
        assert_eq!(at(4).as_text().as_deref(), Some("acme"));
        assert_eq!(at(5), Resolved::Binary(vec![1, 2, 3]));
        assert_eq!(at(5).as_integer(), None);
    }

    #[test]
    fn missing_and_null_params() {
        let ctx = with_params(vec![null_param()]);
        assert_eq!(Value::Param(1).resolve(&ctx), Resolved::Null);
        assert_eq!(Value::Param(2).resolve(&ctx), Resolved::Unknown);
        // `$0` does not exist; it must not wrap around to the last parameter.
        assert_eq!(Value::Param(0).resolve(&ctx), Resolved::Unknown);
    }

    #[test]
    fn text_forms() {
        assert_eq!(Resolved::Integer(5).as_text().as_deref(), Some("5"));
        assert_eq!(Resolved::Text("x".into()).as_text().as_deref(), Some("x"));
        assert_eq!(Resolved::Null.as_text(), None);
        assert_eq!(Resolved::Text("x".into()).as_integer(), None);
    }
}
