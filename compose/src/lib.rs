//! Compose files (the Compose Specification, as Docker Compose v2 reads them) into a typed, validated model.
pub mod error;
pub mod yaml;

pub use error::{Error, Pos, Result, Warning};
