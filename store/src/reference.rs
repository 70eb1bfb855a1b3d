//! Image references: `name[:tag]` and `name@sha256:…`, in Docker's familiar spelling.

use crate::digest::Digest;
use crate::error::{Result, StoreError};

/// Docker Hub's domains, which Docker hides: `docker.io/library/busybox` is `busybox`.
const DOCKER_HUB_DOMAINS: &[&str] = &["docker.io/", "index.docker.io/", "registry-1.docker.io/"];

/// Docker's familiar repository name: without Docker Hub's domain, and without `library/` when what follows
/// it is one component (`docker.io/library/a/b` stays `library/a/b`, as distribution/reference has it).
fn familiar_name(name: &str) -> &str {
    let mut name = name;
    for domain in DOCKER_HUB_DOMAINS {
        if let Some(rest) = name.strip_prefix(domain) {
            name = rest;
            break;
        }
    }
    match name.strip_prefix("library/") {
        Some(rest) if !rest.contains('/') => rest,
        _ => name,
    }
}

/// Normalise a reference: `name` → `name:latest`, `docker.io/library/name:t` → `name:t`; validate its syntax.
pub fn normalize_reference(reference: &str) -> Result<String> {
    let invalid = |reason: &str| StoreError::InvalidReference {
        reference: reference.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = reference.trim();
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    let (name_and_tag, digest) = match trimmed.split_once('@') {
        Some((n, d)) => {
            let digest: Digest = d
                .parse()
                .map_err(|_| invalid("the part after @ must be sha256:<64 hex digits>"))?;
            (n, Some(digest))
        }
        None => (trimmed, None),
    };
    let last_slash = name_and_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_and_tag[..last_slash + i],
            Some(&name_and_tag[last_slash + i + 1..]),
        ),
        None => (name_and_tag, None),
    };
    let name = familiar_name(name).to_string();
    validate_name(&name).map_err(|reason| invalid(&reason))?;
    if let Some(tag) = tag {
        validate_tag(tag).map_err(|reason| invalid(&reason))?;
    }
    Ok(match (tag, digest) {
        (Some(tag), Some(d)) => format!("{name}:{tag}@{d}"),
        (None, Some(d)) => format!("{name}@{d}"),
        (Some(tag), None) => format!("{name}:{tag}"),
        (None, None) => format!("{name}:latest"),
    })
}

/// Split a normalised `name:tag` into its parts (`None` for digest references).
pub(crate) fn split_tag(normalized: &str) -> Option<(&str, &str)> {
    if normalized.contains('@') {
        return None;
    }
    let last_slash = normalized.rfind('/').map(|i| i + 1).unwrap_or(0);
    let i = normalized[last_slash..].rfind(':')? + last_slash;
    Some((&normalized[..i], &normalized[i + 1..]))
}

fn validate_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("the repository name is empty".into());
    }
    if name.len() > 255 {
        return Err("the repository name is longer than 255 characters".into());
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    // A first part with a dot or a port, or `localhost`, is a registry host.
    if parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
    {
        let host = parts.remove(0);
        let (hostname, port) = match host.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        };
        let host_ok = !hostname.is_empty()
            && hostname
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !host_ok || !port_ok {
            return Err(format!("{host:?} is not a valid registry host[:port]"));
        }
    }
    for part in parts {
        if part.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("repository name must be lowercase".into());
        }
        if !valid_path_component(part) {
            return Err(format!(
                "{part:?} is not a valid name component: use lowercase letters, digits and single separators (. _ __ -)"
            ));
        }
    }
    Ok(())
}

/// `[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*`
fn valid_path_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &part[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
fn validate_tag(tag: &str) -> std::result::Result<(), String> {
    let bytes = tag.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} is invalid: use up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_familiar_names() {
        let n = |s: &str| normalize_reference(s).unwrap();
        assert_eq!(n("busybox"), "busybox:latest");
        assert_eq!(n("busybox:1.36"), "busybox:1.36");
        assert_eq!(n("docker.io/library/busybox"), "busybox:latest");
        assert_eq!(n("docker.io/me/app:v1"), "me/app:v1");
        assert_eq!(n("library/busybox"), "busybox:latest");
        assert_eq!(n("index.docker.io/library/busybox:1"), "busybox:1");
        assert_eq!(n("docker.io/library/a/b"), "library/a/b:latest");
        assert_eq!(
            n("localhost:5000/library/x"),
            "localhost:5000/library/x:latest"
        );
        assert_eq!(n("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(
            n("registry.example.com:5000/a/b:t"),
            "registry.example.com:5000/a/b:t"
        );
        assert_eq!(n("my_app-2.x__y"), "my_app-2.x__y:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(n(&format!("app@{d}")), format!("app@{d}"));
        assert_eq!(
            split_tag("localhost:5000/app:t"),
            Some(("localhost:5000/app", "t"))
        );
        assert_eq!(split_tag("app:latest"), Some(("app", "latest")));
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "App",
            "app:",
            "app:-x",
            "a//b",
            "-app",
            "app@sha256:zz",
            "app:t:u",
            "a..b",
        ] {
            assert!(
                normalize_reference(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        let msg = normalize_reference("MyApp").unwrap_err().to_string();
        assert!(msg.contains("lowercase"), "{msg}");
    }
}
