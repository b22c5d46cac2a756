//! What pgDog computes for a plugin.
//!
//! These call the component's `host` imports. Outside a wasm component (a plugin's native
//! unit tests) there is no host to call, so they return an error instead of reaching
//! wit-bindgen's native stubs, which would abort the test. Plugin logic that needs the
//! hash should take it as a function parameter so tests can supply their own.

use crate::types::ShardKey;

/// The shard PostgreSQL's hash partitioning puts `key` in, among `shard_count` shards:
/// the same placement pgDog's built-in sharding uses. Errors on a malformed uuid or a
/// shard count of 0, and always outside a wasm component.
pub fn shard_for(key: &ShardKey, shard_count: u32) -> Result<u32, String> {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::pgdog::router::host::shard_for(key, shard_count)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (key, shard_count);
        Err("shard_for needs the pgDog host: it only works inside a wasm component".into())
    }
}

impl From<i64> for ShardKey {
    fn from(value: i64) -> Self {
        Self::Integer(value)
    }
}

impl From<&str> for ShardKey {
    fn from(value: &str) -> Self {
        Self::Text(value.to_string())
    }
}

impl From<String> for ShardKey {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_shard_for_is_an_error_not_an_abort() {
        assert!(shard_for(&ShardKey::from(1), 2).is_err());
        assert_eq!(ShardKey::from("a"), ShardKey::Text("a".into()));
    }
}
