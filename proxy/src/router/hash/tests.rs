//! Hash functions and shard placement against values a real PostgreSQL computed.
use super::*;

// The expected values below come from a real PostgreSQL 15.18 server (Debian build
// 15.18-0+deb12u1, x86_64, so little-endian), initdb'ed with `-E UTF8 --locale=C` in a
// scratch directory for the purpose, by calling the SQL functions of the same names:
//     SELECT to_hex(hashint8extended(42, 8816678312871386365));
//     SELECT to_hex(hashtextextended('abc', 0));
//     SELECT to_hex(uuid_hash_extended('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', -1));
// (the SQL functions take the seed as a signed bigint: 8816678312871386365 is
// HASH_PARTITION_SEED, 4294967296 is 1 << 32 (a seed with a zero low half), -1 is
// u64::MAX, and 0 skips the seed mixing). The placements are PostgreSQL's own partition
// routing, asked with
//     SELECT r FROM generate_series(0, m - 1) r
//     WHERE satisfies_hash_partition('p'::regclass, m, r, value)
// for temporary tables `p` declared `PARTITION BY HASH` over a column of the type (or
// two columns for PLACE_TWO).

const S: u64 = HASH_PARTITION_SEED;
const ZERO: u64 = 0;
const HIGH: u64 = 1 << 32;
const ALL: u64 = u64::MAX;

/// `(v, seed, hashint4extended(v, seed))`
#[rustfmt::skip]
const INT4: &[(i32, u64, u64)] = &[
    (0, S, 0xc2e34bda39f0f0cd),
    (1, S, 0x52d621058124e6d5),
    (-1, S, 0xba5fc748095606c2),
    (42, S, 0x663218bcfb84b17f),
    (-42, S, 0x5c6f545b0b7cb85f),
    (2147483647, S, 0xac09237e4899f89c),
    (-2147483648, S, 0x44893a0f1e949193),
    (123456789, S, 0xf3311fb2440a2aea),
    (0, ALL, 0xc6888bf03c15bbcd),
    (1, ALL, 0x14e62382e6d55cd0),
    (-1, ALL, 0x59f2fcdccd4d3e7f),
    (42, ALL, 0xa9fbad3d2e66a3ca),
    (-42, ALL, 0x73f319054d5bf46c),
    (2147483647, ALL, 0x745d2c8a90970301),
    (-2147483648, ALL, 0x54cb581510494b65),
    (123456789, ALL, 0xd6ae72445efe8c12),
    (0, ZERO, 0x39a825beefbec0af),
    (1, ZERO, 0xcd0f69c48e731746),
    (-1, ZERO, 0xe5cb8f9016fe094a),
    (42, ZERO, 0x6f2a09a559fcfec8),
    (-42, ZERO, 0x7a423c3fe2f1733b),
    (2147483647, ZERO, 0x8195f04afa3b9613),
    (-2147483648, ZERO, 0x1b707e5fa5243fb7),
    (123456789, ZERO, 0x53a55afe1f491564),
    (0, HIGH, 0x3f625f9131e4de75),
    (1, HIGH, 0xc2d83648efdc52d8),
    (-1, HIGH, 0x83fe9f2a4b3387cf),
    (42, HIGH, 0x43573fca134b0e3f),
    (-42, HIGH, 0xfc712d166502156b),
    (2147483647, HIGH, 0xb032e7c50dcb4c9a),
    (-2147483648, HIGH, 0xf398ddeb9eeaaad1),
    (123456789, HIGH, 0xb45cddcf0d29fad2),
];

/// `(v, seed, hashint8extended(v, seed))`
#[rustfmt::skip]
const INT8: &[(i64, u64, u64)] = &[
    (0, S, 0xc2e34bda39f0f0cd),
    (1, S, 0x52d621058124e6d5),
    (-1, S, 0xba5fc748095606c2),
    (42, S, 0x663218bcfb84b17f),
    (-42, S, 0x5c6f545b0b7cb85f),
    (4294967295, S, 0xba5fc748095606c2),
    (4294967296, S, 0x52d621058124e6d5),
    (-4294967296, S, 0xc2e34bda39f0f0cd),
    (-4294967297, S, 0x1dce30b74062c547),
    (1234567890123, S, 0x3ac2d831d1eac5ec),
    (-1234567890123, S, 0x4e50ba0490cbbefe),
    (9223372036854775807, S, 0x44893a0f1e949193),
    (-9223372036854775808, S, 0xac09237e4899f89c),
    (0, ALL, 0xc6888bf03c15bbcd),
    (1, ALL, 0x14e62382e6d55cd0),
    (-1, ALL, 0x59f2fcdccd4d3e7f),
    (42, ALL, 0xa9fbad3d2e66a3ca),
    (-42, ALL, 0x73f319054d5bf46c),
    (4294967295, ALL, 0x59f2fcdccd4d3e7f),
    (4294967296, ALL, 0x14e62382e6d55cd0),
    (-4294967296, ALL, 0xc6888bf03c15bbcd),
    (-4294967297, ALL, 0xffa3e153bdf58714),
    (1234567890123, ALL, 0xde6d17844bc77861),
    (-1234567890123, ALL, 0x5fce8b9c88944602),
    (9223372036854775807, ALL, 0x54cb581510494b65),
    (-9223372036854775808, ALL, 0x745d2c8a90970301),
    (0, ZERO, 0x39a825beefbec0af),
    (1, ZERO, 0xcd0f69c48e731746),
    (-1, ZERO, 0xe5cb8f9016fe094a),
    (42, ZERO, 0x6f2a09a559fcfec8),
    (-42, ZERO, 0x7a423c3fe2f1733b),
    (4294967295, ZERO, 0xe5cb8f9016fe094a),
    (4294967296, ZERO, 0xcd0f69c48e731746),
    (-4294967296, ZERO, 0x39a825beefbec0af),
    (-4294967297, ZERO, 0x06df4899b5f73281),
    (1234567890123, ZERO, 0xa971f11f38bf9f4d),
    (-1234567890123, ZERO, 0xc53fe778c40a00d6),
    (9223372036854775807, ZERO, 0x1b707e5fa5243fb7),
    (-9223372036854775808, ZERO, 0x8195f04afa3b9613),
    (0, HIGH, 0x3f625f9131e4de75),
    (1, HIGH, 0xc2d83648efdc52d8),
    (-1, HIGH, 0x83fe9f2a4b3387cf),
    (42, HIGH, 0x43573fca134b0e3f),
    (-42, HIGH, 0xfc712d166502156b),
    (4294967295, HIGH, 0x83fe9f2a4b3387cf),
    (4294967296, HIGH, 0xc2d83648efdc52d8),
    (-4294967296, HIGH, 0x3f625f9131e4de75),
    (-4294967297, HIGH, 0xd8498afb2429482e),
    (1234567890123, HIGH, 0x1ebea0cd84f59a07),
    (-1234567890123, HIGH, 0x0cd563f4f4eceda1),
    (9223372036854775807, HIGH, 0xf398ddeb9eeaaad1),
    (-9223372036854775808, HIGH, 0xb032e7c50dcb4c9a),
];

/// `(s, seed, hashtextextended(s, seed))`: every tail length 0..=13, one and two
/// whole 12-byte blocks with 11, 0 and 1 bytes left, longer text, multi-byte UTF-8.
#[rustfmt::skip]
const TEXT: &[(&str, u64, u64)] = &[
    ("", S, 0xb0e33d0b543fbfc3), // 0 bytes
    ("a", S, 0xa2f240f8823ba67b), // 1 bytes
    ("ab", S, 0x0845730e49baf33d), // 2 bytes
    ("abc", S, 0x325c02d16f43e1c2), // 3 bytes
    ("abcd", S, 0x37eb4043f6fdb06e), // 4 bytes
    ("abcde", S, 0x42bdebaa1b2c17d9), // 5 bytes
    ("abcdef", S, 0xf6dc296ce47a2776), // 6 bytes
    ("abcdefg", S, 0xeaf53e7fbf379bae), // 7 bytes
    ("abcdefgh", S, 0x94619c573ca212b2), // 8 bytes
    ("abcdefghi", S, 0x92e90b933de8cba0), // 9 bytes
    ("abcdefghij", S, 0x8cba26807c1916a1), // 10 bytes
    ("abcdefghijk", S, 0xe39999edea562278), // 11 bytes
    ("abcdefghijkl", S, 0x92b003d370554786), // 12 bytes
    ("abcdefghijklm", S, 0xa1d42895caa786b3), // 13 bytes
    ("abcdefghijklmnopqrstuvw", S, 0x9a59a44ce94b5481), // 23 bytes
    ("abcdefghijklmnopqrstuvwx", S, 0xffd910c13dcae36e), // 24 bytes
    ("abcdefghijklmnopqrstuvwxy", S, 0x13317813436137bf), // 25 bytes
    ("The quick brown fox jumps over the lazy dog", S, 0x517737d437d650e6), // 43 bytes
    ("ü", S, 0xf61aab5c2ec26bf4), // 2 bytes
    ("ключ", S, 0x3710eb42ac3051d3), // 8 bytes
    ("日本語", S, 0x9047acd944d603db), // 9 bytes
    ("🐘", S, 0x531c9699a2fe94f0), // 4 bytes
    ("straße-日本-🐘-ключ", S, 0x8fd644f8d9008d7f), // 28 bytes
    ("tab\tquote\"back\\slash ÿ", S, 0x779df5edd1bc322a), // 23 bytes
    ("", ALL, 0xb8a1107df9ec3c4b), // 0 bytes
    ("a", ALL, 0x789399726c0512a0), // 1 bytes
    ("ab", ALL, 0x3280f3afb576c54f), // 2 bytes
    ("abc", ALL, 0x1a86146d4d561077), // 3 bytes
    ("abcd", ALL, 0x89f33db4edc6baa6), // 4 bytes
    ("abcde", ALL, 0x0f49b8ecf5cfff32), // 5 bytes
    ("abcdef", ALL, 0x86e501e9a330ea85), // 6 bytes
    ("abcdefg", ALL, 0x5be1b348db6caf4e), // 7 bytes
    ("abcdefgh", ALL, 0x31d06b9112d1f829), // 8 bytes
    ("abcdefghi", ALL, 0xd65e62db70a0b6ac), // 9 bytes
    ("abcdefghij", ALL, 0xba50d8d81c65b9f0), // 10 bytes
    ("abcdefghijk", ALL, 0x275419ecfc6cd65c), // 11 bytes
    ("abcdefghijkl", ALL, 0xcd13a9ca99c9e3d3), // 12 bytes
    ("abcdefghijklm", ALL, 0x561df9f29fc78308), // 13 bytes
    ("abcdefghijklmnopqrstuvw", ALL, 0x768458a120d4e7f5), // 23 bytes
    ("abcdefghijklmnopqrstuvwx", ALL, 0xef4c767227da73c6), // 24 bytes
    ("abcdefghijklmnopqrstuvwxy", ALL, 0xad51dfd183bf9ac0), // 25 bytes
    ("The quick brown fox jumps over the lazy dog", ALL, 0xd787a2bb64f14815), // 43 bytes
    ("ü", ALL, 0xcdf816f750368319), // 2 bytes
    ("ключ", ALL, 0x069ba396645a5e83), // 8 bytes
    ("日本語", ALL, 0x0a01e24d30f0cdf4), // 9 bytes
    ("🐘", ALL, 0xb5e3b751cdeabef4), // 4 bytes
    ("straße-日本-🐘-ключ", ALL, 0x31edcb84465f1f52), // 28 bytes
    ("tab\tquote\"back\\slash ÿ", ALL, 0x484fb19357d928bf), // 23 bytes
    ("", ZERO, 0x9fb1b765a7ea466d), // 0 bytes
    ("a", ZERO, 0x31d94c66401370b1), // 1 bytes
    ("ab", ZERO, 0x2751f60c666effbd), // 2 bytes
    ("abc", ZERO, 0xa25b273dd12feb97), // 3 bytes
    ("abcd", ZERO, 0xf196c20ce885082c), // 4 bytes
    ("abcde", ZERO, 0x2ab16994e56fc644), // 5 bytes
    ("abcdef", ZERO, 0x0409b0ff97d7dfc0), // 6 bytes
    ("abcdefg", ZERO, 0xaa8a45cf1de65ece), // 7 bytes
    ("abcdefgh", ZERO, 0x84bc1e238b1e9c33), // 8 bytes
    ("abcdefghi", ZERO, 0xd2817546fa822f5f), // 9 bytes
    ("abcdefghij", ZERO, 0xd3d2a43a741ce98c), // 10 bytes
    ("abcdefghijk", ZERO, 0x2b3346a5a78ef3d3), // 11 bytes
    ("abcdefghijkl", ZERO, 0x97216e83a1763ad4), // 12 bytes
    ("abcdefghijklm", ZERO, 0x7b1e572e1830c6d0), // 13 bytes
    ("abcdefghijklmnopqrstuvw", ZERO, 0xef5dd13fbb7de978), // 23 bytes
    ("abcdefghijklmnopqrstuvwx", ZERO, 0xe52be9a24a99b38f), // 24 bytes
    ("abcdefghijklmnopqrstuvwxy", ZERO, 0x4e6581e63a6bea6d), // 25 bytes
    ("The quick brown fox jumps over the lazy dog", ZERO, 0x1e4883e7ceae6ac7), // 43 bytes
    ("ü", ZERO, 0xbee279f56d3e865c), // 2 bytes
    ("ключ", ZERO, 0x275800c4cb476180), // 8 bytes
    ("日本語", ZERO, 0x27d73c3f210d4344), // 9 bytes
    ("🐘", ZERO, 0xdfc80411458a5589), // 4 bytes
    ("straße-日本-🐘-ключ", ZERO, 0xad9511e13b67ebde), // 28 bytes
    ("tab\tquote\"back\\slash ÿ", ZERO, 0x00639e1041c8547d), // 23 bytes
    ("", HIGH, 0x1f8f176b0b318729), // 0 bytes
    ("a", HIGH, 0xaf4c0513c89e8423), // 1 bytes
    ("ab", HIGH, 0xf4c2725fd1200175), // 2 bytes
    ("abc", HIGH, 0xee60c9babd69c208), // 3 bytes
    ("abcd", HIGH, 0x90e7f02c29bf22f9), // 4 bytes
    ("abcde", HIGH, 0xc4bef79f4c84b108), // 5 bytes
    ("abcdef", HIGH, 0x10e05e6cd6ba7309), // 6 bytes
    ("abcdefg", HIGH, 0xf3a8280dbbfbccfa), // 7 bytes
    ("abcdefgh", HIGH, 0x9310d31ff1ec0f2e), // 8 bytes
    ("abcdefghi", HIGH, 0x623b97da904a938f), // 9 bytes
    ("abcdefghij", HIGH, 0xe91611629e723c20), // 10 bytes
    ("abcdefghijk", HIGH, 0xfea44959e7ff1507), // 11 bytes
    ("abcdefghijkl", HIGH, 0x65e9532546565e4b), // 12 bytes
    ("abcdefghijklm", HIGH, 0x957519e1e2ca6a29), // 13 bytes
    ("abcdefghijklmnopqrstuvw", HIGH, 0xc614ce1e9f1032d3), // 23 bytes
    ("abcdefghijklmnopqrstuvwx", HIGH, 0x2f60e577db6cdc81), // 24 bytes
    ("abcdefghijklmnopqrstuvwxy", HIGH, 0x6cc07bc173e9fd83), // 25 bytes
    ("The quick brown fox jumps over the lazy dog", HIGH, 0x6ae19c995a658581), // 43 bytes
    ("ü", HIGH, 0xafcd7c3cff55367e), // 2 bytes
    ("ключ", HIGH, 0x367f25aedcc54a75), // 8 bytes
    ("日本語", HIGH, 0xb71cf8b853f6c0d2), // 9 bytes
    ("🐘", HIGH, 0xda62ae22b595b872), // 4 bytes
    ("straße-日本-🐘-ключ", HIGH, 0xd3f57cd70278283e), // 28 bytes
    ("tab\tquote\"back\\slash ÿ", HIGH, 0x6d7077b0a9d24170), // 23 bytes
];

/// `(u, seed, uuid_hash_extended(u, seed))`; the last two are `md5('1')::uuid` and
/// `md5('pgdog')::uuid`.
#[rustfmt::skip]
const UUID: &[(&str, u64, u64)] = &[
    ("00000000-0000-0000-0000-000000000000", S, 0xb6b5d3c4aa5d92c2),
    ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", S, 0x05e42c7f7f75bced),
    ("ffffffff-ffff-ffff-ffff-ffffffffffff", S, 0xfdeeb1999c98549e),
    ("c4ca4238-a0b9-2382-0dcc-509a6f75849b", S, 0x511f9bfef7cee975),
    ("b3626133-df28-0a7d-6b1e-d3623caff238", S, 0xd27a5d5788be400b),
    ("00000000-0000-0000-0000-000000000000", ALL, 0xddbaf22587181822),
    ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", ALL, 0xde2566e5678c3310),
    ("ffffffff-ffff-ffff-ffff-ffffffffffff", ALL, 0x220cf690057af0bf),
    ("c4ca4238-a0b9-2382-0dcc-509a6f75849b", ALL, 0xeda20470295d8cce),
    ("b3626133-df28-0a7d-6b1e-d3623caff238", ALL, 0x3f03c552b9126efc),
    ("00000000-0000-0000-0000-000000000000", ZERO, 0xa0cfe6af50af2853),
    ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", ZERO, 0x68ae4fe544d2cf05),
    ("ffffffff-ffff-ffff-ffff-ffffffffffff", ZERO, 0x0412872ad753a869),
    ("c4ca4238-a0b9-2382-0dcc-509a6f75849b", ZERO, 0x89f7a7e9887916cd),
    ("b3626133-df28-0a7d-6b1e-d3623caff238", ZERO, 0x452237437b22bfa1),
    ("00000000-0000-0000-0000-000000000000", HIGH, 0x2f07c61759b22e25),
    ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", HIGH, 0x2527faa8df112c1c),
    ("ffffffff-ffff-ffff-ffff-ffffffffffff", HIGH, 0x26e9281144d063af),
    ("c4ca4238-a0b9-2382-0dcc-509a6f75849b", HIGH, 0xccdf682d0c37d375),
    ("b3626133-df28-0a7d-6b1e-d3623caff238", HIGH, 0x99c22ac42e575033),
];

/// The moduli of the placement tables below, in order.
const MODULI: [usize; 8] = [1, 2, 3, 4, 5, 7, 10, 16];

/// `(v, remainder for each of MODULI)` of a `bigint` hash partition key.
#[rustfmt::skip]
const PLACE_INT8: &[(i64, [usize; 8])] = &[
    (0, [0, 0, 2, 0, 3, 4, 8, 0]),
    (1, [0, 0, 2, 0, 0, 5, 0, 8]),
    (-1, [0, 1, 2, 1, 4, 0, 9, 5]),
    (42, [0, 0, 0, 2, 4, 0, 4, 2]),
    (4294967296, [0, 0, 2, 0, 0, 5, 0, 8]),
    (-9223372036854775808, [0, 1, 1, 3, 4, 0, 9, 15]),
    (9223372036854775807, [0, 0, 0, 2, 1, 3, 6, 6]),
    (1234567890123, [0, 1, 0, 3, 1, 0, 1, 15]),
];

/// `(v, remainder for each of MODULI)` of an `integer` hash partition key.
#[rustfmt::skip]
const PLACE_INT4: &[(i32, [usize; 8])] = &[
    (0, [0, 0, 2, 0, 3, 4, 8, 0]),
    (1, [0, 0, 2, 0, 0, 5, 0, 8]),
    (-1, [0, 1, 2, 1, 4, 0, 9, 5]),
    (42, [0, 0, 0, 2, 4, 0, 4, 2]),
    (2147483647, [0, 1, 1, 3, 4, 0, 9, 15]),
    (-2147483648, [0, 0, 0, 2, 1, 3, 6, 6]),
    (100000, [0, 1, 0, 1, 4, 4, 9, 9]),
];

/// `(s, remainder for each of MODULI)` of a `text` hash partition key.
#[rustfmt::skip]
const PLACE_TEXT: &[(&str, [usize; 8])] = &[
    ("", [0, 0, 2, 2, 1, 1, 6, 6]),
    ("a", [0, 0, 2, 2, 2, 3, 2, 14]),
    ("hello", [0, 0, 1, 0, 4, 3, 4, 4]),
    ("user@example.com", [0, 1, 0, 3, 0, 1, 5, 15]),
    ("ключ", [0, 0, 1, 2, 2, 5, 2, 6]),
    ("日本語", [0, 0, 0, 2, 1, 6, 6, 14]),
    ("The quick brown fox jumps over the lazy dog", [0, 1, 1, 1, 4, 1, 9, 9]),
];

/// `(u, remainder for each of MODULI)` of a `uuid` hash partition key.
#[rustfmt::skip]
const PLACE_UUID: &[(&str, [usize; 8])] = &[
    ("00000000-0000-0000-0000-000000000000", [0, 1, 0, 1, 0, 2, 5, 5]),
    ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", [0, 0, 1, 0, 1, 6, 6, 0]),
    ("c4ca4238-a0b9-2382-0dcc-509a6f75849b", [0, 0, 0, 0, 2, 4, 2, 8]),
    ("c81e728d-9d4c-2f63-6f06-7f89cc14862c", [0, 1, 2, 3, 3, 4, 3, 7]),
];

/// The moduli of `PLACE_TWO`, in order.
const MODULI_TWO: [u64; 8] = [2, 3, 4, 5, 7, 10, 16, 97];

/// `(a, b, remainder for each of MODULI_TWO)` of a two-column key `PARTITION BY HASH
/// (a bigint, b text)`: checks `hash_combine64` beyond its first step.
#[rustfmt::skip]
const PLACE_TWO: &[(i64, &str, [u64; 8])] = &[
    (0, "a", [1, 1, 1, 3, 6, 3, 1, 65]),
    (1, "a", [1, 1, 1, 2, 0, 7, 5, 92]),
    (-1, "hello", [0, 1, 2, 0, 4, 0, 6, 67]),
    (42, "", [0, 1, 0, 2, 1, 2, 8, 10]),
    (4294967296, "ключ", [1, 0, 1, 4, 5, 9, 13, 2]),
    (7, "The quick brown fox jumps over the lazy dog", [0, 1, 0, 2, 6, 2, 4, 90]),
];

#[test]
fn int4_matches_postgres() {
    for &(v, seed, expected) in INT4 {
        assert_eq!(hashint4extended(v, seed), expected, "{v}, seed {seed:#x}");
        assert_eq!(hash_uint32_extended(v as u32, seed), expected, "{v}");
    }
}

#[test]
fn int8_matches_postgres() {
    for &(v, seed, expected) in INT8 {
        assert_eq!(hashint8extended(v, seed), expected, "{v}, seed {seed:#x}");
    }
}

#[test]
fn text_matches_postgres() {
    for &(s, seed, expected) in TEXT {
        assert_eq!(hashtextextended(s, seed), expected, "{s:?}, seed {seed:#x}");
        assert_eq!(hash_bytes_extended(s.as_bytes(), seed), expected, "{s:?}");
    }
}

#[test]
fn unaligned_keys_hash_the_same() {
    // PostgreSQL reads aligned keys a word at a time; the result must not depend on
    // where the bytes sit in memory.
    let mut buf = [0u8; 64];
    for &(s, seed, expected) in TEXT {
        for offset in 1..4 {
            let key = &mut buf[offset..offset + s.len()];
            key.copy_from_slice(s.as_bytes());
            assert_eq!(
                hash_bytes_extended(key, seed),
                expected,
                "{s:?} at +{offset}"
            );
        }
    }
}

#[test]
fn uuid_matches_postgres() {
    for &(u, seed, expected) in UUID {
        let Ok(KeyValue::Uuid(bytes)) = KeyValue::parse(u, KeyType::Uuid) else {
            panic!("{u}");
        };
        assert_eq!(format_uuid(&bytes), u);
        assert_eq!(
            uuid_hash_extended(&bytes, seed),
            expected,
            "{u}, seed {seed:#x}"
        );
    }
}

#[test]
fn placement_matches_postgres_partitions() {
    let check = |value: KeyValue, ty: KeyType, remainders: &[usize; 8]| {
        for (&modulus, &remainder) in MODULI.iter().zip(remainders) {
            assert_eq!(
                shard_for(&value, ty, modulus),
                remainder,
                "{value:?} as {ty:?}, modulus {modulus}"
            );
        }
    };
    for (v, r) in PLACE_INT8 {
        check(KeyValue::Int(*v), KeyType::BigInt, r);
    }
    for (v, r) in PLACE_INT4 {
        check(KeyValue::Int((*v).into()), KeyType::Integer, r);
        // Hash partitioning puts an integer where the same bigint would go.
        check(KeyValue::Int((*v).into()), KeyType::BigInt, r);
    }
    for (s, r) in PLACE_TEXT {
        check(KeyValue::Text(s.to_string()), KeyType::Text, r);
    }
    for (u, r) in PLACE_UUID {
        check(KeyValue::parse(u, KeyType::Uuid).unwrap(), KeyType::Uuid, r);
    }
}

#[test]
fn two_column_placement_matches_postgres() {
    for (a, b, remainders) in PLACE_TWO {
        let row_hash = hash_combine64(
            hash_combine64(0, hashint8extended(*a, S)),
            hashtextextended(b, S),
        );
        for (&modulus, &remainder) in MODULI_TWO.iter().zip(remainders) {
            assert_eq!(
                row_hash % modulus,
                remainder,
                "({a}, {b:?}), modulus {modulus}"
            );
        }
    }
}

#[test]
fn seed_constant_matches_postgres_bigint_literal() {
    // partition.h: #define HASH_PARTITION_SEED UINT64CONST(0x7A5B22367996DCFD)
    assert_eq!(HASH_PARTITION_SEED as i64, 8816678312871386365);
}

#[test]
fn uint32_shortcut_equals_hashing_four_bytes() {
    for k in [0u32, 1, 42, 0xdead_beef, u32::MAX, 0x8000_0000] {
        for seed in [S, ZERO, HIGH, ALL, 12345] {
            assert_eq!(
                hash_uint32_extended(k, seed),
                hash_bytes_extended(&k.to_le_bytes(), seed),
                "k = {k}, seed = {seed}"
            );
        }
    }
}

#[test]
fn int8_hash_equals_int4_hash_in_integer_range() {
    for v in [
        0i32,
        1,
        -1,
        42,
        -42,
        i32::MAX,
        i32::MIN,
        123_456_789,
        -65_536,
    ] {
        assert_eq!(hashint8extended(v.into(), S), hashint4extended(v, S), "{v}");
    }
}

#[test]
fn combine_from_zero() {
    // hash_combine64(0, b) = b + 0x49a0f4dd15e5a8e3, wrapping.
    assert_eq!(hash_combine64(0, 0), 0x49a0_f4dd_15e5_a8e3);
    assert_eq!(hash_combine64(0, u64::MAX), 0x49a0_f4dd_15e5_a8e2);
    // a ^= b + C + (a << 54) + (a >> 7)
    let a = 0x0123_4567_89ab_cdefu64;
    let b = 0xfedc_ba98_7654_3210u64;
    let expected = a ^ b
        .wrapping_add(0x49a0_f4dd_15e5_a8e3)
        .wrapping_add(a << 54)
        .wrapping_add(a >> 7);
    assert_eq!(hash_combine64(a, b), expected);
}

#[test]
fn one_shard_takes_everything() {
    assert_eq!(shard_for(&KeyValue::Int(42), KeyType::BigInt, 1), 0);
    assert_eq!(shard_for(&KeyValue::Text("x".into()), KeyType::Text, 1), 0);
}

#[test]
#[should_panic(expected = "at least one shard")]
fn zero_shards_panics() {
    shard_for(&KeyValue::Int(42), KeyType::BigInt, 0);
}
