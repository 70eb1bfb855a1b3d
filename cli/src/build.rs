//! `hoist build`.
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use hoist_solver::{BuildOptions, Silent};
use hoist_store::Store;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag (`name:tag`); may be given several times.
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile); `-` reads it from stdin. For a git or stdin-tar context a
    /// relative path is inside the context (as buildx).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Set a build-time variable (`KEY=VALUE`, or `KEY` to take it from the environment).
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// Build this stage (and what it needs) only.
    #[arg(long)]
    target: Option<String>,
    /// Do not use the cache.
    #[arg(long)]
    no_cache: bool,
    /// Do not use the cache for these stages (name or index; may repeat or be comma-separated).
    #[arg(long = "no-cache-filter", value_delimiter = ',')]
    no_cache_filter: Vec<String>,
    /// Expose a secret to `RUN --mount=type=secret`: `id=ID,src=FILE` (or `id=ID,env=VAR`).
    #[arg(long = "secret")]
    secrets: Vec<String>,
    /// How many steps may run at once. Default: COPY/ADD/WORKDIR one per CPU core, RUN containers unbounded.
    #[arg(long, default_value_t = 0)]
    jobs: usize,
    /// Say why each step that missed the cache missed (also kept for `hoist cache explain`).
    #[arg(long)]
    explain: bool,
    /// Reuse build cache from a directory (`type=local,src=DIR`; may repeat).
    #[arg(long = "cache-from")]
    cache_from: Vec<String>,
    /// Write this build's cache to a directory (`type=local,dest=DIR`), for another machine's `--cache-from`.
    #[arg(long = "cache-to")]
    cache_to: Option<String>,
    /// How to show progress: auto (tty on a terminal, else plain), tty, plain (CI logs), json.
    #[arg(long, value_enum, default_value = "auto")]
    progress: crate::progress::Mode,
    /// Look the images the Dockerfile names up in their registries again, even when the store has them.
    #[arg(long)]
    pull: bool,
    /// Push every `-t` tag to its registry after the build (as `--output type=image,push=true`).
    #[arg(long)]
    push: bool,
    /// The platform to pull images for (`linux/amd64`); this host's by default. hoist builds for this host only.
    #[arg(long)]
    platform: Option<String>,
    /// A registry that may be reached over plain http (as well as localhost and 127.0.0.0/8); may repeat.
    #[arg(long = "insecure-registry")]
    insecure_registries: Vec<String>,
    /// Print only the image ID.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Run the build checks only, without building: each warning with its Dockerfile lines; exit 1 when one fails
    /// (as `docker build --check`). A build runs them too and lists what they found at its end.
    #[arg(long)]
    check: bool,
    /// Show the build checks' findings at the end of a build in full: each rule's description and link, and the
    /// Dockerfile lines (as `docker --debug build`).
    #[arg(long)]
    debug: bool,
    /// Where the result goes, as buildx: type=image (default), docker|oci|tar,dest=FILE, local,dest=DIR, or DIR.
    #[arg(short = 'o', long = "output")]
    outputs: Vec<String>,
    /// An extra context, as buildx: `NAME=DIR`, `NAME=docker-image://REF`, `NAME=https://…/x.git#ref` or
    /// `NAME=https://…/x.tar.gz`; `FROM NAME`, `COPY --from=NAME` and `RUN --mount from=NAME` use it instead of a
    /// stage or image of that name. May repeat. A buildx flag: Docker 20.10's `docker build` has no named contexts.
    #[arg(long = "build-context")]
    build_contexts: Vec<String>,
    #[command(flatten)]
    results: crate::build_results::ResultArgs,
    #[command(flatten)]
    run_steps: crate::build_run_options::RunStepArgs,
    /// The build context: a directory; `-` (stdin: a tar, plain/gzip/bzip2/xz, with its Dockerfile, or a
    /// Dockerfile alone and no context); a git URL `https://host/org/repo.git#REF:SUBDIR` (also `git@host:…`,
    /// `git://…`, `file://…`, a local bare `repo.git`), fetched shallow with the host's git, submodules checked
    /// out, without `.git` unless `--build-arg BUILDKIT_CONTEXT_KEEP_GIT_DIR=1` (as BuildKit/buildx; Docker
    /// 20.10's classic builder kept `.git`); or an http(s) URL of a tar (or of a Dockerfile).
    context: String,
}

pub fn run(store: &Store, args: BuildArgs) -> anyhow::Result<i32> {
    // Every option is checked before the first step starts: a typo must not cost a whole build.
    let cache_to_registry = match &args.cache_to {
        Some(spec) => crate::registry_cache::parse_spec("--cache-to", spec)?,
        None => None,
    };
    let mut cache_from_registry = Vec::new();
    let mut cache_from_local = Vec::new();
    for spec in &args.cache_from {
        match crate::registry_cache::parse_spec("--cache-from", spec)? {
            Some(parsed) => cache_from_registry.push((spec.clone(), parsed)),
            None => cache_from_local.push(spec.clone()),
        }
    }
    if let Some(platform) = &args.platform {
        check_platform(platform)?;
    }
    if let (Some(spec), None) = (&args.cache_to, &cache_to_registry) {
        let dest = crate::cache::parse_local_cache_spec("--cache-to", spec, "dest")?;
        if dest.exists() && !dest.is_dir() {
            anyhow::bail!(
                "--cache-to {spec}: {} is not a directory; name a directory (it is created if missing)",
                dest.display()
            );
        }
    }
    // First: the signal mask is inherited by the threads the build starts.
    let cancel = hoist_executor::container::CancelToken::new();
    let interrupts = crate::interrupt::Interrupts::watch(cancel.clone())?;
    let mut build_args = Vec::new();
    for a in &args.build_args {
        match a.split_once('=') {
            Some((k, v)) => build_args.push((k.to_string(), v.to_string())),
            // `--build-arg K` takes K from the environment; an unset K is no build arg (as docker does).
            None => {
                if let Ok(v) = std::env::var(a) {
                    build_args.push((a.clone(), v));
                }
            }
        }
    }
    let outputs = crate::build_output::Outputs::parse(&args.outputs)?;
    // What hoist processes that were killed (SIGKILL, OOM, power loss) left goes first: their staging dirs, the
    // mounts and containers in them, and their containers' cgroups. Never anything a live process owns.
    store.sweep_stale_tmp(&hoist_executor::reap::remove_containers_in);
    hoist_executor::reap::remove_orphaned_cgroups();
    let context =
        crate::build_context::resolve(store, &args.context, args.file.as_deref(), &build_args)?;
    let mut named_staging = Vec::new();
    let named_contexts = crate::build_context::named_contexts(
        store,
        &args.build_contexts,
        context.keep_git_dir,
        &mut named_staging,
    )?;
    let push = args.push || outputs.wants_push();
    let names = outputs.names(&args.tags);
    if push && names.is_empty() {
        anyhow::bail!("--push: tag is needed when pushing to registry; name the image with -t REGISTRY/REPO:TAG");
    }
    for tag in &names {
        crate::images::check_reference(tag).with_context(|| format!("invalid tag {tag:?}"))?;
    }
    let labels = args.results.labels()?;
    // The agents hoist starts for `--ssh ID=KEYFILE` live until the build ends.
    let (run_steps, _ssh_agents) = args.run_steps.resolve()?;
    args.results.remove_stale()?;
    let mut secrets = Vec::new();
    // Secrets given as environment variables live in temp files that are removed when the build ends.
    let mut secret_files = Vec::new();
    for spec in &args.secrets {
        let (id, path, file) = parse_secret(spec)?;
        secrets.push((id, path));
        secret_files.extend(file);
    }
    let images = Arc::new(crate::build_images::RegistryImages::new(
        crate::pull::registry_options(store.root(), args.insecure_registries.clone(), None),
    ));
    let mut options = BuildOptions {
        context_dir: context.dir.clone(),
        dockerfile: Some(context.dockerfile_path()),
        ephemeral_context: context.ephemeral,
        named_contexts,
        // Without an image output the names only name the image in the archives, as with buildx.
        tags: if outputs.stores_image() {
            names.clone()
        } else {
            Vec::new()
        },
        labels,
        source_date_epoch: crate::build_results::source_date_epoch(&build_args)?,
        build_args,
        target: args.target.clone(),
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        secrets,
        jobs: args.jobs,
        explain: args.explain,
        cancel,
        image_source: Some(hoist_solver::ImageSourceHandle(images.clone())),
        pull: args.pull,
        platform: args.platform.clone(),
        remote_caches: Vec::new(),
        on_checks: None,
        run_steps,
    };
    if args.check {
        return check_only(store, &args, &options);
    }
    let checks = crate::build_checks::Kept::default();
    options.on_checks = Some(checks.sink());
    crate::cache::import_cache_from(store, &cache_from_local)?;
    for (spec, parsed) in &cache_from_registry {
        let client = images.client(None).map_err(anyhow::Error::msg)?;
        if let Some(remote) = crate::registry_cache::import(store, client, spec, &parsed.reference)?
        {
            options.remote_caches.push(remote);
        }
    }
    let renderer: Box<dyn hoist_solver::Progress> = if args.quiet {
        Box::new(Silent)
    } else {
        crate::progress::renderer(args.progress)
    };
    let progress = crate::interrupt::Unfinished::new(renderer.as_ref());
    let built = hoist_solver::build(store, &options, &progress);
    let stopped = progress.names();
    drop(progress);
    let report = checks.take();
    let json = matches!(args.progress, crate::progress::Mode::Json);
    if let (Some(report), true) = (&report, json) {
        // A JSON stream gets each finding as a warning event, not a summary for people.
        for w in &report.warnings {
            renderer.event(hoist_solver::Event::Warning {
                message: &w.short(),
            });
        }
    }
    // The terminal view draws its final screen when dropped: before anything else is printed below it.
    drop(renderer);
    // As buildx: the checks' findings close the progress output, before an error (not with -q).
    if let (Some(report), false, false) = (&report, args.quiet, json) {
        let summary = crate::build_checks::summary(report, args.debug);
        if !summary.is_empty() {
            errln!("{}", summary.trim_end_matches('\n'));
        }
    }
    if let Some(signal) = interrupts.received() {
        let what = if stopped.is_empty() {
            "no step was running".to_string()
        } else {
            format!("stopped: {}", stopped.join(", "))
        };
        let image = match &built {
            Ok(out) => format!(" after the image {} was written", out.image.id),
            Err(_) => String::new(),
        };
        errln!(
            "ERROR: build interrupted by {signal}{image}; {what}. Finished steps are kept in the cache."
        );
        return Ok(128 + signal as i32);
    }
    let out = match built {
        Ok(out) => out,
        Err(e) => {
            errln!(
                "ERROR: {e}{}",
                where_in_dockerfile(&context.dockerfile_path(), &e)
            );
            return Ok(1);
        }
    };
    drop(secret_files);
    outputs.write(store, &out.image, &names, options.source_date_epoch)?;
    if !args.quiet {
        errln!("writing image {} done", out.image.id);
        for tag in names.iter().filter(|_| outputs.stores_image()) {
            errln!("naming to {tag} done");
        }
    }
    let mut pushed = None;
    if push {
        let client = images.client(None).map_err(anyhow::Error::msg)?;
        for tag in &names {
            pushed = Some(crate::build_images::push_tag(
                store, &client, &out.image, tag, args.quiet,
            )?);
        }
    }
    match (&args.cache_to, &cache_to_registry) {
        (Some(_), Some(registry_spec)) => {
            let client = images.client(None).map_err(anyhow::Error::msg)?;
            crate::registry_cache::export(store, &client, registry_spec, &out)?;
        }
        (Some(spec), None) => {
            let keys: Vec<String> = out.report.iter().map(|s| s.key.clone()).collect();
            crate::cache::export_cache_to(store, spec, &keys)?;
        }
        (None, _) => {}
    }
    args.results.write(store, &out, &names, pushed.as_ref())?;
    if args.quiet {
        if !outputs.uses_stdout() {
            outln!("{}", out.image.id);
        }
    } else {
        errln!(
            "{} steps cached, {} executed",
            out.cached_steps,
            out.executed_steps
        );
    }
    Ok(0)
}

/// `--check`: the checks alone, printed in full on stdout; exit 1 when any check failed.
fn check_only(store: &Store, args: &BuildArgs, options: &BuildOptions) -> anyhow::Result<i32> {
    let renderer = crate::progress::renderer(args.progress);
    let checked = hoist_solver::check(store, options, renderer.as_ref());
    drop(renderer);
    match checked {
        Ok(report) => {
            outln!(
                "{}",
                crate::build_checks::full(&report).trim_end_matches('\n')
            );
            Ok(if report.warnings.is_empty() { 0 } else { 1 })
        }
        Err(e) => {
            let dockerfile = options.dockerfile.clone().unwrap_or_default();
            errln!("ERROR: {e}{}", where_in_dockerfile(&dockerfile, &e));
            Ok(1)
        }
    }
}

/// The Dockerfile line an error is about, with a caret under its column (as a parse error shows it); empty when
/// the error has no position or the file cannot be read again.
fn where_in_dockerfile(path: &std::path::Path, error: &hoist_solver::BuildError) -> String {
    let Some((_, pos)) = error.location() else {
        return String::new();
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    match text.lines().nth(pos.line.saturating_sub(1)) {
        Some(line) if pos.line > 0 => {
            format!("\n{}", hoist_parser::snippet(line, pos.line, pos.col))
        }
        _ => String::new(),
    }
}

/// `--platform`: hoist runs RUN steps natively, so it builds for this host's platform only (no emulation).
fn check_platform(text: &str) -> anyhow::Result<()> {
    let wanted = hoist_registry::Platform::parse(text).map_err(anyhow::Error::msg)?;
    let host = hoist_registry::Platform::host();
    anyhow::ensure!(
        wanted.os == host.os && wanted.architecture == host.architecture,
        "--platform {text}: hoist builds for this host's platform ({host}) only; it cannot run another platform's RUN steps (no emulation)"
    );
    Ok(())
}

/// `--secret id=ID,src=FILE` / `id=ID,env=VAR` (docker buildx's syntax; `source=` and `type=file|env` accepted).
fn parse_secret(spec: &str) -> anyhow::Result<(String, PathBuf, Option<tempfile::NamedTempFile>)> {
    let (mut id, mut src, mut env) = (None, None, None);
    for field in spec.split(',') {
        match field.split_once('=') {
            Some(("id", v)) => id = Some(v.to_string()),
            Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
            Some(("env", v)) => env = Some(v.to_string()),
            Some(("type", "file" | "env")) => {}
            _ => anyhow::bail!("--secret {spec}: expected id=ID,src=FILE or id=ID,env=VAR"),
        }
    }
    let id = id.ok_or_else(|| anyhow::anyhow!("--secret {spec}: id= is required"))?;
    if let Some(src) = src {
        anyhow::ensure!(
            src.is_file(),
            "--secret {spec}: {} is not a readable file",
            src.display()
        );
        return Ok((id, src, None));
    }
    // An env secret is written to a private temp file that lives for the build.
    let var = env.unwrap_or_else(|| id.clone());
    let value = std::env::var(&var)
        .map_err(|_| anyhow::anyhow!("--secret {spec}: environment variable {var} is not set"))?;
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), value)?;
    Ok((id, file.path().to_path_buf(), Some(file)))
}
