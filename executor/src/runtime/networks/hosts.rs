//! Name resolution on a user-defined network, docker's embedded DNS done with files: each running
//! member has a file under the network's `members/`, and every member's `/etc/hosts` (its bundle's
//! `hosts`, bind-mounted read-only) has a section for the network listing all members by name,
//! aliases and short id. The sections are rewritten in place (the bind mount holds the inode)
//! under the network's lock whenever a member comes or goes.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::NetworkRecord;
use crate::runtime::{io_err, Result};

/// A running container on a network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub ip: Ipv4Addr,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The container's init; the member is stale once it is gone.
    pub pid: i32,
    /// The container's hosts file (its bundle's, bind-mounted onto `/etc/hosts`).
    pub hosts_file: PathBuf,
    /// The veth's host end.
    pub host_end: String,
}

fn members_dir(root: &Path, net: &NetworkRecord) -> PathBuf {
    net.dir(root).join("members")
}

/// The running members of `net` (stale ones are removed on the way).
pub fn members(root: &Path, net: &NetworkRecord) -> Result<Vec<Member>> {
    let dir = members_dir(root, net);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read", &dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(member) = std::fs::read(entry.path())
            .ok()
            .and_then(|b| serde_json::from_slice::<Member>(&b).ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{}", member.pid)).exists() {
            out.push(member);
        } else {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    out.sort_by_key(|m| m.ip);
    Ok(out)
}

pub(super) fn add(root: &Path, net: &NetworkRecord, member: &Member) -> Result<()> {
    let dir = members_dir(root, net);
    std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    let bytes = serde_json::to_vec(member)
        .map_err(|e| crate::runtime::RuntimeError::Invalid(e.to_string()))?;
    crate::runtime::state::write_atomic(&dir.join(&member.id), &bytes)
}

pub(super) fn remove(root: &Path, net: &NetworkRecord, id: &str) {
    let _ = std::fs::remove_file(members_dir(root, net).join(id));
}

fn section_header(net: &NetworkRecord) -> String {
    format!("# hoist network {}\n", net.name)
}

/// The `/etc/hosts` lines for the members of `net`.
fn section(net: &NetworkRecord, members: &[Member]) -> String {
    let mut text = section_header(net);
    for m in members {
        let mut names = vec![m.name.clone()];
        names.extend(m.aliases.iter().cloned());
        names.push(m.id[..12].to_string());
        names.dedup();
        text.push_str(&format!("{}\t{}\n", m.ip, names.join(" ")));
    }
    text
}

/// `hosts` with the section of `net` replaced by `new_section` (removed when empty).
pub fn replace_section(hosts: &str, net_header: &str, new_section: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in hosts.split_inclusive('\n') {
        if line == net_header {
            skipping = true;
            continue;
        }
        if skipping && line.starts_with("# hoist network ") {
            skipping = false;
        }
        if !skipping {
            out.push_str(line);
        }
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(new_section);
    out
}

/// Rewrite every member's section for `net`, in place.
pub(super) fn rewrite_all(root: &Path, net: &NetworkRecord) -> Result<()> {
    let members = members(root, net)?;
    let new = section(net, &members);
    let header = section_header(net);
    for m in &members {
        let Ok(old) = std::fs::read_to_string(&m.hosts_file) else {
            continue;
        };
        let text = replace_section(&old, &header, &new);
        if text != old {
            write_in_place(&m.hosts_file, &text)?;
        }
    }
    Ok(())
}

/// Overwrite `path` keeping its inode (a bind mount shows that inode, not a renamed file).
pub fn write_in_place(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err("open", path))?;
    f.write_all(text.as_bytes())
        .map_err(io_err("write", path))?;
    f.set_len(text.len() as u64)
        .map_err(io_err("truncate", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_replaced() {
        let base = "127.0.0.1\tlocalhost\n";
        let a = replace_section(
            base,
            "# hoist network n\n",
            "# hoist network n\n1.2.3.4\tx\n",
        );
        assert_eq!(a, "127.0.0.1\tlocalhost\n# hoist network n\n1.2.3.4\tx\n");
        let b = replace_section(&a, "# hoist network m\n", "# hoist network m\n5.6.7.8\ty\n");
        let c = replace_section(&b, "# hoist network n\n", "# hoist network n\n");
        assert_eq!(
            c,
            "127.0.0.1\tlocalhost\n# hoist network m\n5.6.7.8\ty\n# hoist network n\n"
        );
    }
}
