//! `hoist ps`: every container with its current state (a dead monitor's container shows as exited).

use std::path::Path;

use super::state::{self, ContainerRecord, ContainerState, Status};
use super::Result;

#[derive(Debug, Clone)]
pub struct ContainerSummary {
    pub record: ContainerRecord,
    pub state: ContainerState,
}

impl ContainerSummary {
    /// docker's STATUS column: `Up`, `Exited (0)`, `Created`.
    pub fn status_text(&self) -> String {
        match self.state.status {
            Status::Created => "Created".into(),
            Status::Running => "Up".into(),
            Status::Exited => format!("Exited ({})", self.state.exit_code.unwrap_or(-1)),
        }
    }
}

/// Running containers, or all with `all`; newest first.
pub fn list(root: &Path, all: bool) -> Result<Vec<ContainerSummary>> {
    let mut out = Vec::new();
    for dir in state::all(root)? {
        let (Ok(record), Ok(state)) = (dir.record(), dir.current_state()) else {
            continue;
        };
        if all || state.status == Status::Running {
            out.push(ContainerSummary { record, state });
        }
    }
    out.sort_by(|a, b| b.record.created.cmp(&a.record.created));
    Ok(out)
}
