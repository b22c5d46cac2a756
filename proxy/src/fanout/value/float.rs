//! Floating-point values: reading float4/float8 in both formats and printing them exactly as
//! PostgreSQL 15's `float4out`/`float8out` do (shortest digits that read back the same value).

use std::cmp::Ordering;

use num_bigint::BigUint;

use super::*;

pub(super) fn read_f64(format: Format, v: &[u8]) -> Result<f64, ValueError> {
    match format {
        Format::Binary => Ok(f64::from_be_bytes(fixed(v, "float8")?)),
        // Rust's parser accepts PostgreSQL's "NaN", "Infinity" and "-Infinity" spellings.
        Format::Text => text(v, "float8")?.parse().map_err(|_| malformed("float8")),
    }
}

pub(super) fn read_f32(format: Format, v: &[u8]) -> Result<f32, ValueError> {
    match format {
        Format::Binary => Ok(f32::from_be_bytes(fixed(v, "float4")?)),
        Format::Text => text(v, "float4")?.parse().map_err(|_| malformed("float4")),
    }
}

/// Reads a float4 or float8 as f64; widening a float4 is exact, so ordering is unchanged.
pub(super) fn read_float(oid: u32, format: Format, v: &[u8]) -> Result<f64, ValueError> {
    if oid == FLOAT4 {
        read_f32(format, v).map(f64::from)
    } else {
        read_f64(format, v)
    }
}

/// PostgreSQL's float ordering: NaN equals NaN and sorts above every number (so that
/// sorting and indexes have a total order), and -0 equals 0.
pub(super) fn float_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

pub(super) fn write_f64(format: Format, v: f64) -> Vec<u8> {
    match format {
        Format::Binary => v.to_be_bytes().to_vec(),
        Format::Text => float_text(ExactFloat::from_f64(v), &format!("{v:e}"), 15),
    }
}

pub(super) fn write_f32(format: Format, v: f32) -> Vec<u8> {
    match format {
        Format::Binary => v.to_be_bytes().to_vec(),
        Format::Text => float_text(ExactFloat::from_f32(v), &format!("{v:e}"), 6),
    }
}

/// A float's exact value, ±`mantissa` × 2^`exponent`, as the shortest-digits search needs it.
pub(super) struct ExactFloat {
    negative: bool,
    nan: bool,
    infinite: bool,
    mantissa: u64,
    exponent: i32,
    /// At a power of two the next lower float is half as far away as the next higher one.
    narrow_below: bool,
}

impl ExactFloat {
    pub(super) fn from_f64(v: f64) -> ExactFloat {
        let bits = v.to_bits();
        let fraction = bits & ((1 << 52) - 1);
        let biased = ((bits >> 52) & 0x7ff) as i32;
        ExactFloat::new(bits >> 63 == 1, fraction, biased, 52, 0x7ff, 1075)
    }

    pub(super) fn from_f32(v: f32) -> ExactFloat {
        let bits = v.to_bits();
        let fraction = bits & ((1 << 23) - 1);
        let biased = ((bits >> 23) & 0xff) as i32;
        ExactFloat::new(bits >> 31 == 1, fraction.into(), biased, 23, 0xff, 150)
    }

    /// Decodes IEEE 754 fields: `bias` is the exponent bias plus the fraction width.
    pub(super) fn new(
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
pub(super) fn split_scientific(sci: &str) -> (String, i32) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse().unwrap_or(0))
}

/// Formats a float as PostgreSQL 15's float4out/float8out do with extra_float_digits > 0:
/// the digits chosen by [`shortest_digits`], in fixed notation unless the decimal exponent
/// is below -4 or at least `max_fixed` (15 for float8, 6 for float4), where it switches to
/// "1.5e-05" style with a signed, at least two-digit exponent. `rust_sci` is Rust's
/// shortest scientific form of the same value, the starting point of the search.
pub(super) fn float_text(v: ExactFloat, rust_sci: &str, max_fixed: i32) -> Vec<u8> {
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
pub(super) fn cmp_scaled(c: &BigUint, k: i32, x: &BigUint, e: i32) -> Ordering {
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
pub(super) fn floor_scaled(x: &BigUint, e: i32, k: i32) -> BigUint {
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
pub(super) fn shortest_digits(v: &ExactFloat, rust_sci: &str) -> (String, i32) {
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
