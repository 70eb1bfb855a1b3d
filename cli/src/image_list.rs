//! `hoist images` / `hoist image ls`: Docker's columns, filters and `--format`.
use anyhow::bail;
use clap::Args;
use hoist_store::{ImageRecord, Store};
use serde_json::json;

use crate::listing::{self, Listing};

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (hoist keeps no intermediate images, so this is the same list).
    #[arg(short = 'a', long)]
    all: bool,
    /// Show only image IDs.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Show the repo digests (`sha256:…` of the manifest a registry knows the image by).
    #[arg(long)]
    digests: bool,
    /// Do not truncate image IDs.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Filter: dangling=true|false, label=KEY[=VALUE], reference=PATTERN, before=IMAGE, since=IMAGE.
    #[arg(short = 'f', long = "filter")]
    filters: Vec<String>,
    /// A Go template (`{{.Repository}}:{{.Tag}}`), `table TEMPLATE`, or `json`. Fields: ID, Repository, Tag,
    /// Digest, CreatedSince, CreatedAt, Size, Containers, SharedSize, UniqueSize, VirtualSize.
    #[arg(long)]
    format: Option<String>,
    /// Only images of this repository (`name` or `name:tag`; `*` patterns as in `reference=`).
    repository: Option<String>,
}

const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

/// The filters of `images --filter`, checked before anything is listed.
#[derive(Default)]
pub struct ImageFilter {
    dangling: Option<bool>,
    labels: Vec<(String, Option<String>)>,
    references: Vec<String>,
    /// Created strictly before / after these images.
    before: Option<chrono::DateTime<chrono::FixedOffset>>,
    since: Option<chrono::DateTime<chrono::FixedOffset>>,
}

impl ImageFilter {
    pub fn parse(store: &Store, filters: &[String]) -> anyhow::Result<ImageFilter> {
        let mut f = ImageFilter::default();
        for spec in filters {
            let Some((key, value)) = spec.split_once('=') else {
                bail!("bad format of filter (expected name=value): {spec}");
            };
            match key {
                "dangling" => {
                    f.dangling = Some(match value.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => bail!(
                        "invalid filter 'dangling={value}': use dangling=true or dangling=false"
                    ),
                    })
                }
                "label" => f.labels.push(match value.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (value.to_string(), None),
                }),
                "reference" => f.references.push(value.to_string()),
                "before" | "since" => {
                    let Some(image) = store.resolve(value)? else {
                        bail!("invalid filter '{key}={value}': no such image: {value}");
                    };
                    let when = image
                        .created
                        .as_deref()
                        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok());
                    if key == "before" {
                        f.before = when;
                    } else {
                        f.since = when;
                    }
                }
                "until" => {
                    bail!("invalid filter 'until': `images` does not take it (`image prune` does)")
                }
                other => bail!("invalid filter '{other}'"),
            }
        }
        Ok(f)
    }

    /// Whether the image listed under `reference` (`<none>:<none>` for an untagged one) passes.
    pub fn accepts(&self, reference: &str, image: &ImageRecord) -> bool {
        let dangling = reference == "<none>:<none>";
        if self.dangling.is_some_and(|d| d != dangling) {
            return false;
        }
        if !self
            .labels
            .iter()
            .all(|(key, value)| label_matches(image, key, value.as_deref()))
        {
            return false;
        }
        if !self.references.is_empty() {
            if dangling {
                return false;
            }
            let (repo, _) = split_reference(reference);
            if !self
                .references
                .iter()
                .any(|p| glob_match(p, &familiar(reference)) || glob_match(p, &familiar(repo)))
            {
                return false;
            }
        }
        let created = created(image);
        if let Some(before) = self.before {
            if created.is_none_or(|c| c >= before) {
                return false;
            }
        }
        if let Some(since) = self.since {
            if created.is_none_or(|c| c <= since) {
                return false;
            }
        }
        true
    }
}

/// When the image was made (its config's `created`), if it says.
pub fn created(image: &ImageRecord) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    image
        .created
        .as_deref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
}

/// Whether the image has label `key` (with `value`, when given).
pub fn label_matches(image: &ImageRecord, key: &str, value: Option<&str>) -> bool {
    let labels = image
        .config
        .config()
        .as_ref()
        .and_then(|c| c.labels().clone());
    match labels.as_ref().and_then(|l| l.get(key)) {
        None => false,
        Some(have) => value.is_none_or(|want| want == have),
    }
}

/// `repo:tag` → (`repo`, `tag`); a reference without a tag is `latest`.
pub fn split_reference(reference: &str) -> (&str, &str) {
    reference
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .unwrap_or((reference, "latest"))
}

/// The name as Docker shows it: `docker.io/library/busybox` → `busybox`, `docker.io/x/y` → `x/y`.
fn familiar(name: &str) -> String {
    let short = name.strip_prefix("docker.io/").unwrap_or(name);
    short.strip_prefix("library/").unwrap_or(short).to_string()
}

/// Go's `path.Match` for `*` and `?` (neither crosses `/`), as Docker's reference filter uses it.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| go(&p[1..], &t[i..])),
            Some('?') => t.first().is_some_and(|&c| c != '/') && go(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

pub fn images(store: &Store, args: ImagesArgs) -> anyhow::Result<i32> {
    let mut filters = args.filters.clone();
    if let Some(repo) = &args.repository {
        filters.push(format!("reference={repo}"));
    }
    let filter = ImageFilter::parse(store, &filters)?;
    let _ = args.all;
    let mut list: Vec<(String, ImageRecord)> = store
        .list_images()?
        .into_iter()
        .filter(|(reference, image)| filter.accepts(reference, image))
        .collect();
    // Newest first, as Docker lists them (the sort is stable: equal times keep the store's order).
    list.sort_by_key(|(_, image)| std::cmp::Reverse(created(image)));
    let short_id = |image: &ImageRecord| {
        if args.no_trunc {
            image.id.to_string()
        } else {
            image.id.hex()[..12].to_string()
        }
    };
    if args.quiet {
        let mut seen = std::collections::HashSet::new();
        for (_, image) in &list {
            if seen.insert(image.id.clone()) {
                outln!("{}", short_id(image));
            }
        }
        return Ok(0);
    }
    let default = if args.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let listing = Listing::new(args.format.as_deref(), default)?;
    let mut rows = Vec::with_capacity(list.len());
    for (reference, image) in &list {
        let (repo, tag) = if reference == "<none>:<none>" {
            ("<none>", "<none>")
        } else {
            split_reference(reference)
        };
        let digest = store
            .repo_digests(&image.id)?
            .into_iter()
            .find(|(name, _)| name == repo)
            .map_or("<none>".to_string(), |(_, d)| d.to_string());
        let size = listing::docker_size(image.size);
        rows.push(json!({
            "ID": short_id(image),
            "Repository": repo,
            "Tag": tag,
            "Digest": digest,
            "CreatedSince": listing::since(image.created.as_deref()),
            "CreatedAt": listing::created_at(image.created.as_deref()),
            "Size": size,
            "VirtualSize": size,
            "Containers": "N/A",
            "SharedSize": "N/A",
            "UniqueSize": "N/A",
        }));
    }
    crate::output::write_stdout(format_args!("{}", listing.render(&rows, HEADERS)?));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_patterns_as_path_match() {
        assert!(glob_match("busybox", "busybox"));
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("busybox:1*", "busybox:1.36"));
        assert!(!glob_match("*", "team/app"));
        assert!(glob_match("*/*", "team/app"));
        assert!(glob_match("b?sybox", "busybox"));
        assert!(!glob_match("busybox", "busybox2"));
        assert_eq!(familiar("docker.io/library/busybox"), "busybox");
        assert_eq!(
            split_reference("registry:5000/app"),
            ("registry:5000/app", "latest")
        );
    }
}
