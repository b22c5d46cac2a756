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

use num_bigint::{BigInt, BigUint, Sign};

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

fn read_f64(format: Format, v: &[u8]) -> Result<f64, ValueError> {
    match format {
        Format::Binary => Ok(f64::from_be_bytes(fixed(v, "float8")?)),
        // Rust's parser accepts PostgreSQL's "NaN", "Infinity" and "-Infinity" spellings.
        Format::Text => text(v, "float8")?.parse().map_err(|_| malformed("float8")),
    }
}

fn read_f32(format: Format, v: &[u8]) -> Result<f32, ValueError> {
    match format {
        Format::Binary => Ok(f32::from_be_bytes(fixed(v, "float4")?)),
        Format::Text => text(v, "float4")?.parse().map_err(|_| malformed("float4")),
    }
}

/// Reads a float4 or float8 as f64; widening a float4 is exact, so ordering is unchanged.
fn read_float(oid: u32, format: Format, v: &[u8]) -> Result<f64, ValueError> {
    if oid == FLOAT4 {
        read_f32(format, v).map(f64::from)
    } else {
        read_f64(format, v)
    }
}

/// PostgreSQL's float ordering: NaN equals NaN and sorts above every number (so that
/// sorting and indexes have a total order), and -0 equals 0.
fn float_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

fn write_f64(format: Format, v: f64) -> Vec<u8> {
    match format {
        Format::Binary => v.to_be_bytes().to_vec(),
        Format::Text => float_text(ExactFloat::from_f64(v), &format!("{v:e}"), 15),
    }
}

fn write_f32(format: Format, v: f32) -> Vec<u8> {
    match format {
        Format::Binary => v.to_be_bytes().to_vec(),
        Format::Text => float_text(ExactFloat::from_f32(v), &format!("{v:e}"), 6),
    }
}

/// A float's exact value, ±`mantissa` × 2^`exponent`, as the shortest-digits search needs it.
struct ExactFloat {
    negative: bool,
    nan: bool,
    infinite: bool,
    mantissa: u64,
    exponent: i32,
    /// At a power of two the next lower float is half as far away as the next higher one.
    narrow_below: bool,
}

impl ExactFloat {
    fn from_f64(v: f64) -> ExactFloat {
        let bits = v.to_bits();
        let fraction = bits & ((1 << 52) - 1);
        let biased = ((bits >> 52) & 0x7ff) as i32;
        ExactFloat::new(bits >> 63 == 1, fraction, biased, 52, 0x7ff, 1075)
    }

    fn from_f32(v: f32) -> ExactFloat {
        let bits = v.to_bits();
        let fraction = bits & ((1 << 23) - 1);
        let biased = ((bits >> 23) & 0xff) as i32;
        ExactFloat::new(bits >> 31 == 1, fraction.into(), biased, 23, 0xff, 150)
    }

    /// Decodes IEEE 754 fields: `bias` is the exponent bias plus the fraction width.
    fn new(
        negative: bool,
        fraction: u64,
        biased: i32,
        fraction_bits: u32,
        max_biased: i32,
        bias: i32,
    ) -> ExactFloat {
        let (mantissa, exponent) = if biased == 0 {
            (fraction, 1 - bias)
        } else {
            (fraction | (1 << fraction_bits), biased - bias)
        };
        ExactFloat {
            negative,
            nan: biased == max_biased && fraction != 0,
            infinite: biased == max_biased && fraction == 0,
            mantissa,
            exponent,
            narrow_below: fraction == 0 && biased > 1,
        }
    }
}

/// Splits Rust's scientific notation ("-1.25e-7") into its digits without the point
/// ("125") and its decimal exponent (-7).
fn split_scientific(sci: &str) -> (String, i32) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse().unwrap_or(0))
}

/// Formats a float as PostgreSQL 15's float4out/float8out do with extra_float_digits > 0:
/// the digits chosen by [`shortest_digits`], in fixed notation unless the decimal exponent
/// is below -4 or at least `max_fixed` (15 for float8, 6 for float4), where it switches to
/// "1.5e-05" style with a signed, at least two-digit exponent. `rust_sci` is Rust's
/// shortest scientific form of the same value, the starting point of the search.
fn float_text(v: ExactFloat, rust_sci: &str, max_fixed: i32) -> Vec<u8> {
    let sign = if v.negative { "-" } else { "" };
    if v.nan {
        return b"NaN".to_vec();
    }
    if v.infinite {
        return format!("{sign}Infinity").into_bytes();
    }
    let (digits, exp) = if v.mantissa == 0 {
        ("0".to_string(), 0)
    } else {
        shortest_digits(&v, rust_sci)
    };
    let out = if exp < -4 || exp >= max_fixed {
        let exp_sign = if exp < 0 { '-' } else { '+' };
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        format!(
            "{sign}{first}{point}{rest}e{exp_sign}{:02}",
            exp.unsigned_abs()
        )
    } else if exp < 0 {
        let zeros = "0".repeat(exp.unsigned_abs() as usize - 1);
        format!("{sign}0.{zeros}{digits}")
    } else {
        let int_len = exp as usize + 1;
        if digits.len() > int_len {
            format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
        } else {
            format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
        }
    };
    out.into_bytes()
}

/// `c` × 10^`k` compared with `x` × 2^`e`, exactly.
fn cmp_scaled(c: &BigUint, k: i32, x: &BigUint, e: i32) -> Ordering {
    let (mut left, mut right) = (c.clone(), x.clone());
    if k >= 0 {
        left *= pow10(k.unsigned_abs());
    } else {
        right *= pow10(k.unsigned_abs());
    }
    if e >= 0 {
        right <<= e.unsigned_abs();
    } else {
        left <<= e.unsigned_abs();
    }
    left.cmp(&right)
}

/// ⌊`x` × 2^`e` / 10^`k`⌋.
fn floor_scaled(x: &BigUint, e: i32, k: i32) -> BigUint {
    let (mut numerator, mut denominator) = (x.clone(), BigUint::from(1u32));
    if e >= 0 {
        numerator <<= e.unsigned_abs();
    } else {
        denominator <<= e.unsigned_abs();
    }
    if k >= 0 {
        denominator *= pow10(k.unsigned_abs());
    } else {
        numerator *= pow10(k.unsigned_abs());
    }
    numerator / denominator
}

/// The digits (without trailing zeros) and decimal exponent PostgreSQL's Ryū prints for a
/// finite nonzero float: the fewest significant digits whose value lies strictly between
/// the midpoints to the neighbouring floats, and of those the closest to the exact value,
/// an exact tie going to the even digit.
///
/// Rust's own shortest formatting almost always agrees, but it accepts a value lying exactly
/// on a midpoint when the mantissa is even (Ryū as built into PostgreSQL does not) and
/// breaks ties upward, so its answer only gives the length and exponent to start from: no
/// shorter answer exists, since Rust's interval contains PostgreSQL's.
fn shortest_digits(v: &ExactFloat, rust_sci: &str) -> (String, i32) {
    let (rust_digits, rust_exp) = split_scientific(rust_sci);
    // Work in units of 2^(exponent - 2) so that the midpoints are integers too.
    let e = v.exponent - 2;
    let value = BigUint::from(v.mantissa) << 2u32;
    let upper = &value + 2u32;
    let lower = &value - if v.narrow_below { 1u32 } else { 2u32 };
    // The decimal exponent of the leading digit; Rust's shortest form may have rounded up
    // to the next power of ten.
    let one = BigUint::from(1u32);
    let lead_exp = if cmp_scaled(&one, rust_exp, &value, e) == Ordering::Greater {
        rust_exp - 1
    } else {
        rust_exp
    };
    let inside = |c: &BigUint, k: i32| {
        cmp_scaled(c, k, &lower, e) == Ordering::Greater
            && cmp_scaled(c, k, &upper, e) == Ordering::Less
    };
    for n in rust_digits.len().max(1)..=40 {
        let k = lead_exp - (n as i32 - 1);
        let below = floor_scaled(&value, e, k);
        let above = &below + 1u32;
        let chosen = match (inside(&below, k), inside(&above, k)) {
            (false, false) => continue,
            (true, false) => below,
            (false, true) => above,
            (true, true) => {
                // Compare the value with the midpoint (below + 1/2) × 10^k.
                let midpoint = (&below * 2u32 + 1u32) * 5u32;
                match cmp_scaled(&midpoint, k - 1, &value, e) {
                    Ordering::Greater => below,
                    Ordering::Less => above,
                    Ordering::Equal if (&below % 2u32).bits() == 0 => below,
                    Ordering::Equal => above,
                }
            }
        };
        let mut digits = chosen.to_str_radix(10);
        let exp = k + digits.len() as i32 - 1;
        let significant = digits.trim_end_matches('0').len().max(1);
        digits.truncate(significant);
        return (digits, exp);
    }
    // Unreachable for real floats (17 digits always suffice); Rust's answer is then the best.
    let trimmed = rust_digits.trim_end_matches('0');
    let digits = if trimmed.is_empty() { "0" } else { trimmed };
    (digits.to_string(), rust_exp)
}

/// The largest display scale a numeric can carry (NUMERIC_DSCALE_MASK).
const MAX_DSCALE: u32 = 0x3FFF;
const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;
/// PostgreSQL's numeric_div aims for at least this many significant digits.
const NUMERIC_MIN_SIG_DIGITS: i64 = 16;
const NUMERIC_MAX_DISPLAY_SCALE: i64 = 1000;

/// A numeric value. A finite value is `value / 10^dscale`, where the display scale is
/// kept because PostgreSQL prints (and sends) that many fraction digits.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Numeric {
    NaN,
    PosInf,
    NegInf,
    Finite { value: BigInt, dscale: u32 },
}

fn pow10(exp: u32) -> BigUint {
    BigUint::from(10u32).pow(exp)
}

fn is_zero(v: &BigUint) -> bool {
    v.bits() == 0
}

/// The base-10000 digits of `magnitude / 10^dscale` as PostgreSQL stores them: groups
/// aligned on the decimal point, without leading or trailing zero groups, and the weight
/// (power of 10000) of the first group. Zero has no digits and weight 0.
fn base10000(magnitude: &BigUint, dscale: u32) -> (Vec<u16>, i64) {
    if is_zero(magnitude) {
        return (Vec::new(), 0);
    }
    // Pad the fraction to whole groups of four so the groups line up with the point.
    let pad = (4 - dscale % 4) % 4;
    let mut decimal = magnitude.to_str_radix(10);
    decimal.push_str(&"0".repeat(pad as usize));
    let first = match decimal.len() % 4 {
        0 => 4,
        n => n,
    };
    let (head, tail) = decimal.as_bytes().split_at(first);
    let mut digits = vec![group(head)];
    digits.extend(tail.chunks(4).map(group));
    let weight = digits.len() as i64 - 1 - i64::from((dscale + pad) / 4);
    // The first group is nonzero (the decimal string has no leading zeros), so only
    // trailing zero groups need stripping, and stripping them leaves the weight alone.
    while digits.last() == Some(&0) {
        digits.pop();
    }
    (digits, weight)
}

/// Up to four ASCII decimal digits as one base-10000 digit.
fn group(digits: &[u8]) -> u16 {
    digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'))
}

impl Numeric {
    fn read(format: Format, v: &[u8]) -> Result<Numeric, ValueError> {
        let parsed = match format {
            Format::Text => std::str::from_utf8(v).ok().and_then(Numeric::parse),
            Format::Binary => Numeric::decode(v),
        };
        parsed.ok_or(malformed("numeric"))
    }

    /// Parses numeric_out's text: digits with an optional sign and fraction, or one of the
    /// special values (numeric_in's spellings are accepted too).
    fn parse(s: &str) -> Option<Numeric> {
        match s.to_ascii_lowercase().as_str() {
            "nan" => return Some(Numeric::NaN),
            "infinity" | "+infinity" | "inf" | "+inf" => return Some(Numeric::PosInf),
            "-infinity" | "-inf" => return Some(Numeric::NegInf),
            _ => {}
        }
        let (sign, body) = match s.as_bytes().first()? {
            b'-' => (Sign::Minus, &s[1..]),
            b'+' => (Sign::Plus, &s[1..]),
            _ => (Sign::Plus, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let all_digits = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        let dscale = u32::try_from(frac.len())
            .ok()
            .filter(|d| *d <= MAX_DSCALE)?;
        let magnitude = BigUint::parse_bytes(format!("{int}{frac}").as_bytes(), 10)?;
        Some(Numeric::Finite {
            value: BigInt::from_biguint(sign, magnitude),
            dscale,
        })
    }

    /// Decodes numeric_send's format: i16 ndigits, i16 weight, u16 sign, u16 dscale, then
    /// ndigits base-10000 digits. Like numeric_recv, digits that the display scale would hide
    /// are truncated away.
    fn decode(v: &[u8]) -> Option<Numeric> {
        let word = |i: usize| v.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
        let ndigits = word(0)? as i16;
        let weight = word(2)? as i16;
        let (sign, dscale) = (word(4)?, word(6)?);
        let ndigits = usize::try_from(ndigits).ok()?;
        if v.len() != 8 + 2 * ndigits {
            return None;
        }
        let sign = match sign {
            NUMERIC_NAN => return Some(Numeric::NaN),
            NUMERIC_PINF => return Some(Numeric::PosInf),
            NUMERIC_NINF => return Some(Numeric::NegInf),
            NUMERIC_POS => Sign::Plus,
            NUMERIC_NEG => Sign::Minus,
            _ => return None,
        };
        let dscale = u32::from(dscale);
        if dscale > MAX_DSCALE {
            return None;
        }
        let mut magnitude = BigUint::default();
        for i in 0..ndigits {
            let digit = word(8 + 2 * i)?;
            if digit >= 10000 {
                return None;
            }
            magnitude = magnitude * 10000u32 + digit;
        }
        if ndigits > 0 {
            // The digits as an integer are the value times 10000^(ndigits - 1 - weight);
            // bring that to 10^dscale.
            let frac_digits = 4 * (ndigits as i64 - 1 - i64::from(weight));
            let shift = i64::from(dscale) - frac_digits;
            let factor = pow10(u32::try_from(shift.unsigned_abs()).ok()?);
            magnitude = if shift >= 0 {
                magnitude * factor
            } else {
                magnitude / factor
            };
        }
        Some(Numeric::Finite {
            value: BigInt::from_biguint(sign, magnitude),
            dscale,
        })
    }

    fn write(&self, format: Format) -> Result<Vec<u8>, ValueError> {
        match format {
            Format::Text => Ok(self.to_text().into_bytes()),
            Format::Binary => self.encode().ok_or(malformed("numeric")),
        }
    }

    fn to_text(&self) -> String {
        match self {
            Numeric::NaN => "NaN".to_string(),
            Numeric::PosInf => "Infinity".to_string(),
            Numeric::NegInf => "-Infinity".to_string(),
            Numeric::Finite { value, dscale } => {
                let dscale = *dscale as usize;
                let mut digits = value.magnitude().to_str_radix(10);
                if digits.len() <= dscale {
                    digits.insert_str(0, &"0".repeat(dscale + 1 - digits.len()));
                }
                let (int, frac) = digits.split_at(digits.len() - dscale);
                let sign = if value.sign() == Sign::Minus { "-" } else { "" };
                if dscale == 0 {
                    format!("{sign}{int}")
                } else {
                    format!("{sign}{int}.{frac}")
                }
            }
        }
    }

    /// Encodes as numeric_send would, in PostgreSQL's canonical form; None only if the
    /// value is too large for the format.
    fn encode(&self) -> Option<Vec<u8>> {
        // Special values have a short header in PostgreSQL, and numeric_send reads the
        // display scale out of the header bits, which gives 32 for the infinities.
        let (digits, weight, sign, dscale) = match self {
            Numeric::NaN => (Vec::new(), 0, NUMERIC_NAN, 0),
            Numeric::PosInf => (Vec::new(), 0, NUMERIC_PINF, 32),
            Numeric::NegInf => (Vec::new(), 0, NUMERIC_NINF, 32),
            Numeric::Finite { value, dscale } => {
                let (digits, weight) = base10000(value.magnitude(), *dscale);
                let sign = if value.sign() == Sign::Minus {
                    NUMERIC_NEG
                } else {
                    NUMERIC_POS
                };
                (digits, weight, sign, u16::try_from(*dscale).ok()?)
            }
        };
        let ndigits = i16::try_from(digits.len()).ok()?;
        let weight = i16::try_from(weight).ok()?;
        let mut out = Vec::with_capacity(8 + 2 * digits.len());
        out.extend_from_slice(&ndigits.to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        for digit in digits {
            out.extend_from_slice(&digit.to_be_bytes());
        }
        Some(out)
    }

    /// PostgreSQL's numeric ordering: -Infinity below every number, +Infinity above, and
    /// NaN above everything (equal to itself). Finite values compare by value, whatever
    /// their display scales.
    fn order(&self, other: &Numeric) -> Ordering {
        let rank = |n: &Numeric| match n {
            Numeric::NegInf => 0,
            Numeric::Finite { .. } => 1,
            Numeric::PosInf => 2,
            Numeric::NaN => 3,
        };
        match (self, other) {
            (
                Numeric::Finite {
                    value: a,
                    dscale: da,
                },
                Numeric::Finite {
                    value: b,
                    dscale: db,
                },
            ) => {
                let scale = (*da).max(*db);
                rescale(a, *da, scale).cmp(&rescale(b, *db, scale))
            }
            _ => rank(self).cmp(&rank(other)),
        }
    }

    /// numeric_add: exact, with the larger of the two display scales.
    fn add(&self, other: &Numeric) -> Numeric {
        match (self, other) {
            (Numeric::NaN, _) | (_, Numeric::NaN) => Numeric::NaN,
            (Numeric::PosInf, Numeric::NegInf) | (Numeric::NegInf, Numeric::PosInf) => Numeric::NaN,
            (Numeric::PosInf, _) | (_, Numeric::PosInf) => Numeric::PosInf,
            (Numeric::NegInf, _) | (_, Numeric::NegInf) => Numeric::NegInf,
            (
                Numeric::Finite {
                    value: a,
                    dscale: da,
                },
                Numeric::Finite {
                    value: b,
                    dscale: db,
                },
            ) => {
                let dscale = (*da).max(*db);
                Numeric::Finite {
                    value: rescale(a, *da, dscale) + rescale(b, *db, dscale),
                    dscale,
                }
            }
        }
    }

    /// numeric_div(self, count) for a positive count, as avg() computes it: the result
    /// scale comes from select_div_scale, and the quotient is rounded half away from zero
    /// at that scale.
    fn div_count(&self, count: i64) -> Numeric {
        let (value, dscale) = match self {
            Numeric::Finite { value, dscale } => (value, *dscale),
            // A positive count leaves the special values as they are.
            special => return special.clone(),
        };
        let count = BigUint::from(count.unsigned_abs());
        let leading = |magnitude: &BigUint, dscale: u32| {
            let (digits, weight) = base10000(magnitude, dscale);
            digits.first().map_or((0, 0), |first| (weight, *first))
        };
        let (weight1, first1) = leading(value.magnitude(), dscale);
        let (weight2, first2) = leading(&count, 0);
        // Estimate the weight of the quotient, then ask for enough fraction digits to give
        // at least NUMERIC_MIN_SIG_DIGITS significant digits, but never fewer than either
        // input's display scale (the count's is 0).
        let mut qweight = weight1 - weight2;
        if first1 <= first2 {
            qweight -= 1;
        }
        let rscale = (NUMERIC_MIN_SIG_DIGITS - qweight * 4)
            .max(i64::from(dscale))
            .clamp(0, NUMERIC_MAX_DISPLAY_SCALE) as u32;
        // value / 10^dscale / count, scaled by 10^rscale.
        let (mut numerator, mut denominator) = (value.magnitude().clone(), count);
        if rscale >= dscale {
            numerator *= pow10(rscale - dscale);
        } else {
            denominator *= pow10(dscale - rscale);
        }
        let mut quotient = &numerator / &denominator;
        let remainder = numerator % &denominator;
        if remainder * 2u32 >= denominator {
            quotient += 1u32;
        }
        Numeric::Finite {
            value: BigInt::from_biguint(value.sign(), quotient),
            dscale: rscale,
        }
    }

    /// The nearest f64 (Rust's float parser rounds decimal text correctly).
    fn to_f64(&self) -> f64 {
        self.to_text().parse().unwrap_or(f64::NAN)
    }
}

/// `value` at scale `from`, expressed at the larger scale `to`.
fn rescale(value: &BigInt, from: u32, to: u32) -> BigInt {
    value * BigInt::from(pow10(to - from))
}

/// Reads a date (days), time (microseconds), timestamp (microseconds) or timestamptz
/// (microseconds, UTC) as a number that orders the values as PostgreSQL does.
fn read_temporal(oid: u32, format: Format, v: &[u8]) -> Result<i64, ValueError> {
    let what = match oid {
        DATE => "date",
        TIME => "time",
        TIMESTAMP => "timestamp",
        _ => "timestamptz",
    };
    match format {
        // The binary forms are already such numbers: int32 days since 2000-01-01 for date
        // and int64 microseconds for the others, with the extremes standing for -infinity
        // and infinity.
        Format::Binary if oid == DATE => Ok(i32::from_be_bytes(fixed(v, what)?).into()),
        Format::Binary => Ok(i64::from_be_bytes(fixed(v, what)?)),
        Format::Text => parse_temporal(oid, text(v, what)?).ok_or(malformed(what)),
    }
}

/// Parses DateStyle ISO output: "2024-01-02", "2024-01-02 03:04:05.123",
/// "2024-01-02 03:04:05.123+05:30", with " BC" at the end for years before 1 AD, or
/// "infinity"/"-infinity". Plain text comparison would order years past 9999 and BC dates
/// wrongly, and timestamptz values printed with different offsets must compare by instant.
fn parse_temporal(oid: u32, s: &str) -> Option<i64> {
    if oid == TIME {
        return parse_time(s);
    }
    match s {
        "infinity" => return Some(i64::MAX),
        "-infinity" => return Some(i64::MIN),
        _ => {}
    }
    let (s, bc) = match s.strip_suffix(" BC") {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    if oid == DATE {
        return parse_date(s, bc);
    }
    let (date, rest) = s.split_once(' ')?;
    let days = parse_date(date, bc)?;
    let (time, offset) = if oid == TIMESTAMPTZ {
        let at = rest.find(['+', '-'])?;
        (&rest[..at], parse_offset(&rest[at..])?)
    } else {
        (rest, 0)
    };
    // A time zone offset east of UTC means the local time is ahead of UTC.
    days.checked_mul(86_400_000_000)?
        .checked_add(parse_time(time)?)?
        .checked_sub(offset * 1_000_000)
}

/// A short run of ASCII digits as a number.
fn number(s: &str, max_len: usize) -> Option<i64> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// "YYYY-MM-DD" as days since 2000-01-01 in the proleptic Gregorian calendar, which is
/// PostgreSQL's date epoch and calendar. Year 1 BC is year 0.
fn parse_date(s: &str, bc: bool) -> Option<i64> {
    let mut parts = s.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let mut year = number(year, 9)?;
    if bc {
        year = 1 - year;
    }
    let (month, day) = (number(month, 2)?, number(day, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Count from March so that the leap day falls at the end of the counted year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 730425 days separate 0000-03-01 from 2000-01-01.
    Some(era * 146_097 + day_of_era - 730_425)
}

/// "HH:MM:SS[.ffffff]" as microseconds since midnight (24:00:00 is a valid time).
fn parse_time(s: &str) -> Option<i64> {
    let mut parts = s.split(':');
    let (hours, minutes, seconds) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (seconds, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
    let (hours, minutes, seconds) = (number(hours, 2)?, number(minutes, 2)?, number(seconds, 2)?);
    if hours > 24 || minutes > 59 || seconds > 60 {
        return None;
    }
    let micros = if fraction.is_empty() {
        0
    } else {
        number(fraction, 6)? * 10i64.pow(6 - fraction.len() as u32)
    };
    Some(((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + micros)
}

/// A UTC offset as timestamptz output prints it: "+02", "-03:30" or "+05:53:28" (local
/// mean time zones have second offsets), in seconds east of UTC.
fn parse_offset(s: &str) -> Option<i64> {
    let (negative, s) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => return None,
    };
    let mut seconds = 0;
    let mut parts = 0;
    for part in s.split(':') {
        parts += 1;
        if parts > 3 {
            return None;
        }
        seconds = seconds * 60 + number(part, 2)?;
    }
    // "+05" is hours only and "+05:30" hours and minutes: scale up to seconds.
    seconds *= 60i64.pow(3 - parts);
    Some(if negative { -seconds } else { seconds })
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
