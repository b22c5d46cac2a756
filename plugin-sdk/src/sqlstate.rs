//! SQLSTATE codes a plugin commonly rejects with.
//!
//! Clients and drivers branch on the class (the first two characters): `42` is an access
//! or syntax problem the application must fix, `0A` an unsupported feature, and only a few
//! classes (`40`, `08`, `57`) are treated as worth retrying. Picking the closest standard
//! code keeps a plugin's refusals behaving like PostgreSQL's own.

/// `0A000`: the statement asks for something this setup does not support.
pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
/// `21000`: the statement would affect more rows than allowed (pg-safeupdate uses it for
/// UPDATE/DELETE without WHERE).
pub const CARDINALITY_VIOLATION: &str = "21000";
/// `22023`: a value in the statement is not acceptable.
pub const INVALID_PARAMETER_VALUE: &str = "22023";
/// `25006`: a write in a read-only context.
pub const READ_ONLY_SQL_TRANSACTION: &str = "25006";
/// `42501`: the user may not do this.
pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
/// `42704`: the statement names an object that does not exist.
pub const UNDEFINED_OBJECT: &str = "42704";
/// `42P01`: the statement names a table that does not exist.
pub const UNDEFINED_TABLE: &str = "42P01";
/// `54000`: the statement exceeds a configured limit.
pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
/// `F0000`: the configuration is inconsistent.
pub const CONFIG_FILE_ERROR: &str = "F0000";
/// `P0001`: a generic refusal raised by user code, as PL/pgSQL's `RAISE EXCEPTION`.
pub const RAISE_EXCEPTION: &str = "P0001";
/// `XX000`: something inside the plugin went wrong.
pub const INTERNAL_ERROR: &str = "XX000";
