//! Image references as Docker reads them (distribution/reference's `ParseNormalizedNamed`):
//! `busybox` is `docker.io/library/busybox:latest`; a first path component with a `.` or a `:`, or `localhost`,
//! or with an uppercase letter, is a registry domain; `name:tag@sha256:…` keeps both, and the digest wins.

use hoist_store::Digest;

use crate::error::{RegistryError, Result};

/// Docker Hub's name in references.
pub const DOCKER_HUB_DOMAIN: &str = "docker.io";
/// The host that serves Docker Hub's registry API.
pub const DOCKER_HUB_REGISTRY: &str = "registry-1.docker.io";
/// The key Docker writes Docker Hub's credentials under in `config.json`.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    /// `docker.io`, `localhost:5000`, `registry.example.com`.
    pub domain: String,
    /// The repository path in that registry: `library/busybox`, `a/b`.
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl ImageReference {
    /// Parse `reference` as `docker pull` does.
    pub fn parse(reference: &str) -> Result<ImageReference> {
        let invalid = |reason: String| RegistryError::InvalidReference {
            reference: reference.to_string(),
            reason,
        };
        let text = reference.trim();
        if text.is_empty() {
            return Err(invalid("it is empty".into()));
        }
        let (name_and_tag, digest) = match text.split_once('@') {
            Some((name, digest)) => {
                let digest: Digest = digest.parse().map_err(|_| {
                    invalid("the part after @ must be sha256: and 64 lowercase hex digits".into())
                })?;
                (name, Some(digest))
            }
            None => (text, None),
        };
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_and_tag[..last_slash + i],
                Some(name_and_tag[last_slash + i + 1..].to_string()),
            ),
            None => (name_and_tag, None),
        };
        let (domain, mut path) = split_domain(name);
        if path.len() == 64 && path.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(
                "a repository name cannot be 64 hex digits (that is an image ID)".into(),
            ));
        }
        if domain == DOCKER_HUB_DOMAIN && !path.contains('/') {
            path = format!("library/{path}");
        }
        // The store validates names and tags with Docker's grammar: one set of rules for both crates.
        let familiar = familiar_name_of(&domain, &path);
        let check = match &tag {
            Some(tag) => format!("{familiar}:{tag}"),
            None => familiar,
        };
        hoist_store::normalize_reference(&check).map_err(|e| match e {
            hoist_store::StoreError::InvalidReference { reason, .. } => invalid(reason),
            other => invalid(other.to_string()),
        })?;
        Ok(ImageReference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The registry host to talk to: `registry-1.docker.io` for Docker Hub, else the domain.
    pub fn registry_host(&self) -> &str {
        if self.domain == DOCKER_HUB_DOMAIN {
            DOCKER_HUB_REGISTRY
        } else {
            &self.domain
        }
    }

    /// Whether this names Docker Hub (where mirrors apply).
    pub fn is_docker_hub(&self) -> bool {
        self.domain == DOCKER_HUB_DOMAIN
    }

    /// The repository as Docker shows it: `busybox`, `me/app`, `localhost:5000/a/b`.
    pub fn familiar_name(&self) -> String {
        familiar_name_of(&self.domain, &self.path)
    }

    /// `docker.io/library/busybox`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The tag, `latest` when none was given.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// What the store tags a pulled image with: `busybox:latest` (a reference by digest alone gets no tag).
    pub fn familiar_tag(&self) -> Option<String> {
        match (&self.tag, &self.digest) {
            (None, Some(_)) => None,
            _ => Some(format!("{}:{}", self.familiar_name(), self.tag_or_latest())),
        }
    }

    /// The familiar spelling of the whole reference: `busybox:latest`, `busybox@sha256:…`, `busybox:1@sha256:…`.
    pub fn familiar(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(tag), Some(d)) => format!("{}:{tag}@{d}", self.familiar_name()),
            (None, Some(d)) => format!("{}@{d}", self.familiar_name()),
            _ => format!("{}:{}", self.familiar_name(), self.tag_or_latest()),
        }
    }

    /// The full spelling `docker pull` prints last: `docker.io/library/busybox:latest`.
    pub fn full(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(tag), Some(d)) => format!("{}:{tag}@{d}", self.full_name()),
            (None, Some(d)) => format!("{}@{d}", self.full_name()),
            _ => format!("{}:{}", self.full_name(), self.tag_or_latest()),
        }
    }

    /// What to ask the registry's manifest endpoint for: the digest if there is one, else the tag.
    pub fn manifest_reference(&self) -> String {
        match &self.digest {
            Some(d) => d.to_string(),
            None => self.tag_or_latest().to_string(),
        }
    }

    /// The same repository at another tag or digest.
    pub fn with_digest(&self, digest: &Digest) -> ImageReference {
        ImageReference {
            digest: Some(digest.clone()),
            ..self.clone()
        }
    }
}

impl std::fmt::Display for ImageReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.familiar())
    }
}

/// distribution/reference's `splitDockerDomain`.
fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DOCKER_HUB_DOMAIN.to_string(), name.to_string()),
    };
    let domain = if domain == "index.docker.io" {
        DOCKER_HUB_DOMAIN.to_string()
    } else {
        domain
    };
    (domain, path)
}

/// distribution/reference's `FamiliarName`: Docker Hub's domain and its `library/` are hidden.
fn familiar_name_of(domain: &str, path: &str) -> String {
    if domain != DOCKER_HUB_DOMAIN {
        return format!("{domain}/{path}");
    }
    match path.strip_prefix("library/") {
        Some(rest) if !rest.contains('/') => rest.to_string(),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ImageReference {
        ImageReference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_names() {
        let r = parse("busybox");
        assert_eq!(
            (r.domain.as_str(), r.path.as_str()),
            ("docker.io", "library/busybox")
        );
        assert_eq!(r.full(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        assert_eq!(r.registry_host(), "registry-1.docker.io");
        assert_eq!(
            parse("docker.io/library/busybox:1.36").familiar(),
            "busybox:1.36"
        );
        assert_eq!(
            parse("index.docker.io/library/busybox").familiar(),
            "busybox:latest"
        );
        assert_eq!(
            parse("library/busybox").full(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(parse("me/app:v1").full(), "docker.io/me/app:v1");
        assert_eq!(parse("me/app:v1").familiar(), "me/app:v1");
        // `library/` is hidden only directly under docker.io.
        assert_eq!(
            parse("docker.io/library/a/b").familiar_name(),
            "library/a/b"
        );
    }

    #[test]
    fn domains_as_docker_detects_them() {
        let r = parse("localhost:5000/a/b:t");
        assert_eq!(
            (r.domain.as_str(), r.path.as_str()),
            ("localhost:5000", "a/b")
        );
        assert_eq!(r.tag.as_deref(), Some("t"));
        assert_eq!(r.familiar(), "localhost:5000/a/b:t");
        assert_eq!(r.registry_host(), "localhost:5000");
        assert_eq!(parse("localhost/app").domain, "localhost");
        assert_eq!(
            parse("registry.example.com/app").domain,
            "registry.example.com"
        );
        assert_eq!(parse("127.0.0.1:5000/app").path, "app");
        // No dot, port or localhost: a Docker Hub user.
        assert_eq!(parse("foo/bar").domain, "docker.io");
    }

    #[test]
    fn digests_win_over_tags() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let r = parse(&format!("busybox@{d}"));
        assert_eq!(r.digest.as_ref().map(|d| d.as_str()), Some(d.as_str()));
        assert_eq!(r.manifest_reference(), d);
        assert_eq!(r.familiar_tag(), None);
        let r = parse(&format!("busybox:1.36@{d}"));
        assert_eq!(r.manifest_reference(), d);
        assert_eq!(r.familiar(), format!("busybox:1.36@{d}"));
        assert_eq!(r.familiar_tag().as_deref(), Some("busybox:1.36"));
    }

    #[test]
    fn agrees_with_the_store() {
        for s in [
            "busybox",
            "docker.io/library/busybox:1",
            "me/app",
            "localhost:5000/a/b:t",
            "library/x",
        ] {
            let ours = parse(s).familiar();
            assert_eq!(hoist_store::normalize_reference(s).unwrap(), ours, "{s}");
        }
    }

    #[test]
    fn rejects_what_docker_rejects() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "a//b",
            "busybox@sha256:zz",
            &"a".repeat(64),
            "-x",
            "x:-t",
        ] {
            assert!(
                ImageReference::parse(bad).is_err(),
                "{bad:?} should be invalid"
            );
        }
    }
}
