//! Single column values from the shards' DataRow messages: ordering them and combining them.
//!
//! When a SELECT runs on several shards, the proxy has to merge the shards' result rows
//! itself. ORDER BY, MIN and MAX need the values ordered exactly as PostgreSQL orders them,
//! and SUM, COUNT and AVG need partial results combined into the value one server holding
//! all the rows would have returned. This module does that one value at a time, in the wire
//! format the column uses (text or binary) and for the column's type OID from RowDescription.
//!
//! The bytes produced must be exactly what PostgreSQL 15 would send, because a client
//! cannot tell (and tests check that it cannot tell) whether one server or many answered.
//! That is why numeric arithmetic is exact (on big integers), why AVG reproduces
//! PostgreSQL's choice of result scale, and why floats are printed the way `float8out` does.
//!
//! Types this module does not understand are reported as [`ValueError::Unsupported`], so
//! that the caller refuses the query rather than returning a wrong answer. Input that does
//! not decode never panics; it is reported as [`ValueError::Malformed`].

use std::cmp::Ordering;

use num_bigint::BigInt;

mod float;
mod numeric;
mod temporal;

use float::*;
use numeric::*;
use temporal::*;

pub const BOOL: u32 = 16;
pub const NAME: u32 = 19;
pub const INT8: u32 = 20;
pub const INT2: u32 = 21;
pub const INT4: u32 = 23;
pub const TEXT: u32 = 25;
pub const OID: u32 = 26;
pub const FLOAT4: u32 = 700;
pub const FLOAT8: u32 = 701;
pub const BPCHAR: u32 = 1042;
pub const VARCHAR: u32 = 1043;
pub const DATE: u32 = 1082;
pub const TIME: u32 = 1083;
pub const TIMESTAMP: u32 = 1114;
pub const TIMESTAMPTZ: u32 = 1184;
pub const NUMERIC: u32 = 1700;
pub const UUID: u32 = 2950;

/// The wire format of one column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Binary,
}

impl Format {
    /// The format for a wire format code. PostgreSQL defines only 0 (text) and 1 (binary),
    /// and the server has already rejected any other code, so everything but 1 is text.
    pub fn from_code(code: i16) -> Format {
        if code == 1 {
            Format::Binary
        } else {
            Format::Text
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ValueError {
    #[error("cannot {op} values of type oid {oid} across shards")]
    Unsupported { op: &'static str, oid: u32 },
    #[error("malformed {what} value from a shard")]
    Malformed { what: &'static str },
}

fn malformed(what: &'static str) -> ValueError {
    ValueError::Malformed { what }
}

/// Whether [`compare`] knows how PostgreSQL orders values of type `oid`.
pub fn orderable(oid: u32) -> bool {
    matches!(
        oid,
        BOOL | INT2
            | INT4
            | INT8
            | OID
            | FLOAT4
            | FLOAT8
            | NUMERIC
            | TEXT
            | VARCHAR
            | NAME
            | BPCHAR
            | DATE
            | TIME
            | TIMESTAMP
            | TIMESTAMPTZ
            | UUID
    )
}

/// Whether [`add`] can combine partial sums of type `oid`.
pub fn addable(oid: u32) -> bool {
    matches!(oid, INT2 | INT4 | INT8 | FLOAT4 | FLOAT8 | NUMERIC)
}

/// Orders two non-NULL values of type `oid` as PostgreSQL's default btree operator class does
/// (text types compare bytewise: the servers run with the C collation).
pub fn compare(oid: u32, format: Format, a: &[u8], b: &[u8]) -> Result<Ordering, ValueError> {
    Ok(match oid {
        BOOL => read_bool(format, a)?.cmp(&read_bool(format, b)?),
        INT2 | INT4 | INT8 => read_int(oid, format, a)?.cmp(&read_int(oid, format, b)?),
        OID => read_oid(format, a)?.cmp(&read_oid(format, b)?),
        FLOAT4 | FLOAT8 => float_cmp(read_float(oid, format, a)?, read_float(oid, format, b)?),
        NUMERIC => Numeric::read(format, a)?.order(&Numeric::read(format, b)?),
        // Text travels as the same bytes in both formats, and with the C collation
        // PostgreSQL compares it with memcmp, shorter first on a common prefix.
        TEXT | VARCHAR | NAME => a.cmp(b),
        // bpchar ignores trailing spaces when comparing ('a' = 'a  ').
        BPCHAR => trim_spaces(a).cmp(trim_spaces(b)),
        DATE | TIME | TIMESTAMP | TIMESTAMPTZ => {
            read_temporal(oid, format, a)?.cmp(&read_temporal(oid, format, b)?)
        }
        UUID => read_uuid(format, a)?.cmp(&read_uuid(format, b)?),
        _ => return Err(ValueError::Unsupported { op: "compare", oid }),
    })
}

/// a + b for partial SUM/COUNT results of type `oid` (int2, int4, int8, numeric, float4,
/// float8), in the same type and format.
///
/// Where PostgreSQL itself would fail with "out of range" (integer overflow, or a float sum
/// of finite values that overflows), this returns [`ValueError::Unsupported`] instead of
/// wrapping around or panicking.
pub fn add(oid: u32, format: Format, a: &[u8], b: &[u8]) -> Result<Vec<u8>, ValueError> {
    // Also the error for types that cannot be added at all.
    let overflow = || ValueError::Unsupported { op: "add", oid };
    match oid {
        INT2 | INT4 | INT8 => {
            let sum = read_int(oid, format, a)?
                .checked_add(read_int(oid, format, b)?)
                .ok_or_else(overflow)?;
            write_int(oid, format, sum).ok_or_else(overflow)
        }
        FLOAT4 => {
            let (x, y) = (read_f32(format, a)?, read_f32(format, b)?);
            let sum = x + y;
            if sum.is_infinite() && x.is_finite() && y.is_finite() {
                return Err(overflow());
            }
            Ok(write_f32(format, sum))
        }
        FLOAT8 => {
            let (x, y) = (read_f64(format, a)?, read_f64(format, b)?);
            let sum = x + y;
            if sum.is_infinite() && x.is_finite() && y.is_finite() {
                return Err(overflow());
            }
            Ok(write_f64(format, sum))
        }
        NUMERIC => Numeric::read(format, a)?
            .add(&Numeric::read(format, b)?)
            .write(format),
        _ => Err(overflow()),
    }
}

/// Reads an int8 (COUNT result) value in either format.
pub fn int8(format: Format, v: &[u8]) -> Result<i64, ValueError> {
    read_int(INT8, format, v)
}

/// The AVG PostgreSQL would return, from the combined sum (type `sum_oid`, `sum_format`) and
/// the combined count, encoded in the AVG column's own type `result_oid` (NUMERIC or FLOAT8)
/// and `result_format`.
///
/// PostgreSQL returns NULL for an average over no rows; the caller handles that case, so a
/// count that is not positive is reported as malformed.
pub fn average(
    result_oid: u32,
    result_format: Format,
    sum_oid: u32,
    sum_format: Format,
    sum: &[u8],
    count: i64,
) -> Result<Vec<u8>, ValueError> {
    if count <= 0 {
        return Err(malformed("count"));
    }
    let unsupported = ValueError::Unsupported {
        op: "average",
        oid: sum_oid,
    };
    match result_oid {
        // avg(int2/int4/int8/numeric) divide a numeric sum by the count with numeric_div;
        // integer sums take part as numerics of scale 0.
        NUMERIC => {
            let sum = match sum_oid {
                INT2 | INT4 | INT8 => Numeric::Finite {
                    value: BigInt::from(read_int(sum_oid, sum_format, sum)?),
                    dscale: 0,
                },
                NUMERIC => Numeric::read(sum_format, sum)?,
                _ => return Err(unsupported),
            };
            sum.div_count(count).write(result_format)
        }
        // avg(float4/float8) is float8: the float8 sum divided by the count as a float8.
        FLOAT8 => {
            let sum = match sum_oid {
                FLOAT4 | FLOAT8 => read_float(sum_oid, sum_format, sum)?,
                INT2 | INT4 | INT8 => read_int(sum_oid, sum_format, sum)? as f64,
                NUMERIC => Numeric::read(sum_format, sum)?.to_f64(),
                _ => return Err(unsupported),
            };
            Ok(write_f64(result_format, sum / count as f64))
        }
        _ => Err(ValueError::Unsupported {
            op: "average",
            oid: result_oid,
        }),
    }
}

/// The value as UTF-8 text; PostgreSQL's output functions for the types here emit ASCII.
fn text<'a>(v: &'a [u8], what: &'static str) -> Result<&'a str, ValueError> {
    std::str::from_utf8(v).map_err(|_| malformed(what))
}

/// The value as a fixed-size array, for binary formats.
fn fixed<const N: usize>(v: &[u8], what: &'static str) -> Result<[u8; N], ValueError> {
    v.try_into().map_err(|_| malformed(what))
}

fn trim_spaces(v: &[u8]) -> &[u8] {
    let len = v.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
    &v[..len]
}

fn read_bool(format: Format, v: &[u8]) -> Result<bool, ValueError> {
    match (format, v) {
        // boolrecv takes any nonzero byte as true.
        (Format::Binary, [byte]) => Ok(*byte != 0),
        (Format::Text, b"t" | b"true") => Ok(true),
        (Format::Text, b"f" | b"false") => Ok(false),
        _ => Err(malformed("bool")),
    }
}

fn int_name(oid: u32) -> &'static str {
    match oid {
        INT2 => "int2",
        INT4 => "int4",
        _ => "int8",
    }
}

/// Reads an int2, int4 or int8 (chosen by `oid`), widened to i64.
fn read_int(oid: u32, format: Format, v: &[u8]) -> Result<i64, ValueError> {
    let what = int_name(oid);
    match format {
        Format::Binary => match oid {
            INT2 => Ok(i16::from_be_bytes(fixed(v, what)?).into()),
            INT4 => Ok(i32::from_be_bytes(fixed(v, what)?).into()),
            _ => Ok(i64::from_be_bytes(fixed(v, what)?)),
        },
        Format::Text => {
            let s = text(v, what)?;
            let parsed = match oid {
                INT2 => s.parse::<i16>().map(i64::from),
                INT4 => s.parse::<i32>().map(i64::from),
                _ => s.parse::<i64>(),
            };
            parsed.map_err(|_| malformed(what))
        }
    }
}

/// Encodes `n` as the int type `oid`, or None when it does not fit that type.
fn write_int(oid: u32, format: Format, n: i64) -> Option<Vec<u8>> {
    match format {
        Format::Binary => Some(match oid {
            INT2 => i16::try_from(n).ok()?.to_be_bytes().to_vec(),
            INT4 => i32::try_from(n).ok()?.to_be_bytes().to_vec(),
            _ => n.to_be_bytes().to_vec(),
        }),
        Format::Text => {
            let fits = match oid {
                INT2 => i16::try_from(n).is_ok(),
                INT4 => i32::try_from(n).is_ok(),
                _ => true,
            };
            fits.then(|| n.to_string().into_bytes())
        }
    }
}

/// Reads an oid, which PostgreSQL orders as an unsigned 32-bit integer.
fn read_oid(format: Format, v: &[u8]) -> Result<u32, ValueError> {
    match format {
        Format::Binary => Ok(u32::from_be_bytes(fixed(v, "oid")?)),
        Format::Text => text(v, "oid")?.parse().map_err(|_| malformed("oid")),
    }
}

/// A UUID as its 16 bytes: PostgreSQL orders UUIDs bytewise, which for the text form
/// is the order of the lowercase hex digits.
fn read_uuid(format: Format, v: &[u8]) -> Result<[u8; 16], ValueError> {
    if format == Format::Binary {
        return fixed(v, "uuid");
    }
    let hex: Vec<u8> = v.iter().copied().filter(|&c| c != b'-').collect();
    if hex.len() != 32 {
        return Err(malformed("uuid"));
    }
    let mut out = [0u8; 16];
    for (byte, pair) in out.iter_mut().zip(hex.chunks(2)) {
        let nibble = |c: u8| (c as char).to_digit(16).ok_or(malformed("uuid"));
        *byte = (nibble(pair[0])? * 16 + nibble(pair[1])?) as u8;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
