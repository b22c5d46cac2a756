//! Dates, times and timestamps as numbers that order the way PostgreSQL orders them, from
//! the binary form or the ISO text form (DateStyle ISO).

use super::*;

/// Reads a date (days), time (microseconds), timestamp (microseconds) or timestamptz
/// (microseconds, UTC) as a number that orders the values as PostgreSQL does.
pub(super) fn read_temporal(oid: u32, format: Format, v: &[u8]) -> Result<i64, ValueError> {
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
pub(super) fn parse_temporal(oid: u32, s: &str) -> Option<i64> {
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
pub(super) fn number(s: &str, max_len: usize) -> Option<i64> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// "YYYY-MM-DD" as days since 2000-01-01 in the proleptic Gregorian calendar, which is
/// PostgreSQL's date epoch and calendar. Year 1 BC is year 0.
pub(super) fn parse_date(s: &str, bc: bool) -> Option<i64> {
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
pub(super) fn parse_time(s: &str) -> Option<i64> {
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
pub(super) fn parse_offset(s: &str) -> Option<i64> {
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
