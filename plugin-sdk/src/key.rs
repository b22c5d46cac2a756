//! Routing keys: the values a statement pins a column to, read as the column's type.
//!
//! [`Statement::key_values`] is the question a router by key asks. Inside pgDog it is one
//! host call (`statement.key-values`): pgDog finds the predicate or the INSERT column,
//! takes each `$n` from the bound parameters and parses the value, so the plugin receives
//! ready [`ShardKey`]s. A statement built from fields (native tests) answers the same
//! question here, by the same rules, from its predicates, rows and the test's context.

use crate::types::{
    Context, KeySource, KeyType, KeyValue, KeyValues, Param, PlacedKey, PlacedKeyValues,
    PlacedKeys, ShardKey, Value,
};
use crate::value::binary_integer;
use crate::Statement;

impl Statement<'_> {
    /// The values `column` is pinned to in this execution, read as `key_type`: those of
    /// the first WHERE predicate on it ([`KeySource::Where`]) or its value in each INSERT
    /// row ([`KeySource::Insert`]). `None` when that place does not name the column.
    pub fn key_values(
        &self,
        column: &str,
        source: KeySource,
        key_type: KeyType,
        context: &Context<'_>,
    ) -> Option<KeyValues> {
        if let Some(fetched) = self.fetch_key_values(column, source, key_type) {
            return fetched;
        }
        match source {
            KeySource::Where => {
                let values = &self.predicate(column)?.values;
                Some(collect(values.iter().map(Some), key_type, context))
            }
            KeySource::Insert => {
                let insert = self.insert()?;
                let index = insert.columns.iter().position(|c| c == column)?;
                let values = insert.rows.iter().map(|row| row.get(index));
                Some(collect(values, key_type, context))
            }
        }
    }
}

impl Statement<'_> {
    /// [`Statement::key_values`] with the shard each value belongs in and the shard
    /// count those shards are of. Inside pgDog this is one host call
    /// (`statement.placed-keys`), where `key_values`, [`Context::shards`] and
    /// [`crate::host::shard_for`] for each value would be several; prefer it whenever
    /// the plugin hashes keys. `hash` is only for a statement built from fields (native
    /// tests, with no pgDog to hash): it stands in for `shard_for` there.
    pub fn placed_keys(
        &self,
        column: &str,
        source: KeySource,
        key_type: KeyType,
        context: &Context<'_>,
        hash: impl Fn(&ShardKey, u32) -> Result<u32, String>,
    ) -> Option<PlacedKeys> {
        if let Some(fetched) = self.fetch_placed_keys(column, source, key_type) {
            return fetched;
        }
        let shard_count = context.shards();
        let place = |value: KeyValue| {
            let shard = value.key().and_then(|key| hash(key, shard_count).ok());
            PlacedKey { value, shard }
        };
        let keys = match self.key_values(column, source, key_type, context)? {
            KeyValues::One(value) => PlacedKeyValues::One(place(value)),
            KeyValues::Many(values) => {
                PlacedKeyValues::Many(values.into_iter().map(place).collect())
            }
        };
        Some(PlacedKeys { shard_count, keys })
    }
}

impl PlacedKeyValues {
    /// The placed values, whichever case holds them.
    pub fn as_slice(&self) -> &[PlacedKey] {
        match self {
            PlacedKeyValues::One(key) => std::slice::from_ref(key),
            PlacedKeyValues::Many(keys) => keys,
        }
    }
}

impl KeyValues {
    /// The values, whichever case holds them.
    pub fn as_slice(&self) -> &[KeyValue] {
        match self {
            KeyValues::One(value) => std::slice::from_ref(value),
            KeyValues::Many(values) => values,
        }
    }
}

impl KeyValue {
    /// The key, unless the value is NULL or unknown.
    pub fn key(&self) -> Option<&ShardKey> {
        match self {
            KeyValue::Key(key) => Some(key),
            KeyValue::Null | KeyValue::Unknown => None,
        }
    }
}

fn collect<'v>(
    values: impl ExactSizeIterator<Item = Option<&'v Value>>,
    key_type: KeyType,
    context: &Context<'_>,
) -> KeyValues {
    let mut keys =
        values.map(|value| value.map_or(KeyValue::Unknown, |v| read(v, key_type, context)));
    match keys.len() {
        1 => KeyValues::One(keys.next().unwrap_or(KeyValue::Unknown)),
        _ => KeyValues::Many(keys.collect()),
    }
}

/// One value read as `key_type`, by the rules of `key-type` in `wit/router.wit`.
fn read(value: &Value, key_type: KeyType, context: &Context<'_>) -> KeyValue {
    let key = match value {
        Value::Null => return KeyValue::Null,
        Value::Expression => return KeyValue::Unknown,
        Value::Integer(i) => match key_type {
            KeyType::Integer => Some(ShardKey::Integer(*i)),
            _ => parse(&i.to_string(), key_type),
        },
        Value::Text(text) => parse(text, key_type),
        Value::Param(position) => match context.param(*position) {
            None => return KeyValue::Unknown,
            Some(Param { value: None, .. }) => return KeyValue::Null,
            Some(Param {
                value: Some(bytes),
                binary: true,
            }) => from_binary(bytes, key_type),
            Some(Param {
                value: Some(bytes),
                binary: false,
            }) => std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| parse(text, key_type)),
        },
    };
    key.map_or(KeyValue::Unknown, KeyValue::Key)
}

/// The spaces PostgreSQL's integer input skips around the number (C's `isspace`).
const C_SPACE: &[char] = &[' ', '\t', '\n', '\r', '\u{0B}', '\u{0C}'];

fn parse(text: &str, key_type: KeyType) -> Option<ShardKey> {
    match key_type {
        KeyType::Integer => {
            let digits = text.trim_matches(C_SPACE);
            let unsigned = digits.strip_prefix(['+', '-']).unwrap_or(digits);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok().map(ShardKey::Integer)
        }
        KeyType::Text => Some(ShardKey::Text(text.to_string())),
        KeyType::Uuid => parse_uuid(text).map(|bytes| ShardKey::Uuid(format_uuid(&bytes))),
    }
}

fn from_binary(bytes: &[u8], key_type: KeyType) -> Option<ShardKey> {
    match key_type {
        KeyType::Integer => binary_integer(bytes).map(ShardKey::Integer),
        KeyType::Text => std::str::from_utf8(bytes)
            .ok()
            .map(|text| ShardKey::Text(text.to_string())),
        KeyType::Uuid => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|bytes| ShardKey::Uuid(format_uuid(&bytes))),
    }
}

/// PostgreSQL's uuid input: an optional `{` … `}`, 32 hex digits in either case, an
/// optional `-` after any group of four digits except the last.
fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let inner = match text.strip_prefix('{') {
        Some(rest) => rest.strip_suffix('}')?,
        None => text,
    };
    let mut out = [0u8; 16];
    let mut digits = 0;
    let mut src = inner.as_bytes();
    while digits < 32 {
        let (&hi, &lo) = (src.first()?, src.get(1)?);
        let byte = (hex(hi)? << 4) | hex(lo)?;
        out[digits / 2] = byte;
        digits += 2;
        src = &src[2..];
        if digits % 4 == 0 && digits < 32 {
            if let Some(rest) = src.strip_prefix(b"-") {
                src = rest;
            }
        }
    }
    src.is_empty().then_some(out)
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn format_uuid(bytes: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{binary_param, context, null_param, predicate, statement, text_param};
    use crate::types::{Command, ContextFields, Insert};

    fn ctx(params: Vec<Param>) -> Context<'static> {
        ContextFields {
            params,
            ..context(2)
        }
        .into()
    }

    fn where_in(values: Vec<Value>) -> Statement<'static> {
        let mut stmt = statement(Command::Select, "SELECT * FROM t WHERE k IN (…)");
        stmt.predicates = vec![predicate("k", values)];
        stmt.into()
    }

    fn integer(i: i64) -> KeyValue {
        KeyValue::Key(ShardKey::Integer(i))
    }

    #[test]
    fn placed_keys_from_fields_hash_each_key_with_the_given_hash() {
        // `ctx` has 2 shards; the stand-in hash puts a key at its value (or length).
        let hash = |key: &ShardKey, shards: u32| match key {
            ShardKey::Integer(i) if *i < 0 => Err("negative".to_string()),
            ShardKey::Integer(i) => Ok(*i as u32 % shards),
            ShardKey::Text(t) | ShardKey::Uuid(t) => Ok(t.len() as u32 % shards),
        };
        let stmt = where_in(vec![
            Value::Integer(3),
            Value::Null,
            Value::Expression,
            Value::Integer(-1),
        ]);
        let placed = stmt
            .placed_keys("k", KeySource::Where, KeyType::Integer, &ctx(vec![]), hash)
            .unwrap();
        assert_eq!(placed.shard_count, 2);
        let place = |value, shard| PlacedKey { value, shard };
        assert_eq!(
            placed.keys.as_slice(),
            &[
                place(integer(3), Some(1)),
                place(KeyValue::Null, None),
                place(KeyValue::Unknown, None),
                // A hash that fails places nothing; the plugin asks again to see why.
                place(integer(-1), None),
            ]
        );
        // One value comes without a list, as from pgDog.
        let one = where_in(vec![Value::Text("abc".into())])
            .placed_keys("k", KeySource::Where, KeyType::Text, &ctx(vec![]), hash)
            .unwrap();
        assert_eq!(
            one.keys,
            PlacedKeyValues::One(place(KeyValue::Key(ShardKey::Text("abc".into())), Some(1)))
        );
        assert!(stmt
            .placed_keys(
                "other",
                KeySource::Where,
                KeyType::Integer,
                &ctx(vec![]),
                hash
            )
            .is_none());
    }

    #[test]
    fn integers_from_literals_text_and_binary_parameters() {
        let stmt = where_in(vec![
            Value::Integer(7),
            Value::Text(" -12 ".into()),
            Value::Param(1),
            Value::Param(2),
            Value::Param(3),
            Value::Param(4),
            Value::Null,
            Value::Text("1.5".into()),
            Value::Expression,
            Value::Param(9),
        ]);
        let ctx = ctx(vec![
            text_param("+42"),
            binary_param(&300i16.to_be_bytes()),
            binary_param(&(-5i64).to_be_bytes()),
            null_param(),
        ]);
        let keys = stmt
            .key_values("k", KeySource::Where, KeyType::Integer, &ctx)
            .unwrap();
        assert_eq!(
            keys.as_slice(),
            &[
                integer(7),
                integer(-12),
                integer(42),
                integer(300),
                integer(-5),
                KeyValue::Null,
                KeyValue::Null,
                KeyValue::Unknown,
                KeyValue::Unknown,
                KeyValue::Unknown,
            ]
        );
        assert!(stmt
            .key_values("other", KeySource::Where, KeyType::Integer, &ctx)
            .is_none());
    }

    #[test]
    fn one_value_comes_without_a_list() {
        let stmt = where_in(vec![Value::Integer(5)]);
        let keys = stmt.key_values("k", KeySource::Where, KeyType::Text, &ctx(vec![]));
        assert_eq!(
            keys,
            Some(KeyValues::One(KeyValue::Key(ShardKey::Text("5".into()))))
        );
        assert_eq!(
            keys.unwrap().as_slice()[0].key(),
            Some(&ShardKey::Text("5".into()))
        );
    }

    #[test]
    fn uuids_are_canonical() {
        let stmt = where_in(vec![
            Value::Text("{A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11}".into()),
            Value::Param(1),
            Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1".into()),
        ]);
        let bytes: Vec<u8> = (0u8..16).collect();
        let keys = stmt
            .key_values(
                "k",
                KeySource::Where,
                KeyType::Uuid,
                &ctx(vec![binary_param(&bytes)]),
            )
            .unwrap();
        assert_eq!(
            keys.as_slice(),
            &[
                KeyValue::Key(ShardKey::Uuid(
                    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()
                )),
                KeyValue::Key(ShardKey::Uuid(
                    "00010203-0405-0607-0809-0a0b0c0d0e0f".into()
                )),
                KeyValue::Unknown,
            ]
        );
    }

    #[test]
    fn insert_rows_in_order() {
        let mut stmt = statement(Command::Insert, "INSERT INTO t (id, k) VALUES …");
        stmt.insert = Some(Insert {
            columns: vec!["id".into(), "k".into()],
            rows: vec![
                vec![Value::Integer(1), Value::Param(1)],
                vec![Value::Integer(2), Value::Text("b".into())],
                vec![Value::Integer(3)],
            ],
        });
        let stmt = Statement::from(stmt);
        let keys = stmt
            .key_values(
                "k",
                KeySource::Insert,
                KeyType::Text,
                &ctx(vec![text_param("a")]),
            )
            .unwrap();
        let text = |s: &str| KeyValue::Key(ShardKey::Text(s.into()));
        assert_eq!(keys.as_slice(), &[text("a"), text("b"), KeyValue::Unknown]);
        assert!(stmt
            .key_values("k", KeySource::Where, KeyType::Text, &ctx(vec![]))
            .is_none());
        assert!(stmt
            .key_values("zz", KeySource::Insert, KeyType::Text, &ctx(vec![]))
            .is_none());
    }
}
