//! Values from the query text, with bind parameters replaced by what the client bound.
//!
//! The statement summary is cached per SQL text, so a `$1` in it is only a position; its
//! value arrives with each execution in `Context::params`. [`Resolved`] is the value a
//! plugin actually routes on, whichever way it was written.

use crate::types::{Context, Param, Value};

/// A value a column is compared to or inserted with, `$n` resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// An integer literal, or a binary-format parameter of 2, 4 or 8 bytes (int2, int4,
    /// int8, big-endian).
    Integer(i64),
    /// A string literal (or a number too large for i64), or a text-format parameter.
    Text(String),
    /// A binary-format parameter of another length (a uuid is 16 bytes); its meaning
    /// depends on the parameter's type, which the plugin knows and pgDog does not.
    Binary(Vec<u8>),
    /// NULL, written or bound.
    Null,
    /// An expression, a `$n` with no bound value, or a text parameter that is not UTF-8.
    Unknown,
}

impl Resolved {
    /// The value as text, as PostgreSQL would print it: integers in decimal. `None` for
    /// NULL, binary and unknown values.
    pub fn as_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Self::Integer(value) => Some(value.to_string().into()),
            Self::Text(text) => Some(text.as_str().into()),
            Self::Binary(_) | Self::Null | Self::Unknown => None,
        }
    }

    /// The value as an integer: integers, and text that parses as one (text-format
    /// parameters for integer columns arrive as text).
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Self::Integer(value) => Some(*value),
            Self::Text(text) => text.trim().parse().ok(),
            Self::Binary(_) | Self::Null | Self::Unknown => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }
}

impl Value {
    /// The value, with `$n` looked up in the context's bound parameters.
    pub fn resolve(&self, context: &Context) -> Resolved {
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
    /// Decodes the bound value. Text format is UTF-8. Binary format carries no type here,
    /// so only its length decides: 2, 4 and 8 bytes are read as big-endian integers
    /// (which also catches a 4-byte float or a 4-byte text sent in binary; send text
    /// parameters in text format, as drivers do by default).
    pub fn resolve(&self) -> Resolved {
        let Some(bytes) = &self.value else {
            return Resolved::Null;
        };
        if !self.binary {
            return match std::str::from_utf8(bytes) {
                Ok(text) => Resolved::Text(text.to_string()),
                Err(_) => Resolved::Unknown,
            };
        }
        match bytes.as_slice() {
            &[a, b] => Resolved::Integer(i16::from_be_bytes([a, b]).into()),
            &[a, b, c, d] => Resolved::Integer(i32::from_be_bytes([a, b, c, d]).into()),
            bytes => match <[u8; 8]>::try_from(bytes) {
                Ok(eight) => Resolved::Integer(i64::from_be_bytes(eight)),
                Err(_) => Resolved::Binary(bytes.to_vec()),
            },
        }
    }
}

impl Context {
    /// The parameter bound to `$position` (1-based), if the client bound that many.
    pub fn param(&self, position: u16) -> Option<&Param> {
        let index = usize::from(position).checked_sub(1)?;
        self.params.get(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{binary_param, context, null_param, text_param};

    fn with_params(params: Vec<Param>) -> Context {
        Context {
            params,
            ..context(1)
        }
    }

    #[test]
    fn literals_resolve_to_themselves() {
        let ctx = context(1);
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
    fn binary_integers_by_length() {
        let ctx = with_params(vec![
            binary_param(&(-2i16).to_be_bytes()),
            binary_param(&70_000i32.to_be_bytes()),
            binary_param(&(-5_000_000_000i64).to_be_bytes()),
            binary_param(&[1, 2, 3]),
        ]);
        assert_eq!(Value::Param(1).resolve(&ctx), Resolved::Integer(-2));
        assert_eq!(Value::Param(2).resolve(&ctx), Resolved::Integer(70_000));
        assert_eq!(
            Value::Param(3).resolve(&ctx),
            Resolved::Integer(-5_000_000_000)
        );
        assert_eq!(
            Value::Param(4).resolve(&ctx),
            Resolved::Binary(vec![1, 2, 3])
        );
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
