//! Compose files (the Compose Specification, as Docker Compose v2 reads them) into a typed, validated model.
//!
//! [`load`] finds the files (or takes `-f` ones), reads `.env`, parses each file's YAML (yaml-rust2 events,
//! so every node keeps its line and column), interpolates `${VAR}`s, decodes the typed model (unknown keys:
//! warnings with their line), merges the files, resolves paths and defaults, and validates the project.
//! No runtime here: the [`Project`] has what `up`/`down` need (dependency order, names, labels, config hashes).
pub mod decode;
pub mod dotenv;
mod emit;
pub mod error;
pub mod interpolate;
pub mod load;
pub mod merge;
pub mod model;
mod project;
pub mod resolve;
pub mod units;
pub mod validate;
pub mod yaml;

pub use error::{Error, Pos, Result, Warning};
pub use load::{find_files, load, normalize_project_name, Loaded, Options, Source};
pub use model::{Project, Service};
pub use project::{
    LABEL_CONFIG_HASH, LABEL_NETWORK, LABEL_NUMBER, LABEL_PROJECT, LABEL_SERVICE, LABEL_VOLUME,
};

#[cfg(test)]
mod tests;
