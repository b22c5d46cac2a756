//! Deciding where a statement goes: parse (cached), summarise, and route by shard.
//!
//! **Architecture invariant:** the router knows nothing of sockets or sessions; it turns
//! SQL text, bound parameters and configuration into a decision.

pub mod cache;
pub mod hash;
pub mod rewrite;
pub mod route;
pub mod statement;
pub mod summarize;
