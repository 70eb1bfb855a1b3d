//! Git sources: a build context (`hoist build https://host/repo.git#ref:subdir`), a named context, and `ADD` of a
//! git URL. hoist runs the host's `git`, as BuildKit's git source does: a shallow fetch of the one ref into a fresh
//! repository, a detached checkout, the submodules, then `.git` removed unless it is to be kept.
//!
//! The URL forms are BuildKit's (`frontend/dockerfile/dfgitutil`): `https://…/x.git`, `http://…/x.git`, `git://…`,
//! `ssh://…`, `git@host:path`, `file://…`, with the fragment `#REF:SUBDIR` (both optional). An http(s) URL is a
//! git source only when its path ends in `.git`; anything else is a file to download.
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

/// A git URL split into what to fetch and what to take from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// The repository as `git fetch` takes it (the URL without its fragment).
    pub remote: String,
    /// A branch, a tag, or a commit (full or abbreviated); `None` = the remote's HEAD.
    pub reference: Option<String>,
    /// A directory inside the repository that is the source; `None` = the top.
    pub subdir: Option<String>,
}

/// What went wrong getting a git source: each message says which repository and what to do.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("git is not installed: hoist runs the host's `git` to fetch {remote}; install it (Debian/Ubuntu: apt-get install git)")]
    Missing { remote: String },
    #[error("git {remote}: the repository has no branch, tag or commit named {reference:?} (git said: {detail})")]
    NoSuchRef {
        remote: String,
        reference: String,
        detail: String,
    },
    #[error("git {remote}: {what} failed: {detail}")]
    Command {
        remote: String,
        what: String,
        detail: String,
    },
    #[error("git {remote}#{reference}: the directory {subdir:?} {problem}")]
    Subdir {
        remote: String,
        reference: String,
        subdir: String,
        problem: &'static str,
    },
    #[error("git {remote}: {error}")]
    Io {
        error: std::io::Error,
        remote: String,
    },
}

impl GitSource {
    /// The git source `text` names, or `None` when it is no git URL (a local path, an http(s) URL of a file).
    pub fn parse(text: &str) -> Option<GitSource> {
        let (url, fragment) = match text.split_once('#') {
            Some((u, f)) => (u, Some(f)),
            None => (text, None),
        };
        if !is_git_url(url) {
            return None;
        }
        let (reference, subdir) = match fragment {
            Some(f) => match f.split_once(':') {
                Some((r, s)) => (r, s),
                None => (f, ""),
            },
            None => ("", ""),
        };
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Some(GitSource {
            remote: url.to_string(),
            reference: non_empty(reference),
            subdir: non_empty(subdir.trim_matches('/')),
        })
    }

    /// `remote#ref` as shown in messages.
    fn shown_reference(&self) -> String {
        self.reference.clone().unwrap_or_else(|| "HEAD".into())
    }
}

/// True for the URLs BuildKit takes as git repositories (see the module comment).
pub fn is_git_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let path = lower.split(['?']).next().unwrap_or("");
        return path.trim_end_matches('/').ends_with(".git");
    }
    if ["git://", "ssh://", "file://", "git+ssh://"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return true;
    }
    // scp-like `user@host:path` (BuildKit: `git@github.com:org/repo.git`).
    match url.split_once('@') {
        Some((user, rest)) => {
            !user.is_empty()
                && !user.contains('/')
                && rest.split_once(':').is_some_and(|(host, path)| {
                    !host.is_empty() && !host.contains('/') && !path.is_empty()
                })
        }
        None => false,
    }
}

/// True when `path` is a bare git repository on disk (`repo.git` with `HEAD`, `objects/` and `refs/`): a
/// context argument naming one is fetched as a git URL rather than read as a directory.
pub fn is_local_bare_repo(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "git")
        && path.join("HEAD").is_file()
        && path.join("objects").is_dir()
        && path.join("refs").is_dir()
}

/// A fetched and checked-out source.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// The commit `reference` resolved to: the cache key of the source.
    pub commit: String,
    /// The source's files: the checkout, or its `subdir`.
    pub root: PathBuf,
}

/// Fetches `source` into the empty directory `dir` and checks it out there; `.git` is removed unless
/// `keep_git_dir`. Submodules are checked out too (as BuildKit does).
pub fn checkout(source: &GitSource, dir: &Path, keep_git_dir: bool) -> Result<Checkout, GitError> {
    let git = Git {
        dir,
        remote: &source.remote,
    };
    git.run("git init", &["init", "-q"])?;
    git.run(
        "git remote add",
        &["remote", "add", "origin", &source.remote],
    )?;
    let wanted = source.reference.as_deref().unwrap_or("HEAD");
    // A tag and a branch of one name: BuildKit takes the tag. `git fetch NAME` resolves a name the same way
    // (refs/tags before refs/heads).
    let shallow = git.run(
        "git fetch",
        &["fetch", "-q", "--depth", "1", "--no-tags", "origin", wanted],
    );
    let commit = match shallow {
        Ok(_) => git.commit_of("FETCH_HEAD")?,
        Err(first) => {
            // A server that will not give a commit by its SHA shallowly, or an abbreviated SHA: fetch
            // everything, then look the name up locally.
            if !looks_like_commit(wanted) {
                return Err(no_such_ref(source, first));
            }
            git.run(
                "git fetch",
                &[
                    "fetch",
                    "-q",
                    "--tags",
                    "origin",
                    "+refs/heads/*:refs/remotes/origin/*",
                ],
            )
            .map_err(|e| no_such_ref(source, e))?;
            git.commit_of(wanted).map_err(|e| no_such_ref(source, e))?
        }
    };
    git.run("git checkout", &["checkout", "-q", "--detach", &commit])?;
    if dir.join(".gitmodules").is_file() {
        let update = [
            "submodule",
            "update",
            "--init",
            "--recursive",
            "--depth",
            "1",
        ];
        if git.run("git submodule update", &update).is_err() {
            git.run("git submodule update", &update[..4])?;
        }
    }
    if !keep_git_dir {
        remove_git_dirs(dir).map_err(|e| GitError::Io {
            error: e,
            remote: source.remote.clone(),
        })?;
    }
    let root = match &source.subdir {
        None => dir.to_path_buf(),
        Some(subdir) => subdir_root(source, dir, subdir)?,
    };
    Ok(Checkout { commit, root })
}

/// The directory `subdir` of the checkout `dir`: it must stay inside and exist.
fn subdir_root(source: &GitSource, dir: &Path, subdir: &str) -> Result<PathBuf, GitError> {
    let problem = |problem| GitError::Subdir {
        remote: source.remote.clone(),
        reference: source.shown_reference(),
        subdir: subdir.to_string(),
        problem,
    };
    if Path::new(subdir)
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(problem("must be a relative path inside the repository"));
    }
    let root = dir.join(subdir);
    // A symlinked subdir could point anywhere on this machine: refuse what resolves outside the checkout.
    let real = root
        .canonicalize()
        .map_err(|_| problem("does not exist in the repository"))?;
    let top = dir.canonicalize().map_err(|e| GitError::Io {
        error: e,
        remote: source.remote.clone(),
    })?;
    if !real.starts_with(&top) {
        return Err(problem("leads out of the repository"));
    }
    if !real.is_dir() {
        return Err(problem("is not a directory"));
    }
    Ok(real)
}

/// The checkout's `.git` and those of its submodules (files there).
fn remove_git_dirs(dir: &Path) -> std::io::Result<()> {
    for entry in walkdir::WalkDir::new(dir)
        .min_depth(1)
        .contents_first(false)
    {
        let entry = entry?;
        if entry.file_name() == ".git" {
            if entry.file_type().is_dir() {
                std::fs::remove_dir_all(entry.path())?;
            } else {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    Ok(())
}

fn looks_like_commit(reference: &str) -> bool {
    (4..=64).contains(&reference.len()) && reference.bytes().all(|b| b.is_ascii_hexdigit())
}

fn no_such_ref(source: &GitSource, error: GitError) -> GitError {
    match error {
        GitError::Command { detail, .. } => GitError::NoSuchRef {
            remote: source.remote.clone(),
            reference: source.shown_reference(),
            detail,
        },
        other => other,
    }
}

/// `git` run in one repository.
struct Git<'a> {
    dir: &'a Path,
    remote: &'a str,
}

impl Git<'_> {
    fn run(&self, what: &str, args: &[&str]) -> Result<String, GitError> {
        let output = Command::new("git")
            .arg("-C")
            .arg(self.dir)
            // Submodules of a file:// repository are refused by git >= 2.38 unless allowed; BuildKit allows them.
            .args([
                "-c",
                "protocol.file.allow=always",
                "-c",
                "advice.detachedHead=false",
            ])
            .args(args)
            .stdin(Stdio::null())
            // Never a password prompt in the middle of a build: a private repository fails with git's message.
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_SSH_COMMAND", ssh_command())
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => GitError::Missing {
                    remote: self.remote.to_string(),
                },
                _ => GitError::Io {
                    error: e,
                    remote: self.remote.to_string(),
                },
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let detail = stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(GitError::Command {
                remote: self.remote.to_string(),
                what: what.to_string(),
                detail: if detail.is_empty() {
                    format!("exit status {}", output.status)
                } else {
                    detail
                },
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// The commit `name` peels to (an annotated tag gives the commit it tags).
    fn commit_of(&self, name: &str) -> Result<String, GitError> {
        self.run(
            "git rev-parse",
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{name}^{{commit}}"),
            ],
        )
    }
}

/// The ssh command for `git@…` URLs: the user's `GIT_SSH_COMMAND`, else ssh that never asks on the terminal.
fn ssh_command() -> String {
    std::env::var("GIT_SSH_COMMAND").unwrap_or_else(|_| "ssh -o BatchMode=yes".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_fragments_parse_as_buildkit() {
        let g = GitSource::parse("https://h/org/repo.git#v1:sub/dir").unwrap();
        assert_eq!(g.remote, "https://h/org/repo.git");
        assert_eq!(g.reference.as_deref(), Some("v1"));
        assert_eq!(g.subdir.as_deref(), Some("sub/dir"));
        let g = GitSource::parse("git@github.com:org/repo.git#main").unwrap();
        assert_eq!(g.remote, "git@github.com:org/repo.git");
        assert_eq!(g.reference.as_deref(), Some("main"));
        assert_eq!(g.subdir, None);
        let g = GitSource::parse("file:///srv/repo.git#:docs").unwrap();
        assert_eq!(g.reference, None);
        assert_eq!(g.subdir.as_deref(), Some("docs"));
        assert!(GitSource::parse("git://h/repo").is_some());
        assert!(GitSource::parse("https://h/file.tar.gz").is_none());
        assert!(GitSource::parse("https://h/repo").is_none());
        assert!(GitSource::parse("./dir").is_none());
        assert!(GitSource::parse("/abs/dir").is_none());
        assert!(GitSource::parse("user@host").is_none());
    }

    #[test]
    fn commit_names() {
        assert!(looks_like_commit("deadbeef"));
        assert!(!looks_like_commit("main"));
        assert!(!looks_like_commit("abc"));
    }
}
