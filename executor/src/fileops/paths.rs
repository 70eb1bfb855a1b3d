//! Lexical path helpers (no file system access).

use std::path::Path;

/// Cleans `path` as if it were joined to `/` (Go's `filepath.Join("/", path)`): `.` and empty components
/// vanish, `..` removes the previous component and cannot climb above the root. Returns the components.
pub(crate) fn clean_components(path: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            name => out.push(name),
        }
    }
    out
}

/// [`clean_components`] joined with `/`, without a leading slash; the root is "".
pub(crate) fn clean_relative(path: &str) -> String {
    clean_components(path).join("/")
}

/// The absolute, cleaned destination of a COPY: `dest` if absolute, else `dest` under `workdir`.
pub(crate) fn absolute_dest(dest: &str, workdir: &str) -> String {
    let joined;
    let full = if dest.starts_with('/') {
        dest
    } else {
        joined = format!("{workdir}/{dest}");
        joined.as_str()
    };
    format!("/{}", clean_relative(full))
}

/// True when the destination as written names a directory (BuildKit: a trailing `/`, `.` or nothing).
pub(crate) fn dest_names_directory(dest: &str) -> bool {
    dest.is_empty() || dest == "." || dest.ends_with('/') || dest.ends_with("/.")
}

/// `path` shown as a path inside `root` ("/etc/passwd"), for error messages.
pub(crate) fn display_in_root(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(inner) => format!("/{}", inner.to_string_lossy()),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

/// `path` relative to `root` as a `/`-separated string without a leading slash ("" for the root itself).
pub(crate) fn relative_string(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(inner) => inner.to_string_lossy().into_owned(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_never_climbs_above_root() {
        assert_eq!(clean_relative("../../etc/passwd"), "etc/passwd");
        assert_eq!(clean_relative("/a/./b/../c/"), "a/c");
        assert_eq!(clean_relative("./"), "");
        assert_eq!(clean_relative("."), "");
    }

    #[test]
    fn destination_is_joined_to_workdir() {
        assert_eq!(absolute_dest(".", "/app"), "/app");
        assert_eq!(absolute_dest("sub/", "/app"), "/app/sub");
        assert_eq!(absolute_dest("/x/../y", "/app"), "/y");
        assert_eq!(absolute_dest("../../..", "/app"), "/");
        assert!(dest_names_directory("sub/"));
        assert!(dest_names_directory("."));
        assert!(!dest_names_directory("/x"));
    }
}
