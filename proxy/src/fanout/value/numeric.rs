//! `numeric` values: exact decimal arithmetic on big integers, PostgreSQL's binary form
//! (base-10000 digits) and its choice of result scale for division (AVG).

use std::cmp::Ordering;

use num_bigint::{BigInt, BigUint, Sign};

use super::*;

/// The largest display scale a numeric can carry (NUMERIC_DSCALE_MASK).
pub(super) const MAX_DSCALE: u32 = 0x3FFF;
pub(super) const NUMERIC_POS: u16 = 0x0000;
pub(super) const NUMERIC_NEG: u16 = 0x4000;
pub(super) const NUMERIC_NAN: u16 = 0xC000;
pub(super) const NUMERIC_PINF: u16 = 0xD000;
pub(super) const NUMERIC_NINF: u16 = 0xF000;
/// PostgreSQL's numeric_div aims for at least this many significant digits.
pub(super) const NUMERIC_MIN_SIG_DIGITS: i64 = 16;
pub(super) const NUMERIC_MAX_DISPLAY_SCALE: i64 = 1000;

/// A numeric value. A finite value is `value / 10^dscale`, where the display scale is
/// kept because PostgreSQL prints (and sends) that many fraction digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Numeric {
    NaN,
    PosInf,
    NegInf,
    Finite { value: BigInt, dscale: u32 },
}

pub(super) fn pow10(exp: u32) -> BigUint {
    BigUint::from(10u32).pow(exp)
}

pub(super) fn is_zero(v: &BigUint) -> bool {
    v.bits() == 0
}

/// The base-10000 digits of `magnitude / 10^dscale` as PostgreSQL stores them: groups
/// aligned on the decimal point, without leading or trailing zero groups, and the weight
/// (power of 10000) of the first group. Zero has no digits and weight 0.
pub(super) fn base10000(magnitude: &BigUint, dscale: u32) -> (Vec<u16>, i64) {
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
pub(super) fn group(digits: &[u8]) -> u16 {
    digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'))
}

impl Numeric {
    pub(super) fn read(format: Format, v: &[u8]) -> Result<Numeric, ValueError> {
        let parsed = match format {
            Format::Text => std::str::from_utf8(v).ok().and_then(Numeric::parse),
            Format::Binary => Numeric::decode(v),
        };
        parsed.ok_or(malformed("numeric"))
    }

    /// Parses numeric_out's text: digits with an optional sign and fraction, or one of the
    /// special values (numeric_in's spellings are accepted too).
    pub(super) fn parse(s: &str) -> Option<Numeric> {
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
    pub(super) fn decode(v: &[u8]) -> Option<Numeric> {
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

    pub(super) fn write(&self, format: Format) -> Result<Vec<u8>, ValueError> {
        match format {
            Format::Text => Ok(self.to_text().into_bytes()),
            Format::Binary => self.encode().ok_or(malformed("numeric")),
        }
    }

    pub(super) fn to_text(&self) -> String {
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
    pub(super) fn encode(&self) -> Option<Vec<u8>> {
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
    pub(super) fn order(&self, other: &Numeric) -> Ordering {
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
    pub(super) fn add(&self, other: &Numeric) -> Numeric {
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
    pub(super) fn div_count(&self, count: i64) -> Numeric {
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
    pub(super) fn to_f64(&self) -> f64 {
        self.to_text().parse().unwrap_or(f64::NAN)
    }
}

/// `value` at scale `from`, expressed at the larger scale `to`.
pub(super) fn rescale(value: &BigInt, from: u32, to: u32) -> BigInt {
    value * BigInt::from(pow10(to - from))
}
