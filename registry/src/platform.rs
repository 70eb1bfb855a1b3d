//! Platforms (`linux/amd64`, `linux/arm/v7`) and the choice of one manifest from a manifest list or OCI index.

use std::fmt;

/// An `os/architecture[/variant]` triple, normalised as containerd's `platforms` package does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this hoist runs on.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            other => (other, None),
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(str::to_string),
        }
    }

    /// `linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`; `x86_64` and `aarch64` are accepted as aliases.
    pub fn parse(text: &str) -> std::result::Result<Platform, String> {
        let parts: Vec<&str> = text.trim().split('/').collect();
        let bad = || {
            format!("platform {text:?} is not os/architecture[/variant], for example linux/amd64 or linux/arm/v7")
        };
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let arch = parts[1].to_ascii_lowercase();
        let (architecture, default_variant) = normalize_arch(&arch);
        let variant = parts
            .get(2)
            .map(|v| v.to_ascii_lowercase())
            .or(default_variant.map(str::to_string));
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: architecture.to_string(),
            variant,
        })
    }

    /// Whether an index entry for `os`/`architecture`/`variant` runs here. A wanted variant must match (arm64's
    /// missing variant means v8); with no wanted variant any variant does.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        let (architecture, default_variant) = normalize_arch(architecture);
        if self.os != os || self.architecture != architecture {
            return false;
        }
        match (&self.variant, variant.or(default_variant)) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have,
            (Some(want), None) => self.architecture == "arm64" && want == "v8",
        }
    }
}

fn normalize_arch(arch: &str) -> (&str, Option<&'static str>) {
    match arch {
        "x86_64" | "x86-64" => ("amd64", None),
        "aarch64" | "arm64" => ("arm64", Some("v8")),
        "armhf" => ("arm", Some("v7")),
        "armel" => ("arm", Some("v6")),
        "i386" => ("386", None),
        other => (other, None),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        // arm64's v8 is its only variant in practice: Docker does not print it.
        match &self.variant {
            Some(v) if !(self.architecture == "arm64" && v == "v8") => write!(f, "/{v}"),
            _ => Ok(()),
        }
    }
}

/// `os/arch[/variant]` of an index entry, for messages.
pub(crate) fn describe(os: &str, architecture: &str, variant: Option<&str>) -> String {
    match variant {
        Some(v) if !v.is_empty() => format!("{os}/{architecture}/{v}"),
        _ => format!("{os}/{architecture}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches_like_docker() {
        let amd64 = Platform::parse("linux/amd64").unwrap();
        assert!(amd64.matches("linux", "amd64", None));
        assert!(!amd64.matches("linux", "s390x", None));
        assert!(!amd64.matches("windows", "amd64", None));
        let arm7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(arm7.matches("linux", "arm", Some("v7")));
        assert!(!arm7.matches("linux", "arm", Some("v6")));
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert_eq!(arm64.to_string(), "linux/arm64");
        assert!(arm64.matches("linux", "arm64", None));
        assert!(arm64.matches("linux", "arm64", Some("v8")));
        assert_eq!(Platform::parse("linux/x86_64").unwrap(), amd64);
        assert_eq!(arm7.to_string(), "linux/arm/v7");
        for bad in ["", "linux", "linux/", "a/b/c/d"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }
}
