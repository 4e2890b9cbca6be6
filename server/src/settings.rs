//! Typed settings for `gridlink serve`, from flags and `GRIDLINK_*` environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;

/// The address `gridlink serve` listens on unless told otherwise.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen.
    pub bind: SocketAddr,
    /// Whether to load the bundled demo area.
    pub demo: bool,
    /// How far outside every grid (in metres) a point may lie and still be placed.
    pub snap_tolerance_m: f64,
    /// A category tree to use instead of the one that ships.
    pub categories: Option<PathBuf>,
    /// Where to store: `sqlite://PATH` or `postgres://…`.
    pub database: String,
}

/// The database `gridlink serve` stores into unless told otherwise.
pub const DEFAULT_DATABASE: &str = "sqlite://gridlink.db";

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The demo's passwords are public: it may only listen on a loopback address.
    #[error(
        "--demo only listens on a loopback address (127.0.0.1, ::1), not {0}: the demo accounts' passwords are public"
    )]
    DemoNotOnLoopback(SocketAddr),
    /// The snapping tolerance must be a sensible distance.
    #[error("the snapping tolerance must be between 0 and 1000 metres, not {0}")]
    BadTolerance(f64),
}

impl Settings {
    /// Checks the combination of settings before anything starts.
    pub fn validate(self) -> Result<Settings, SettingsError> {
        if self.demo && !self.bind.ip().is_loopback() {
            return Err(SettingsError::DemoNotOnLoopback(self.bind));
        }
        if !(0.0..=1000.0).contains(&self.snap_tolerance_m) {
            return Err(SettingsError::BadTolerance(self.snap_tolerance_m));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(bind: &str, demo: bool) -> Settings {
        Settings {
            bind: bind.parse().unwrap(),
            demo,
            snap_tolerance_m: 50.0,
            categories: None,
            database: DEFAULT_DATABASE.into(),
        }
    }

    #[test]
    fn the_demo_refuses_anything_but_loopback() {
        assert!(settings("127.0.0.1:8080", true).validate().is_ok());
        assert!(settings("[::1]:0", true).validate().is_ok());
        assert!(matches!(settings("0.0.0.0:8080", true).validate(), Err(SettingsError::DemoNotOnLoopback(_))));
        assert!(matches!(settings("192.168.1.5:8080", true).validate(), Err(SettingsError::DemoNotOnLoopback(_))));
    }

    #[test]
    fn without_the_demo_any_address_will_do() {
        assert!(settings("0.0.0.0:8080", false).validate().is_ok());
    }

    #[test]
    fn the_tolerance_is_bounded() {
        let s = Settings { snap_tolerance_m: -1.0, ..settings("127.0.0.1:0", true) };
        assert!(matches!(s.validate(), Err(SettingsError::BadTolerance(_))));
    }
}
