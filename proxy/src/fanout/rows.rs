//! RowDescription and DataRow, decoded just far enough to merge rows from several shards.
//!
//! Values stay as slices of the message they arrived in; a merged row is re-encoded only
//! when pgDog changes it (an aggregate combined, hidden columns dropped).

use bytes::{BufMut, Bytes, BytesMut};

use super::value::Format;
use crate::wire::{begin, finish, Message, Reader};

/// One column of a RowDescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub type_oid: u32,
    pub format: Format,
    /// The field's bytes in the RowDescription body, to re-encode a subset of columns.
    raw: Bytes,
}

/// The columns of a result set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    pub fields: Vec<Field>,
}

impl Columns {
    /// Decodes a RowDescription; `None` if it is malformed.
    pub fn parse(msg: &Message) -> Option<Columns> {
        let body = msg.bytes().slice(5..);
        let mut r = Reader::new(&body);
        let count = usize::try_from(r.i16()?).ok()?;
        let mut fields = Vec::with_capacity(count);
        for _ in 0..count {
            let start = body.len() - r.remaining().len();
            let name = r.cstr()?.to_string();
            let _table = r.i32()?;
            let _attnum = r.i16()?;
            let type_oid = r.i32()? as u32;
            let _len = r.i16()?;
            let _typmod = r.i32()?;
            let format = Format::from_code(r.i16()?);
            let end = body.len() - r.remaining().len();
            fields.push(Field {
                name,
                type_oid,
                format,
                raw: body.slice(start..end),
            });
        }
        Some(Columns { fields })
    }

    /// The 0-based position of the output column called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// Shards agree when they describe the same columns with the same types and formats.
    pub fn same_shape(&self, other: &Columns) -> bool {
        self.fields.len() == other.fields.len()
            && self
                .fields
                .iter()
                .zip(&other.fields)
                .all(|(a, b)| a.type_oid == b.type_oid && a.format == b.format)
    }

    /// A RowDescription of the first `keep` columns.
    pub fn encode(&self, out: &mut BytesMut, keep: usize) {
        let keep = keep.min(self.fields.len());
        let at = begin(out, b'T');
        out.put_i16(keep as i16);
        for field in &self.fields[..keep] {
            out.extend_from_slice(&field.raw);
        }
        finish(out, at);
    }
}

/// One DataRow's values; `None` is NULL.
pub type Row = Vec<Option<Bytes>>;

/// Decodes a DataRow into slices of its own bytes; `None` if it is malformed.
pub fn parse_row(msg: &Message) -> Option<Row> {
    let body = msg.bytes().slice(5..);
    let mut r = Reader::new(&body);
    let count = usize::try_from(r.i16()?).ok()?;
    let mut row = Vec::with_capacity(count);
    for _ in 0..count {
        let len = r.i32()?;
        if len < 0 {
            row.push(None);
            continue;
        }
        let start = body.len() - r.remaining().len();
        r.bytes(len as usize)?;
        row.push(Some(body.slice(start..start + len as usize)));
    }
    Some(row)
}

/// Encodes the first `keep` values of `row` as a DataRow.
pub fn encode_row(out: &mut BytesMut, row: &[Option<Bytes>], keep: usize) {
    let keep = keep.min(row.len());
    let at = begin(out, b'D');
    out.put_i16(keep as i16);
    for value in &row[..keep] {
        match value {
            Some(v) => {
                out.put_i32(v.len() as i32);
                out.extend_from_slice(v);
            }
            None => out.put_i32(-1),
        }
    }
    finish(out, at);
}

/// The row count at the end of a CommandComplete tag (`SELECT 5`, `INSERT 0 5`, `COPY 5`).
pub fn tag_count(tag: &str) -> Option<u64> {
    tag.rsplit(' ').next()?.parse().ok()
}

/// The tag with its row count replaced by `count`; tags without one stay as they are.
pub fn with_count(tag: &str, count: u64) -> String {
    match tag.rsplit_once(' ') {
        Some((head, last)) if last.parse::<u64>().is_ok() => format!("{head} {count}"),
        _ => tag.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::backend::{data_row, row_description};
    use crate::wire::split_message;

    fn message(bytes: BytesMut) -> Message {
        let mut bytes = bytes;
        split_message(&mut bytes).unwrap().unwrap()
    }

    #[test]
    fn rows_and_descriptions_round_trip() {
        let mut out = BytesMut::new();
        row_description(&mut out, &["id", "name"]);
        let columns = Columns::parse(&message(out)).unwrap();
        assert_eq!(columns.fields.len(), 2);
        assert_eq!(columns.position("name"), Some(1));
        assert_eq!(columns.fields[0].type_oid, 25);
        let mut one = BytesMut::new();
        columns.encode(&mut one, 1);
        let first = Columns::parse(&message(one)).unwrap();
        assert_eq!(first.fields.len(), 1);
        assert_eq!(first.fields[0].name, "id");

        let mut out = BytesMut::new();
        data_row(&mut out, &[Some("7"), None]);
        let row = parse_row(&message(out.clone())).unwrap();
        assert_eq!(row, vec![Some(Bytes::from_static(b"7")), None]);
        let mut again = BytesMut::new();
        encode_row(&mut again, &row, 2);
        assert_eq!(again, out);
    }

    #[test]
    fn malformed_rows_are_none() {
        let msg = Message::from_frame(Bytes::from_static(b"D\0\0\0\x0a\0\x01\0\0\0\x09"));
        assert!(parse_row(&msg).is_none());
    }

    #[test]
    fn command_tags() {
        assert_eq!(tag_count("INSERT 0 5"), Some(5));
        assert_eq!(tag_count("SELECT 12"), Some(12));
        assert_eq!(tag_count("CREATE TABLE"), None);
        assert_eq!(with_count("INSERT 0 5", 9), "INSERT 0 9");
        assert_eq!(with_count("CREATE TABLE", 9), "CREATE TABLE");
    }
}
