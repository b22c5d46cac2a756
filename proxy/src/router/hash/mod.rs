//! PostgreSQL's hash functions and hash-partition routing, reimplemented bit for bit.
//!
//! pgDog places a row on shard `n` of `N` exactly where PostgreSQL would put it in a table
//! declared `PARTITION BY HASH (key)` with partitions `FOR VALUES WITH (MODULUS N,
//! REMAINDER n)`. That makes a sharded cluster interchangeable with a hash-partitioned table:
//! data can be moved between the two (or checked) with plain SQL, and each shard can
//! enforce its slice with a partition or a `satisfies_hash_partition()` constraint.
//!
//! For that, every function here must return exactly what the PostgreSQL function of the
//! same name returns:
//! - [`hash_bytes_extended`] and [`hash_uint32_extended`]: Bob Jenkins' lookup3 hash as
//!   adapted in `src/common/hashfn.c`, with PostgreSQL's 64-bit seeded variant;
//! - [`hashint4extended`], [`hashint8extended`] (`src/backend/utils/adt/int.c`, `int8.c`),
//!   [`hashtextextended`] (`varlena.c`) and [`uuid_hash_extended`] (`uuid.c`): the
//!   per-type "extended" hash support functions used by hash partitioning;
//! - [`hash_combine64`] (`src/include/common/hashfn.h`): how the per-column hashes are
//!   folded into the row hash.
//!
//! PostgreSQL routes a row to a hash partition like this (`partbounds.c`): start from a row
//! hash of 0, fold in `type_extended_hash(column, HASH_PARTITION_SEED)` of every key column
//! with [`hash_combine64`], and take the result modulo the modulus as an unsigned 64-bit
//! number. [`shard_for`] does that for a single-column key.
//!
//! The values here are the ones PostgreSQL computes on little-endian machines, which is
//! every platform pgDog runs on; big-endian servers hash differently, and so do text
//! columns with a nondeterministic (ICU) collation and databases whose encoding is not
//! UTF-8 (text is hashed as the bytes of its server encoding).

use serde::Deserialize;

/// The seed PostgreSQL passes to every extended hash function when routing rows to hash
/// partitions (`HASH_PARTITION_SEED` in `src/include/catalog/partition.h`).
pub const HASH_PARTITION_SEED: u64 = 0x7A5B_2236_7996_DCFD;

/// lookup3's `mix()`: reversibly mixes three 32-bit words.
#[inline]
fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

/// lookup3's `final()`: the last, irreversible mixing of (a, b, c).
#[inline]
fn final_mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

/// The initial state of all three words for a key of `len` bytes, perturbed by a non-zero
/// seed as PostgreSQL does: the seed is treated as an extra 12-byte chunk (its high half in
/// `a`, its low half in `b`, zeroes in `c`) mixed in before the data.
#[inline]
fn initial_state(len: u32, seed: u64) -> (u32, u32, u32) {
    let init = 0x9e37_79b9_u32.wrapping_add(len).wrapping_add(3_923_095);
    let (mut a, mut b, mut c) = (init, init, init);
    if seed != 0 {
        a = a.wrapping_add((seed >> 32) as u32);
        b = b.wrapping_add(seed as u32);
        mix(&mut a, &mut b, &mut c);
    }
    (a, b, c)
}

/// PostgreSQL's `hash_bytes_extended()` (what `hash_any_extended()` calls): the 64-bit,
/// seeded lookup3 hash of `key`. A seed of 0 means "no seed" and skips the seed mixing.
///
/// PostgreSQL takes the key length as a C `int`; keys are at most 1 GB there, so the
/// conversion to 32 bits below never truncates a key PostgreSQL could hash.
pub fn hash_bytes_extended(key: &[u8], seed: u64) -> u64 {
    let (mut a, mut b, mut c) = initial_state(key.len() as u32, seed);

    // Whole 12-byte blocks, read as three little-endian words. (PostgreSQL reads them with
    // word loads when the key is aligned and byte by byte otherwise; on little-endian
    // machines both give these words.)
    let mut blocks = key.chunks_exact(12);
    for block in &mut blocks {
        let word =
            |i: usize| u32::from_le_bytes([block[i], block[i + 1], block[i + 2], block[i + 3]]);
        a = a.wrapping_add(word(0));
        b = b.wrapping_add(word(4));
        c = c.wrapping_add(word(8));
        mix(&mut a, &mut b, &mut c);
    }

    // The last 0..=11 bytes. PostgreSQL's `switch (len)` falls through from `case len` down
    // to `case 1`, so every remaining byte is added exactly once: bytes 0..=3 into `a` and
    // 4..=7 into `b` as little-endian words, bytes 8..=10 into `c` shifted up by one byte
    // ("the lowest byte of c is reserved for the length"). For `len == 0` nothing is added,
    // but `final` below still runs (unlike in Jenkins' original lookup3).
    for (i, &byte) in blocks.remainder().iter().enumerate() {
        let byte = u32::from(byte);
        match i {
            0..=3 => a = a.wrapping_add(byte << (8 * i)),
            4..=7 => b = b.wrapping_add(byte << (8 * (i - 4))),
            _ => c = c.wrapping_add(byte << (8 * (i - 7))),
        }
    }

    final_mix(&mut a, &mut b, &mut c);
    (u64::from(b) << 32) | u64::from(c)
}

/// PostgreSQL's `hash_bytes_uint32_extended()` (`hash_uint32_extended()`): the hash of one
/// 32-bit value, a shortcut for hashing its 4 bytes that gives the same result as
/// `hash_bytes_extended(&k.to_le_bytes(), seed)`.
pub fn hash_uint32_extended(k: u32, seed: u64) -> u64 {
    let (mut a, mut b, mut c) = initial_state(4, seed);
    a = a.wrapping_add(k);
    final_mix(&mut a, &mut b, &mut c);
    (u64::from(b) << 32) | u64::from(c)
}

/// PostgreSQL's `hashint4extended()`, the hash of an `integer` (the same for `smallint`).
pub fn hashint4extended(v: i32, seed: u64) -> u64 {
    hash_uint32_extended(v as u32, seed)
}

/// PostgreSQL's `hashint8extended()`, the hash of a `bigint`.
///
/// The high half is folded into the low half such that every value within `integer`
/// range hashes exactly like [`hashint4extended`] of it, which lets PostgreSQL compare
/// `int4` with `int8` in hash joins.
pub fn hashint8extended(v: i64, seed: u64) -> u64 {
    let hihalf = (v >> 32) as u32;
    let mut lohalf = v as u32;
    lohalf ^= if v >= 0 { hihalf } else { !hihalf };
    hash_uint32_extended(lohalf, seed)
}

/// PostgreSQL's `hashtextextended()` for a deterministic collation (the default and every
/// libc collation): the hash of the string's bytes. `varchar` hashes the same way.
pub fn hashtextextended(s: &str, seed: u64) -> u64 {
    hash_bytes_extended(s.as_bytes(), seed)
}

/// PostgreSQL's `uuid_hash_extended()`: the hash of the 16 bytes of a `uuid`, in the
/// order they are written (and sent in binary format).
pub fn uuid_hash_extended(uuid: &[u8; 16], seed: u64) -> u64 {
    hash_bytes_extended(uuid, seed)
}

/// PostgreSQL's `hash_combine64()`: folds the hash `b` of the next key column into the
/// combined hash `a`.
pub fn hash_combine64(a: u64, b: u64) -> u64 {
    a ^ b
        .wrapping_add(0x49a0_f4dd_15e5_a8e3)
        .wrapping_add(a << 54)
        .wrapping_add(a >> 7)
}

/// The key types pgDog shards on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// `bigint` (`int8`).
    BigInt,
    /// `integer` (`int4`).
    Integer,
    /// `text` or `varchar`, in a UTF-8 database with a deterministic collation.
    #[serde(alias = "varchar")]
    Text,
    /// `uuid`.
    Uuid,
}

impl KeyType {
    /// The SQL name of the type, for messages.
    fn sql_name(self) -> &'static str {
        match self {
            KeyType::BigInt => "bigint",
            KeyType::Integer => "integer",
            KeyType::Text => "text",
            KeyType::Uuid => "uuid",
        }
    }
}

/// A key value as it arrives from SQL text or a bind parameter, parsed for its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValue {
    /// An `integer` or `bigint` (and `smallint` from binary parameters).
    Int(i64),
    Text(String),
    /// The 16 bytes of a `uuid`, in the order they are written.
    Uuid([u8; 16]),
}

impl KeyValue {
    /// Parses SQL text for `ty`, accepting what PostgreSQL's input function for the type
    /// accepts:
    /// - integers in decimal with an optional sign, surrounded by optional whitespace, and
    ///   within the range of the type (`integer` values beyond `i32` are an error, as in
    ///   PostgreSQL);
    /// - uuids as 32 hex digits in either case, optionally with a hyphen after any group of
    ///   four digits (so both `a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11` and
    ///   `a0eebc999c0b4ef8bb6d6bb9bd380a11`), optionally in braces;
    /// - text as is.
    pub fn parse(text: &str, ty: KeyType) -> Result<KeyValue, String> {
        match ty {
            KeyType::Text => Ok(KeyValue::Text(text.to_owned())),
            KeyType::Uuid => parse_uuid(text).map(KeyValue::Uuid),
            KeyType::BigInt | KeyType::Integer => parse_int(text, ty).map(KeyValue::Int),
        }
    }

    /// From a binary-format bind parameter: for the integer types a big-endian `smallint`,
    /// `integer` or `bigint` by length (2, 4 or 8 bytes), for `uuid` its 16 bytes, for text
    /// the UTF-8 bytes of the string.
    pub fn from_binary(bytes: &[u8], ty: KeyType) -> Result<KeyValue, String> {
        match ty {
            KeyType::BigInt | KeyType::Integer => match *bytes {
                [b0, b1] => Ok(KeyValue::Int(i16::from_be_bytes([b0, b1]).into())),
                [b0, b1, b2, b3] => Ok(KeyValue::Int(i32::from_be_bytes([b0, b1, b2, b3]).into())),
                [b0, b1, b2, b3, b4, b5, b6, b7] => Ok(KeyValue::Int(i64::from_be_bytes([
                    b0, b1, b2, b3, b4, b5, b6, b7,
                ]))),
                _ => Err(format!(
                    "a binary {} parameter must be 2, 4 or 8 bytes long, not {}",
                    ty.sql_name(),
                    bytes.len()
                )),
            },
            KeyType::Uuid => <[u8; 16]>::try_from(bytes)
                .map(KeyValue::Uuid)
                .map_err(|_| {
                    format!(
                        "a binary uuid parameter must be 16 bytes long, not {}",
                        bytes.len()
                    )
                }),
            KeyType::Text => std::str::from_utf8(bytes)
                .map(|s| KeyValue::Text(s.to_owned()))
                .map_err(|e| format!("a binary text parameter is not valid UTF-8: {e}")),
        }
    }
}

/// The characters C's `isspace()` accepts, which PostgreSQL's integer input functions skip
/// before and after the number.
const C_SPACE: &[char] = &[' ', '\t', '\n', '\r', '\u{0B}', '\u{0C}'];

fn parse_int(text: &str, ty: KeyType) -> Result<i64, String> {
    let digits = text.trim_matches(C_SPACE);
    let unsigned = digits.strip_prefix(['+', '-']).unwrap_or(digits);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "invalid input syntax for type {}: \"{text}\"",
            ty.sql_name()
        ));
    }
    let out_of_range = || {
        format!(
            "value \"{text}\" is out of range for type {}",
            ty.sql_name()
        )
    };
    // Only digits and one sign are left, so the only possible error is overflow.
    let v: i64 = digits.parse().map_err(|_| out_of_range())?;
    if ty == KeyType::Integer && i32::try_from(v).is_err() {
        return Err(out_of_range());
    }
    Ok(v)
}

/// PostgreSQL's `string_to_uuid()` rules: an optional `{`, 16 pairs of hex digits with an
/// optional single `-` after every second pair except the last, the matching `}`, and
/// nothing else (no whitespace).
fn parse_uuid(text: &str) -> Result<[u8; 16], String> {
    let err = || format!("invalid input syntax for type uuid: \"{text}\"");
    let mut src = text.as_bytes();
    let braces = src.first() == Some(&b'{');
    if braces {
        src = &src[1..];
    }
    let mut uuid = [0u8; 16];
    for (i, byte) in uuid.iter_mut().enumerate() {
        let (hi, lo) = match src {
            [hi, lo, ..] => (
                hex_value(*hi).ok_or_else(err)?,
                hex_value(*lo).ok_or_else(err)?,
            ),
            _ => return Err(err()),
        };
        *byte = (hi << 4) | lo;
        src = &src[2..];
        if i % 2 == 1 && i < 15 && src.first() == Some(&b'-') {
            src = &src[1..];
        }
    }
    if braces {
        src = src.strip_prefix(b"}").ok_or_else(err)?;
    }
    if !src.is_empty() {
        return Err(err());
    }
    Ok(uuid)
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The canonical text form of a uuid (lower case, 8-4-4-4-12), as PostgreSQL prints it.
pub fn format_uuid(uuid: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, byte) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// The hash PostgreSQL's hash support function for a column of type `ty` returns for
/// `value`, with [`HASH_PARTITION_SEED`].
fn column_hash(value: &KeyValue, ty: KeyType) -> u64 {
    const SEED: u64 = HASH_PARTITION_SEED;
    match (ty, value) {
        // Values that cannot exist in an integer column (PostgreSQL would reject them) are
        // hashed as bigints: that gives the same hash as hashint4extended for everything in
        // integer range, and something deterministic beyond it.
        (KeyType::Integer, KeyValue::Int(v)) => match i32::try_from(*v) {
            Ok(v) => hashint4extended(v, SEED),
            Err(_) => hashint8extended(*v, SEED),
        },
        (KeyType::BigInt, KeyValue::Int(v)) => hashint8extended(*v, SEED),
        (KeyType::Text, KeyValue::Text(s)) => hashtextextended(s, SEED),
        (KeyType::Uuid, KeyValue::Uuid(u)) => uuid_hash_extended(u, SEED),

        // A value of another type is converted the way PostgreSQL converts it when storing
        // it in a column of type `ty`: numbers and uuids become their text form, strings are
        // read with the type's input function.
        (KeyType::Text, KeyValue::Int(v)) => hashtextextended(&v.to_string(), SEED),
        (KeyType::Text, KeyValue::Uuid(u)) => hashtextextended(&format_uuid(u), SEED),
        (_, KeyValue::Text(s)) => match KeyValue::parse(s, ty) {
            Ok(parsed) => column_hash(&parsed, ty),
            // No row of the column can hold this value; any shard is as good as another.
            Err(_) => hashtextextended(s, SEED),
        },
        // No conversion exists between these (PostgreSQL would raise an error); hash the
        // value as its own type so the answer is at least deterministic.
        (KeyType::Uuid, KeyValue::Int(v)) => hashint8extended(*v, SEED),
        (KeyType::BigInt | KeyType::Integer, KeyValue::Uuid(u)) => uuid_hash_extended(u, SEED),
    }
}

/// The partition PostgreSQL's hash partitioning with MODULUS `shards` would place a
/// single-column key of type `ty` in, i.e. the REMAINDER of that partition.
///
/// `Integer` keys are hashed with [`hashint4extended`], `BigInt` with [`hashint8extended`],
/// `Text` with [`hashtextextended`] and `Uuid` with [`uuid_hash_extended`], all with
/// [`HASH_PARTITION_SEED`]; the row hash is `hash_combine64(0, hash)`, and the partition is
/// that modulo `shards`. An `Int` outside `i32` range for an `Integer` column (which
/// PostgreSQL would refuse to store) is hashed as a bigint. A value whose variant does not
/// match `ty` is first converted as PostgreSQL would store it in such a column (a number or
/// uuid for a text column as its text form, a string for another column through
/// [`KeyValue::parse`]); values that cannot be converted get a deterministic but
/// meaningless shard.
///
/// # Panics
/// If `shards` is 0.
pub fn shard_for(value: &KeyValue, ty: KeyType, shards: usize) -> usize {
    assert!(shards > 0, "hash partitioning needs at least one shard");
    let row_hash = hash_combine64(0, column_hash(value, ty));
    // usize -> u64 never truncates, and the remainder is below `shards`.
    (row_hash % shards as u64) as usize
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod value_tests;
