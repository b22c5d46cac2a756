//! `pgdog demo`: a ready-to-try local setup (filled in below).

use std::path::PathBuf;

pub fn run(_port: u16, _dir: Option<PathBuf>) -> Result<(), String> {
    Err("not yet".into())
}
