//! Values written the way Docker's Go tools write them, shared by every hoist crate that reads or prints one:
//! a HEALTHCHECK's `--interval=1m30s`, `--health-timeout`, compose's `stop_grace_period`, `--filter until=24h`.
//! One definition, so `1.5s` or `300ms` means the same in a Dockerfile, a flag and a compose file.
mod go_duration;

pub use go_duration::{format_go_duration, parse_go_duration, DurationError};
