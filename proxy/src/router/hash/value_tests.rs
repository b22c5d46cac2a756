//! Reading shard keys: text and binary parameters, and values of one type written for a
//! column of another, read the way PostgreSQL would store them.
use super::*;

#[test]
fn parse_integers() {
    let int = |s: &str, ty| KeyValue::parse(s, ty);
    assert_eq!(int("42", KeyType::BigInt), Ok(KeyValue::Int(42)));
    assert_eq!(int("-42", KeyType::Integer), Ok(KeyValue::Int(-42)));
    assert_eq!(int("+7", KeyType::BigInt), Ok(KeyValue::Int(7)));
    assert_eq!(int("  007 \n", KeyType::BigInt), Ok(KeyValue::Int(7)));
    assert_eq!(
        int("-9223372036854775808", KeyType::BigInt),
        Ok(KeyValue::Int(i64::MIN))
    );
    assert_eq!(
        int("9223372036854775807", KeyType::BigInt),
        Ok(KeyValue::Int(i64::MAX))
    );
    assert_eq!(
        int("-2147483648", KeyType::Integer),
        Ok(KeyValue::Int(i32::MIN.into()))
    );
    for bad in [
        "", " ", "-", "+", "1.5", "1e3", "0x10", "--1", "+-1", "1 2", "abc", "١",
    ] {
        assert!(int(bad, KeyType::BigInt).is_err(), "{bad:?}");
        assert!(int(bad, KeyType::Integer).is_err(), "{bad:?}");
    }
    let err = int("9223372036854775808", KeyType::BigInt).unwrap_err();
    assert!(err.contains("out of range for type bigint"), "{err}");
    let err = int("2147483648", KeyType::Integer).unwrap_err();
    assert!(err.contains("out of range for type integer"), "{err}");
    assert!(int("-2147483649", KeyType::Integer).is_err());
    let err = int("12a", KeyType::Integer).unwrap_err();
    assert!(
        err.contains("invalid input syntax for type integer"),
        "{err}"
    );
}

#[test]
fn parse_uuids() {
    let expected = KeyValue::Uuid([
        0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a,
        0x11,
    ]);
    // The forms PostgreSQL's documentation lists as accepted input.
    for ok in [
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
        "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
        "a0eebc999c0b4ef8bb6d6bb9bd380a11",
        "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
        "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}",
        "a0eeBC99-9c0b-4ef8-bb6d-6bb9bd380a11",
    ] {
        assert_eq!(
            KeyValue::parse(ok, KeyType::Uuid),
            Ok(expected.clone()),
            "{ok}"
        );
    }
    for bad in [
        "",
        "{}",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-",
        "a0eebc9-99c0b-4ef8-bb6d-6bb9bd380a11",
        "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
        "-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
        " a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 ",
        "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380aé",
    ] {
        let err = KeyValue::parse(bad, KeyType::Uuid).unwrap_err();
        assert!(
            err.contains("invalid input syntax for type uuid"),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn parse_text_is_verbatim() {
    for s in ["", " padded ", "ключ", "42"] {
        assert_eq!(
            KeyValue::parse(s, KeyType::Text),
            Ok(KeyValue::Text(s.to_string()))
        );
    }
}

#[test]
fn from_binary_parameters() {
    let bin = KeyValue::from_binary;
    assert_eq!(bin(&[0xff, 0xfe], KeyType::Integer), Ok(KeyValue::Int(-2)));
    assert_eq!(
        bin(&(-5i32).to_be_bytes(), KeyType::Integer),
        Ok(KeyValue::Int(-5))
    );
    assert_eq!(
        bin(&(1i64 << 40).to_be_bytes(), KeyType::BigInt),
        Ok(KeyValue::Int(1 << 40))
    );
    assert_eq!(
        bin(&i64::MIN.to_be_bytes(), KeyType::BigInt),
        Ok(KeyValue::Int(i64::MIN))
    );
    assert_eq!(
        bin(&7i32.to_be_bytes(), KeyType::BigInt),
        Ok(KeyValue::Int(7))
    );
    for len in [0, 1, 3, 5, 16] {
        assert!(bin(&vec![0; len], KeyType::BigInt).is_err(), "{len}");
        assert!(bin(&vec![0; len], KeyType::Integer).is_err(), "{len}");
    }
    let uuid: [u8; 16] = core::array::from_fn(|i| i as u8);
    assert_eq!(bin(&uuid, KeyType::Uuid), Ok(KeyValue::Uuid(uuid)));
    assert!(bin(&uuid[..15], KeyType::Uuid).is_err());
    assert!(bin(&[0; 17], KeyType::Uuid).is_err());
    assert_eq!(
        bin("ключ".as_bytes(), KeyType::Text),
        Ok(KeyValue::Text("ключ".into()))
    );
    assert_eq!(bin(b"", KeyType::Text), Ok(KeyValue::Text(String::new())));
    assert!(bin(&[0xff, 0xfe], KeyType::Text).is_err());
}

#[test]
fn key_type_from_config() {
    #[derive(Deserialize)]
    struct Column {
        data_type: KeyType,
    }
    for (name, ty) in [
        ("bigint", KeyType::BigInt),
        ("integer", KeyType::Integer),
        ("text", KeyType::Text),
        ("varchar", KeyType::Text),
        ("uuid", KeyType::Uuid),
    ] {
        let column: Column = toml::from_str(&format!("data_type = \"{name}\"")).unwrap();
        assert_eq!(column.data_type, ty, "{name}");
    }
    for bad in ["BigInt", "int", "float", "big_int"] {
        assert!(
            toml::from_str::<Column>(&format!("data_type = \"{bad}\"")).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn mismatched_values_are_converted_like_postgres_stores_them() {
    let uuid = match KeyValue::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", KeyType::Uuid) {
        Ok(KeyValue::Uuid(u)) => u,
        other => panic!("{other:?}"),
    };
    for shards in [2, 3, 7, 16] {
        let same = |a: KeyValue, b: KeyValue, ty| {
            assert_eq!(
                shard_for(&a, ty, shards),
                shard_for(&b, ty, shards),
                "{a:?} {b:?}"
            );
        };
        same(
            KeyValue::Text("-42".into()),
            KeyValue::Int(-42),
            KeyType::BigInt,
        );
        same(
            KeyValue::Text(" 42 ".into()),
            KeyValue::Int(42),
            KeyType::Integer,
        );
        same(
            KeyValue::Int(-42),
            KeyValue::Text("-42".into()),
            KeyType::Text,
        );
        same(
            KeyValue::Uuid(uuid),
            KeyValue::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
            KeyType::Text,
        );
        same(
            KeyValue::Text("{A0EEBC999C0B4EF8BB6D6BB9BD380A11}".into()),
            KeyValue::Uuid(uuid),
            KeyType::Uuid,
        );
        // An Int beyond i32 for an integer column is hashed as a bigint.
        same(
            KeyValue::Int(1 << 40),
            KeyValue::Int(1 << 40),
            KeyType::BigInt,
        );
        assert_eq!(
            shard_for(&KeyValue::Int(1 << 40), KeyType::Integer, shards),
            shard_for(&KeyValue::Int(1 << 40), KeyType::BigInt, shards)
        );
        // Unconvertible values still get a valid shard.
        assert!(shard_for(&KeyValue::Text("x".into()), KeyType::Uuid, shards) < shards);
        assert!(shard_for(&KeyValue::Int(1), KeyType::Uuid, shards) < shards);
        assert!(shard_for(&KeyValue::Uuid(uuid), KeyType::BigInt, shards) < shards);
    }
}
