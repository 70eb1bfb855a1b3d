//! `-v`, `--mount` and `--tmpfs` as docker reads them, named and anonymous volumes under
//! `<state root>/volumes/<name>/_data`, and filling a new volume from the image's content.

use std::path::{Path, PathBuf};

use super::state::MountRecord;
use super::{io_err, volumes_dir, Result, RuntimeError};

fn invalid(msg: String) -> RuntimeError {
    RuntimeError::Invalid(msg)
}

fn check_destination(dest: &str, spec: &str) -> Result<()> {
    if !dest.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount {spec:?}: the container path {dest:?} must be absolute"
        )));
    }
    if dest == "/" {
        return Err(invalid(format!(
            "invalid mount {spec:?}: cannot mount over /"
        )));
    }
    Ok(())
}

/// A volume name docker accepts: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub(crate) fn valid_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The data dir of volume `name`, created when missing.
pub fn volume_data(root: &Path, name: &str) -> Result<PathBuf> {
    let data = volumes_dir(root).join(name).join("_data");
    std::fs::create_dir_all(&data).map_err(io_err("create the volume", &data))?;
    Ok(data)
}

/// A fresh random name for an anonymous volume (64 hex digits, as docker's).
fn anonymous_name() -> String {
    super::container_create::random_hex(32)
}

fn volume(
    root: &Path,
    name: &str,
    destination: &str,
    readonly: bool,
    anonymous: bool,
) -> Result<MountRecord> {
    Ok(MountRecord::Volume {
        name: name.to_string(),
        source: volume_data(root, name)?,
        destination: destination.to_string(),
        readonly,
        anonymous,
    })
}

/// `-v HOST:CTR[:ro|rw]`, `-v NAME:CTR[:ro|rw]`, `-v CTR`.
pub fn parse_volume_flag(root: &Path, spec: &str) -> Result<MountRecord> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, dest, mode) = match parts.as_slice() {
        [dest] => (None, *dest, ""),
        [src, dest] => (Some(*src), *dest, ""),
        [src, dest, mode] => (Some(*src), *dest, *mode),
        _ => {
            return Err(invalid(format!(
                "invalid volume spec {spec:?}: expected [SOURCE:]DEST[:ro]"
            )))
        }
    };
    check_destination(dest, spec)?;
    let mut readonly = false;
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => readonly = true,
            "rw" => readonly = false,
            "z" | "Z" | "rprivate" | "private" | "nocopy" | "consistent" | "cached"
            | "delegated" => {}
            other => {
                return Err(invalid(format!(
                    "invalid volume spec {spec:?}: unknown mode {other:?}"
                )))
            }
        }
    }
    match source {
        None => volume(root, &anonymous_name(), dest, readonly, true),
        Some(src) if src.starts_with('/') => bind(src, dest, readonly),
        Some(src) if valid_volume_name(src) => volume(root, src, dest, readonly, false),
        Some(src) => Err(invalid(format!(
            "invalid volume spec {spec:?}: {src:?} is neither an absolute host path nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"
        ))),
    }
}

/// A bind of a host path; like docker's `-v`, a missing host directory is created.
fn bind(src: &str, dest: &str, readonly: bool) -> Result<MountRecord> {
    let source = PathBuf::from(src);
    if !source.exists() {
        std::fs::create_dir_all(&source).map_err(io_err("create the host directory", &source))?;
    }
    Ok(MountRecord::Bind {
        source,
        destination: dest.to_string(),
        readonly,
    })
}

/// `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,tmpfs-size=…][,tmpfs-mode=…]`.
pub fn parse_mount_flag(root: &Path, spec: &str) -> Result<MountRecord> {
    let (mut typ, mut source, mut target, mut readonly) = ("volume", None, None, false);
    let mut tmpfs_options = Vec::new();
    for field in spec.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        match (key, value) {
            ("type", Some(v)) => typ = v,
            ("source" | "src", Some(v)) => source = Some(v),
            ("target" | "destination" | "dst", Some(v)) => target = Some(v),
            ("readonly" | "ro", None | Some("true" | "1")) => readonly = true,
            ("readonly" | "ro", Some("false" | "0")) => readonly = false,
            ("tmpfs-size", Some(v)) => {
                tmpfs_options.push(format!("size={}", super::config::parse_size(v)?))
            }
            ("tmpfs-mode", Some(v)) => tmpfs_options.push(format!("mode={v}")),
            ("bind-propagation" | "volume-nocopy" | "consistency", _) => {}
            _ => {
                return Err(invalid(format!(
                    "invalid --mount {spec:?}: unknown field {field:?}"
                )))
            }
        }
    }
    let target =
        target.ok_or_else(|| invalid(format!("invalid --mount {spec:?}: target= is required")))?;
    check_destination(target, spec)?;
    match typ {
        "bind" => {
            let src = source.ok_or_else(|| {
                invalid(format!("invalid --mount {spec:?}: a bind needs source="))
            })?;
            if !src.starts_with('/') {
                return Err(invalid(format!(
                    "invalid --mount {spec:?}: the bind source must be an absolute path"
                )));
            }
            if !Path::new(src).exists() {
                return Err(invalid(format!(
                    "invalid --mount {spec:?}: bind source path does not exist: {src}"
                )));
            }
            Ok(MountRecord::Bind {
                source: src.into(),
                destination: target.to_string(),
                readonly,
            })
        }
        "volume" => match source {
            Some(name) if valid_volume_name(name) => volume(root, name, target, readonly, false),
            Some(name) => Err(invalid(format!(
                "invalid --mount {spec:?}: bad volume name {name:?}"
            ))),
            None => volume(root, &anonymous_name(), target, readonly, true),
        },
        "tmpfs" => {
            if readonly {
                tmpfs_options.push("ro".into());
            }
            Ok(MountRecord::Tmpfs {
                destination: target.to_string(),
                options: tmpfs_options,
            })
        }
        other => Err(invalid(format!(
            "invalid --mount {spec:?}: unknown type {other:?} (bind, volume or tmpfs)"
        ))),
    }
}

/// `--tmpfs CTR[:OPTIONS]` (options as mount(8) takes them: `size=64m,mode=1777,noexec`).
pub fn parse_tmpfs_flag(spec: &str) -> Result<MountRecord> {
    let (dest, options) = match spec.split_once(':') {
        Some((d, o)) => (
            d,
            o.split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        None => (spec, Vec::new()),
    };
    check_destination(dest, spec)?;
    let allowed = |o: &String| {
        let key = o.split('=').next().unwrap_or_default();
        matches!(
            key,
            "size"
                | "mode"
                | "uid"
                | "gid"
                | "nr_inodes"
                | "nr_blocks"
                | "ro"
                | "rw"
                | "noexec"
                | "exec"
                | "nosuid"
                | "suid"
                | "nodev"
                | "dev"
                | "sync"
                | "async"
                | "noatime"
                | "atime"
        )
    };
    if let Some(bad) = options.iter().find(|o| !allowed(o)) {
        return Err(invalid(format!(
            "invalid --tmpfs {spec:?}: unsupported option {bad:?}"
        )));
    }
    Ok(MountRecord::Tmpfs {
        destination: dest.to_string(),
        options,
    })
}

pub fn destination(m: &MountRecord) -> &str {
    match m {
        MountRecord::Bind { destination, .. }
        | MountRecord::Volume { destination, .. }
        | MountRecord::Tmpfs { destination, .. } => destination,
    }
}

/// Copy the image's content at a volume's mount point into the volume when the volume is empty
/// (docker does this for new volumes). Symlinks are copied as links, never followed.
pub fn populate_volume(rootfs: &Path, destination: &str, data: &Path) -> Result<()> {
    let is_empty = std::fs::read_dir(data)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    if !is_empty {
        return Ok(());
    }
    let src = crate::container::resolve_in_root(rootfs, Path::new(destination))
        .map_err(io_err("resolve the volume path in", rootfs))?;
    if !src.is_dir() {
        return Ok(());
    }
    copy_tree(&src, data)
}

fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for entry in walkdir::WalkDir::new(src).min_depth(1).follow_links(false) {
        let entry = entry
            .map_err(|e| RuntimeError::Invalid(format!("copying {src:?} into a volume: {e}")))?;
        let rel = entry.path().strip_prefix(src).unwrap_or(entry.path());
        let target = dst.join(rel);
        let meta = entry
            .path()
            .symlink_metadata()
            .map_err(io_err("stat", entry.path()))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir_all(&target).map_err(io_err("create", &target))?;
        } else if ft.is_symlink() {
            let link =
                std::fs::read_link(entry.path()).map_err(io_err("read the link", entry.path()))?;
            std::os::unix::fs::symlink(link, &target)
                .map_err(io_err("create the link", &target))?;
        } else if ft.is_file() {
            std::fs::copy(entry.path(), &target).map_err(io_err("copy to", &target))?;
        } else {
            continue; // devices, fifos and sockets are not copied into volumes
        }
        let _ = std::os::unix::fs::lchown(&target, Some(meta.uid()), Some(meta.gid()));
        if !ft.is_symlink() {
            let _ = std::fs::set_permissions(
                &target,
                std::fs::Permissions::from_mode(meta.mode() & 0o7777),
            );
        }
    }
    let meta = src.metadata().map_err(io_err("stat", src))?;
    let _ = std::os::unix::fs::chown(dst, Some(meta.uid()), Some(meta.gid()));
    let _ = std::fs::set_permissions(dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_flags() {
        let root = tempfile::tempdir().unwrap();
        let host = root.path().join("host");
        let spec = format!("{}:/data:ro", host.display());
        assert_eq!(
            parse_volume_flag(root.path(), &spec).unwrap(),
            MountRecord::Bind {
                source: host.clone(),
                destination: "/data".into(),
                readonly: true
            }
        );
        assert!(host.is_dir());
        match parse_volume_flag(root.path(), "cache:/c").unwrap() {
            MountRecord::Volume {
                name,
                anonymous,
                source,
                ..
            } => {
                assert_eq!(name, "cache");
                assert!(!anonymous);
                assert!(source.ends_with("volumes/cache/_data") && source.is_dir());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_volume_flag(root.path(), "/anon").unwrap(),
            MountRecord::Volume {
                anonymous: true,
                ..
            }
        ));
        assert!(parse_volume_flag(root.path(), "x:rel").is_err());
        assert!(parse_volume_flag(root.path(), "../x:/a").is_err());
        assert!(parse_volume_flag(root.path(), "a:/b:bogus").is_err());
    }

    #[test]
    fn mount_and_tmpfs_flags() {
        let root = tempfile::tempdir().unwrap();
        let m = parse_mount_flag(root.path(), "type=tmpfs,target=/t,tmpfs-size=1m").unwrap();
        assert_eq!(
            m,
            MountRecord::Tmpfs {
                destination: "/t".into(),
                options: vec!["size=1048576".into()]
            }
        );
        let src = root.path().to_str().unwrap();
        let m = parse_mount_flag(
            root.path(),
            &format!("type=bind,source={src},target=/b,readonly"),
        )
        .unwrap();
        assert!(matches!(m, MountRecord::Bind { readonly: true, .. }));
        assert!(
            parse_mount_flag(root.path(), "type=bind,source=/does/not/exist,target=/b").is_err()
        );
        assert!(parse_mount_flag(root.path(), "type=volume,source=v").is_err());
        assert_eq!(
            parse_tmpfs_flag("/run:size=64m,noexec").unwrap(),
            MountRecord::Tmpfs {
                destination: "/run".into(),
                options: vec!["size=64m".into(), "noexec".into()]
            }
        );
        assert!(parse_tmpfs_flag("/run:bogus").is_err());
    }
}
