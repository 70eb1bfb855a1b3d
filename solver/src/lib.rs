//! hoist-solver
