//! `users.toml`: who may connect, to which database, and as whom pgDog logs into the server.

use serde::Deserialize;
use toml::Spanned;

use super::{AuthType, PoolerMode};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UsersFile {
    #[serde(default)]
    pub users: Vec<RawUser>,
}

/// A user as written, keeping where its `database` key is for error messages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUser {
    pub name: String,
    pub database: Spanned<String>,
    pub password: Option<String>,
    pub pool_size: Option<usize>,
    pub min_pool_size: Option<usize>,
    pub pooler_mode: Option<PoolerMode>,
    pub auth_type: Option<AuthType>,
    pub server_user: Option<String>,
    pub server_password: Option<String>,
}

/// One `[[users]]` entry.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub database: String,
    /// The password clients must present; a user without one cannot log in.
    pub password: Option<String>,
    pub pool_size: Option<usize>,
    pub min_pool_size: Option<usize>,
    pub pooler_mode: Option<PoolerMode>,
    pub auth_type: Option<AuthType>,
    pub server_user: Option<String>,
    pub server_password: Option<String>,
}

impl From<RawUser> for User {
    fn from(raw: RawUser) -> Self {
        User {
            name: raw.name,
            database: raw.database.into_inner(),
            password: raw.password,
            pool_size: raw.pool_size,
            min_pool_size: raw.min_pool_size,
            pooler_mode: raw.pooler_mode,
            auth_type: raw.auth_type,
            server_user: raw.server_user,
            server_password: raw.server_password,
        }
    }
}
