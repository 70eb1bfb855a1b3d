//! What `hoist build` builds from: the CONTEXT argument and `-f`, as `docker buildx build` takes them.
//!
//! - a directory (`-f` relative to the working directory, default CONTEXT/Dockerfile);
//! - `-` : stdin is a tar (plain, gzip, bzip2 or xz, told apart by its first bytes) holding the context and its
//!   `Dockerfile` (or `-f PATH` inside it), or else stdin is a Dockerfile and the context is empty;
//! - `-f -` : the Dockerfile from stdin, the context from the argument;
//! - a git URL (`https://host/org/repo.git#ref:subdir`, `git@host:repo.git`, `git://…`, `file://…`, or a local bare
//!   repository `repo.git`): checked out with the host's git; `-f` is then a path inside the context unless it is
//!   absolute. `.git` is left out unless the build arg `BUILDKIT_CONTEXT_KEEP_GIT_DIR=1` is set (as BuildKit).
//!
//! Whatever is not a directory already is made one under the store's `tmp/` (removed when the build ends, or by
//! the next build if hoist is killed): the solver only ever sees a context directory and a Dockerfile path.
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use hoist_solver::context::git::{self, GitSource};
use hoist_store::{Store, TempDir};

/// The build arg that keeps `.git` in a git context (BuildKit's name).
pub const KEEP_GIT_DIR_ARG: &str = "BUILDKIT_CONTEXT_KEEP_GIT_DIR";

/// A context made ready for the solver.
pub struct ResolvedContext {
    pub dir: PathBuf,
    /// The Dockerfile; `None` = `dir/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    /// True when `dir` is made for this build only (stdin, git): its stat cache is not worth keeping.
    pub ephemeral: bool,
    /// `--build-arg BUILDKIT_CONTEXT_KEEP_GIT_DIR=1`: git sources keep their `.git`.
    pub keep_git_dir: bool,
    /// The staging directories behind `dir` and `dockerfile`, removed when dropped.
    _staging: Vec<TempDir>,
}

impl ResolvedContext {
    /// The Dockerfile the build reads.
    pub fn dockerfile_path(&self) -> PathBuf {
        self.dockerfile
            .clone()
            .unwrap_or_else(|| self.dir.join("Dockerfile"))
    }
}

/// Makes the context `argument` names (with `-f file`) a directory, reading stdin when either is `-`.
pub fn resolve(
    store: &Store,
    argument: &str,
    file: Option<&Path>,
    build_args: &[(String, String)],
) -> anyhow::Result<ResolvedContext> {
    let file_is_stdin = file.is_some_and(|f| f == Path::new("-"));
    if argument == "-" {
        anyhow::ensure!(
            !file_is_stdin,
            "invalid argument: can't use stdin for both build context and dockerfile (`-f -` reads the Dockerfile from stdin, the CONTEXT `-` a tar or a Dockerfile from stdin: give one of them a file)"
        );
        return from_stdin(store, file, build_args);
    }
    let mut staging = Vec::new();
    let keep_git_dir = keep_git_dir(build_args);
    // An existing directory is the context whatever its name looks like (as the docker CLI decides), unless it
    // is a bare repository.
    let path = Path::new(argument);
    let is_local_dir = path.is_dir() && !git::is_local_bare_repo(path);
    let (dir, remote) = match git_source(argument).filter(|_| !is_local_dir) {
        Some(source) => {
            let checkout = fetch_git(store, &source, keep_git_dir, &mut staging)?;
            (checkout, true)
        }
        None if is_http(argument) => return from_url(store, argument, file, build_args),
        None => (local_dir(argument)?, false),
    };
    let dockerfile = match file {
        Some(_) if file_is_stdin => Some(dockerfile_from_stdin(store, &mut staging)?),
        // A remote context's -f is a path inside it; an absolute one is a local file (as buildx).
        Some(f) if remote && f.is_relative() => Some(inside(&dir, f, argument)?),
        Some(f) => Some(f.to_path_buf()),
        None => None,
    };
    Ok(ResolvedContext {
        dir,
        dockerfile,
        ephemeral: remote,
        keep_git_dir,
        _staging: staging,
    })
}

/// The git source a context argument names: a git URL, or a local bare repository (`repo.git[#ref:subdir]`).
pub fn git_source(argument: &str) -> Option<GitSource> {
    if let Some(source) = GitSource::parse(argument) {
        return Some(source);
    }
    let (path, fragment) = argument.split_once('#').unwrap_or((argument, ""));
    if !git::is_local_bare_repo(Path::new(path)) {
        return None;
    }
    let absolute = std::path::absolute(path).ok()?;
    let url = format!("file://{}", absolute.display());
    GitSource::parse(&if fragment.is_empty() {
        url
    } else {
        format!("{url}#{fragment}")
    })
}

/// Fetches `source` into a staging directory (kept in `staging`) and returns the context directory in it.
pub fn fetch_git(
    store: &Store,
    source: &GitSource,
    keep_git_dir: bool,
    staging: &mut Vec<TempDir>,
) -> anyhow::Result<PathBuf> {
    let dir = store.new_tmp_dir("git-context")?;
    let checkout = git::checkout(source, dir.path(), keep_git_dir)
        .map_err(|e| anyhow::anyhow!("unable to prepare context: {e}"))?;
    staging.push(dir);
    Ok(checkout.root)
}

fn is_http(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn local_dir(argument: &str) -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(argument);
    if !path.exists() {
        anyhow::bail!("unable to prepare context: path {argument:?} not found");
    }
    if !path.is_dir() {
        anyhow::bail!("unable to prepare context: context must be a directory: {argument}");
    }
    Ok(path)
}

/// `-f PATH` inside the context `dir`: it must not climb out of it.
fn inside(dir: &Path, file: &Path, shown: &str) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(
        file.components().all(|c| matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )),
        "-f {}: the Dockerfile of the context {shown} must be a path inside it",
        file.display()
    );
    Ok(dir.join(file))
}

/// `hoist build -`: a tar context with its Dockerfile, or a Dockerfile alone with an empty context.
fn from_stdin(
    store: &Store,
    file: Option<&Path>,
    build_args: &[(String, String)],
) -> anyhow::Result<ResolvedContext> {
    let input = store.new_tmp_dir("stdin")?;
    let raw = input.path().join("stdin");
    copy_stdin_to(&raw)?;
    from_tar_or_dockerfile(store, input, &raw, file, build_args, "read from stdin")
}

/// `hoist build https://host/ctx.tar.gz` (or a URL of a Dockerfile), as docker does with a remote URL that is
/// no git repository: a tar is the context, anything else the Dockerfile of an empty context.
fn from_url(
    store: &Store,
    url: &str,
    file: Option<&Path>,
    build_args: &[(String, String)],
) -> anyhow::Result<ResolvedContext> {
    let input = store.new_tmp_dir("download")?;
    let raw = hoist_solver::context::remote::download(url, input.path())
        .map_err(|e| anyhow::anyhow!("unable to prepare context: {e}"))?;
    from_tar_or_dockerfile(
        store,
        input,
        &raw,
        file,
        build_args,
        &format!("downloaded from {url}"),
    )
}

/// The file `raw` (in the staging dir `input`) as a context: a tar (plain, gzip, bzip2, xz) unpacked with its
/// Dockerfile (`-f PATH` inside it), or else a Dockerfile with an empty context. `shown` says where it came from.
fn from_tar_or_dockerfile(
    store: &Store,
    input: TempDir,
    raw: &Path,
    file: Option<&Path>,
    build_args: &[(String, String)],
    shown: &str,
) -> anyhow::Result<ResolvedContext> {
    let raw = raw.to_path_buf();
    let context = store.new_tmp_dir("stdin-context")?;
    let is_tar = hoist_executor::fileops::is_archive(&raw)
        .map_err(|e| anyhow::anyhow!("reading the context {shown}: {e}"))?;
    if !is_tar {
        // Not a tar: stdin was the Dockerfile, and there is no context (docker build - < Dockerfile).
        let dockerfile = input.path().join("Dockerfile");
        std::fs::rename(&raw, &dockerfile)
            .with_context(|| format!("staging the Dockerfile {shown}"))?;
        return Ok(ResolvedContext {
            dir: context.path().to_path_buf(),
            dockerfile: Some(dockerfile),
            ephemeral: true,
            keep_git_dir: keep_git_dir(build_args),
            _staging: vec![input, context],
        });
    }
    hoist_executor::fileops::extract_archive(&raw, context.path(), "/", None)
        .map_err(|e| anyhow::anyhow!("unable to prepare context: the tar {shown}: {e}"))?;
    std::fs::remove_file(&raw).ok();
    let name = file.unwrap_or(Path::new("Dockerfile"));
    let dockerfile = inside(context.path(), name, shown)?;
    // The Dockerfile's name is looked up inside the tar: resolved there, it cannot lead out of it.
    let inside_tar =
        hoist_executor::fileops::resolve_in_root(context.path(), &name.to_string_lossy())
            .ok()
            .filter(|p| p.is_file());
    if inside_tar.is_none() {
        anyhow::bail!(
            "failed to read dockerfile: the tar {shown} has no {} (the context is the tar's content; name the Dockerfile inside it with -f PATH)",
            dockerfile
                .strip_prefix(context.path())
                .unwrap_or(name)
                .display()
        );
    }
    Ok(ResolvedContext {
        dir: context.path().to_path_buf(),
        dockerfile: inside_tar,
        ephemeral: true,
        keep_git_dir: keep_git_dir(build_args),
        _staging: vec![input, context],
    })
}

/// `-f -`: the Dockerfile read from stdin, staged as a file named `Dockerfile` (errors say `Dockerfile:3:1`).
fn dockerfile_from_stdin(store: &Store, staging: &mut Vec<TempDir>) -> anyhow::Result<PathBuf> {
    let dir = store.new_tmp_dir("stdin-dockerfile")?;
    let path = dir.path().join("Dockerfile");
    copy_stdin_to(&path)?;
    staging.push(dir);
    Ok(path)
}

fn copy_stdin_to(path: &Path) -> anyhow::Result<()> {
    let mut file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow::Error::new(e).context("reading stdin")),
        };
        std::io::Write::write_all(&mut file, &buf[..n])
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn keep_git_dir(build_args: &[(String, String)]) -> bool {
    build_args
        .iter()
        .rev()
        .find(|(k, _)| k == KEEP_GIT_DIR_ARG)
        .is_some_and(|(_, v)| is_true(v))
}

/// BuildKit's reading of a boolean build arg (`1`, `true`, …).
pub fn is_true(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "yes" | "on"
    )
}

/// `--build-context NAME=VALUE` (buildx): a directory, `docker-image://REF`, a git URL or an http(s) tar. What
/// is fetched is staged in `staging` for the build's length.
pub fn named_contexts(
    store: &Store,
    specs: &[String],
    keep_git_dir: bool,
    staging: &mut Vec<TempDir>,
) -> anyhow::Result<Vec<(String, hoist_solver::NamedContext)>> {
    use hoist_solver::NamedContext;
    let mut named = Vec::new();
    for spec in specs {
        let Some((name, value)) = spec
            .split_once('=')
            .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        else {
            anyhow::bail!(
                "invalid --build-context {spec:?}: expected NAME=VALUE (VALUE: a directory, docker-image://REF, a git URL or an https:// tar)"
            );
        };
        let context = if let Some(reference) = value.strip_prefix("docker-image://") {
            crate::images::check_reference(reference)
                .with_context(|| format!("--build-context {spec}: invalid image reference"))?;
            NamedContext::Image(reference.to_string())
        } else if value.starts_with("oci-layout://") {
            anyhow::bail!(
                "--build-context {spec}: oci-layout:// contexts are not supported by hoist yet; `hoist load` the layout and use docker-image://NAME"
            );
        } else if let Some(source) = git_source(value) {
            NamedContext::Dir {
                path: fetch_git(store, &source, keep_git_dir, staging)
                    .with_context(|| format!("--build-context {name}"))?,
                ephemeral: true,
            }
        } else if is_http(value) {
            let download = store.new_tmp_dir("context-download")?;
            let dir = store.new_tmp_dir("named-context")?;
            let path =
                hoist_solver::context::remote::download_context(value, download.path(), dir.path())
                    .map_err(|e| anyhow::anyhow!("--build-context {name}: {e}"))?;
            staging.push(dir);
            NamedContext::Dir {
                path,
                ephemeral: true,
            }
        } else {
            let path = PathBuf::from(value);
            anyhow::ensure!(
                path.is_dir(),
                "--build-context {spec}: {value} is not a directory (give a directory, docker-image://REF, a git URL or an https:// tar)"
            );
            NamedContext::Dir {
                path,
                ephemeral: false,
            }
        };
        named.push((name.to_string(), context));
    }
    Ok(named)
}
