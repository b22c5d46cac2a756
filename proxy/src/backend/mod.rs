//! The server side: connections to PostgreSQL, the pools that keep them, and the set of
//! pools one configuration describes.

pub mod balance;
pub mod clock;
pub mod error;
pub mod pool;
pub mod pools;
pub mod prepared;
pub mod server;
pub mod worker;

pub use balance::{Host, Shard};
pub use error::BackendError;
pub use pool::{Guard, Pool, PoolSettings};
pub use pools::{Cluster, Pools};
pub use server::{Server, ServerAddress};
