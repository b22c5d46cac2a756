//! Writing to pgDog's log.
//!
//! pgDog tags each line with the plugin's name and version, so messages need not repeat
//! them. Inside a wasm component the line goes to the host; in native builds (unit tests)
//! it goes to stderr, where the test harness shows it for failing tests.

use crate::types::Level;

/// Writes one line at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::pgdog::router::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

pub fn trace(message: &str) {
    log(Level::Trace, message);
}

pub fn debug(message: &str) {
    log(Level::Debug, message);
}

pub fn info(message: &str) {
    log(Level::Info, message);
}

pub fn warn(message: &str) {
    log(Level::Warn, message);
}

pub fn error(message: &str) {
    log(Level::Error, message);
}
