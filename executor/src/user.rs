//! Users and groups from an image's `/etc/passwd` and `/etc/group`: `USER` for RUN, and `--chown` for COPY/ADD.
//!
//! `USER` follows BuildKit (`oci.GetUser` → runc's `GetExecUser`): "uid" and "uid:gid" need no lookup
//! (gid 0 when not given), names are looked up, and a named user gets its supplementary groups from
//! `/etc/group`. `--chown` follows BuildKit's file op: a numeric user without a group gets gid = uid.

use std::fs;
use std::path::Path;

use thiserror::Error;

use crate::fileops::{resolve_in_root, CopyError};

pub type Result<T> = std::result::Result<T, UserError>;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum UserError {
    #[error("unable to find user {name}: no matching entries in passwd file")]
    UnknownUser { name: String },
    #[error("unable to find group {name}: no matching entries in group file")]
    UnknownGroup { name: String },
    #[error("invalid user {spec:?}: {reason}")]
    Invalid { spec: String, reason: &'static str },
    #[error("cannot read {file} of the image: {error}")]
    Read {
        file: &'static str,
        error: std::io::Error,
    },
    #[error(transparent)]
    Path(#[from] CopyError),
}

/// A resolved user: what a process runs as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserSpec {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// Resolves `USER` ("", "name", "uid", "name:group", "uid:gid", "uid:group", "name:gid") against the rootfs.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<UserSpec> {
    let (user_part, group_part) = split_spec(user)?;
    // BuildKit's fast path: all-numeric needs no passwd file, and no supplementary groups are looked up.
    if let Some(uid) = parse_id(user_part, user)? {
        let gid_numeric = match group_part {
            None => Some(0),
            Some(g) => parse_id(g, user)?,
        };
        if let Some(gid) = gid_numeric {
            return Ok(UserSpec {
                uid,
                gid,
                additional_gids: Vec::new(),
            });
        }
    }

    let passwd = read_db(rootfs, "/etc/passwd")?;
    let numeric_uid = parse_id(user_part, user)?;
    let entry = passwd_entries(&passwd).find(|e| e.name == user_part || Some(e.uid) == numeric_uid);
    let (uid, primary_gid, matched_name) = match (entry, numeric_uid) {
        (Some(e), _) => (e.uid, e.gid, Some(e.name)),
        (None, Some(uid)) => (uid, 0, None),
        (None, None) => {
            return Err(UserError::UnknownUser {
                name: user_part.to_string(),
            })
        }
    };

    let group_db;
    let mut spec = UserSpec {
        uid,
        gid: primary_gid,
        additional_gids: Vec::new(),
    };
    match group_part {
        Some(group) => {
            spec.gid = match parse_id(group, user)? {
                Some(gid) => gid,
                None => {
                    group_db = read_db(rootfs, "/etc/group")?;
                    group_entries(&group_db)
                        .find(|g| g.name == group)
                        .map(|g| g.gid)
                        .ok_or_else(|| UserError::UnknownGroup {
                            name: group.to_string(),
                        })?
                }
            };
        }
        None => {
            if let Some(name) = matched_name {
                group_db = read_db(rootfs, "/etc/group")?;
                spec.additional_gids = group_entries(&group_db)
                    .filter(|g| g.members.split(',').any(|m| m == name))
                    .map(|g| g.gid)
                    .collect();
            }
        }
    }
    Ok(spec)
}

/// Resolves `--chown=user[:group]` to (uid, gid): numeric parts need no lookup; a user without a group gets
/// its primary gid (named user) or gid = uid (numeric user). Unknown names are errors (BuildKit silently
/// uses 0, which hides typos).
pub fn resolve_chown(rootfs: &Path, chown: &str) -> Result<(u32, u32)> {
    let (user_part, group_part) = split_spec(chown)?;
    if user_part.is_empty() {
        return Err(UserError::Invalid {
            spec: chown.to_string(),
            reason: "the user part is empty",
        });
    }
    let (uid, user_gid) = match parse_id(user_part, chown)? {
        Some(uid) => (uid, uid),
        None => {
            let passwd = read_db(rootfs, "/etc/passwd")?;
            let found = passwd_entries(&passwd)
                .find(|e| e.name == user_part)
                .map(|e| (e.uid, e.gid));
            found.ok_or_else(|| UserError::UnknownUser {
                name: user_part.to_string(),
            })?
        }
    };
    let gid = match group_part {
        None => user_gid,
        Some(group) => match parse_id(group, chown)? {
            Some(gid) => gid,
            None => {
                let groups = read_db(rootfs, "/etc/group")?;
                let found = group_entries(&groups)
                    .find(|g| g.name == group)
                    .map(|g| g.gid);
                found.ok_or_else(|| UserError::UnknownGroup {
                    name: group.to_string(),
                })?
            }
        },
    };
    Ok((uid, gid))
}

fn split_spec(spec: &str) -> Result<(&str, Option<&str>)> {
    match spec.split_once(':') {
        None => Ok((spec, None)),
        Some((_, "")) => Err(UserError::Invalid {
            spec: spec.to_string(),
            reason: "the group after ':' is empty",
        }),
        Some((user, group)) => Ok((user, Some(group))),
    }
}

/// `Some(id)` for a decimal id, `None` for a name; ids beyond 2^31-1 are refused like runc does.
fn parse_id(part: &str, spec: &str) -> Result<Option<u32>> {
    if part.is_empty() {
        return Ok(Some(0));
    }
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match part.parse::<u32>() {
        Ok(id) if id <= i32::MAX as u32 => Ok(Some(id)),
        _ => Err(UserError::Invalid {
            spec: spec.to_string(),
            reason: "the id is out of range (0 to 2147483647)",
        }),
    }
}

/// Reads a passwd/group file inside the rootfs; a missing file reads as empty (as runc treats it).
fn read_db(rootfs: &Path, file: &'static str) -> Result<String> {
    let path = resolve_in_root(rootfs, file)?;
    match fs::read(&path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(error) => Err(UserError::Read { file, error }),
    }
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: &'a str,
}

/// `name:password:uid:gid:gecos:home:shell`; malformed lines and comments are skipped.
fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next();
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some(PasswdEntry { name, uid, gid })
    })
}

/// `name:password:gid:member,member`.
fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next();
        let gid = fields.next()?.parse().ok()?;
        let members = fields.next().unwrap_or("");
        Some(GroupEntry { name, gid, members })
    })
}
