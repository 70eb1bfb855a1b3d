//! Compose files (the Compose Specification, as Docker Compose v2 reads them) into a typed, validated model.
pub mod decode;
pub mod dotenv;
pub mod error;
pub mod interpolate;
pub mod model;
pub mod units;
pub mod yaml;

pub use error::{Error, Pos, Result, Warning};
