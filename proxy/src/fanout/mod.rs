//! Cross-shard execution: what a statement that runs on several shards needs besides
//! sockets. Merging result sets (ORDER BY, LIMIT/OFFSET, aggregates, GROUP BY), combining
//! typed values, and splitting COPY input by shard.
//!
//! **Architecture invariant:** no I/O. The session moves the bytes; this module decides
//! what the client sees.

pub mod copy;
pub mod merge;
pub mod rows;
pub mod value;
