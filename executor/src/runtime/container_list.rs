//! `hoist ps`: every container with its current state (a dead monitor's container shows as exited).

use std::path::Path;

use super::state::{self, ContainerRecord, ContainerState, Status};
use super::{restart_policy, Result};

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
            Status::Running if self.state.restarting => {
                format!("Restarting ({})", self.state.exit_code.unwrap_or(-1))
            }
            Status::Running => "Up".into(),
            Status::Exited => format!("Exited ({})", self.state.exit_code.unwrap_or(-1)),
        }
    }
}

/// Running containers, or all with `all`; newest first.
pub fn list(root: &Path, all: bool) -> Result<Vec<ContainerSummary>> {
    let mut out = Vec::new();
    for dir in state::all(root)? {
        let Ok(record) = dir.record() else { continue };
        // A container to restart whose monitor died (a reboot): started again now, as the
        // daemon would at its start (see `restart_policy`).
        let orphaned = restart_policy::has_restart_policy(&record)
            && dir.state().is_ok_and(|s| {
                s.status != Status::Exited && s.monitor_pid.is_some() && !state::monitor_alive(&s)
            });
        let Ok(mut state) = dir.current_state() else {
            continue;
        };
        if orphaned && restart_policy::revive_if_orphaned(&dir, &record) {
            if let Ok(revived) = dir.current_state() {
                state = revived;
            }
        }
        if all || state.status == Status::Running {
            out.push(ContainerSummary { record, state });
        }
    }
    out.sort_by(|a, b| b.record.created.cmp(&a.record.created));
    Ok(out)
}
