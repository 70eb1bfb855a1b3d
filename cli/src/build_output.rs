//! `hoist build --output` (`-o`): where a build's result goes, spelled as buildx spells it.
//!
//! `type=image` (the default: into the store, with the `-t` tags), `type=docker,dest=x.tar` (a docker-archive),
//! `type=oci,dest=x.tar` (an OCI layout tar; `tar=false`: an OCI layout directory), `type=local,dest=DIR` (the
//! final filesystem), `type=tar,dest=x.tar` (that filesystem as a tar); `-o DIR` is `type=local,dest=DIR` and
//! `-o -` is `type=tar,dest=-`. `dest=-` writes to standard output. `type=registry` and `push=true` are parsed
//! and reported by [`Outputs::wants_push`]: pushing is done by the registry client, not here.
use std::fs::{self, File};
use std::io::{BufWriter, IsTerminal as _, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use hoist_store::{ImageRecord, LayerCompression, Store};

/// What kind of output (buildx's exporter names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// Into the store (buildx: the image store; `type=docker` without `dest` loads there too).
    Image,
    /// A docker-archive (`docker load`).
    Docker,
    /// An OCI image layout: a tar, or a directory with `tar=false`.
    Oci,
    /// The final filesystem written to a directory.
    Local,
    /// The final filesystem as a tar.
    Tar,
}

/// One `--output` value, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    pub kind: OutputKind,
    /// `dest=`: a file or a directory; `-` is standard output.
    pub dest: Option<PathBuf>,
    /// `tar=false` (oci, docker): a layout directory instead of a tar.
    pub tar: bool,
    /// Whether `tar=` was given: without it, an existing directory as an oci `dest` gets a layout directory
    /// (the issue's `dest=DIR`), where buildx would fail to write a file.
    pub tar_given: bool,
    /// `name=`: more names for the image (added to the `-t` tags).
    pub names: Vec<String>,
    /// `push=true`, or `type=registry`.
    pub push: bool,
    /// `compression=`: layer compression of an archive (`uncompressed`, `gzip`, `zstd`).
    pub compression: Option<LayerCompression>,
    /// The value as given, for messages.
    pub raw: String,
}

impl OutputSpec {
    fn to_stdout(&self) -> bool {
        self.dest.as_deref() == Some(Path::new("-"))
    }
}

/// Every `--output` of a build.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub specs: Vec<OutputSpec>,
}

impl Outputs {
    /// Parses the `-o` values; no value means `type=image`. Errors name the value and say what to write.
    pub fn parse(values: &[String]) -> anyhow::Result<Outputs> {
        let mut specs = Vec::new();
        for value in values {
            specs.push(parse_one(value)?);
        }
        if specs.is_empty() {
            specs.push(parse_one("type=image")?);
        }
        let to_stdout = specs.iter().filter(|s| s.to_stdout()).count();
        if to_stdout > 1 {
            bail!("only one --output may write to standard output (dest=-)");
        }
        Ok(Outputs { specs })
    }

    /// Whether the image must be pushed (`type=registry`, or `push=true`): for the registry client to do.
    pub fn wants_push(&self) -> bool {
        self.specs.iter().any(|s| s.push)
    }

    /// Whether the image goes into the store under its names (`type=image`, `type=registry`); without such an
    /// output, the `-t` names only name the image inside the exported archives, as with buildx.
    pub fn stores_image(&self) -> bool {
        self.specs.iter().any(|s| s.kind == OutputKind::Image)
    }

    /// The names the image gets in the store and in archives: the `-t` tags, then each output's `name=`.
    pub fn names(&self, tags: &[String]) -> Vec<String> {
        let mut names: Vec<String> = tags.to_vec();
        for spec in &self.specs {
            for name in &spec.names {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        names
    }

    /// Whether some output writes to standard output (then the image ID is not printed there).
    pub fn uses_stdout(&self) -> bool {
        self.specs.iter().any(OutputSpec::to_stdout)
    }

    /// Writes every output but `type=image` (the build has already stored and tagged the image). With
    /// `source_date_epoch`, the files of `type=local` and `type=tar` get it as their mtime, as BuildKit's do.
    pub fn write(
        &self,
        store: &Store,
        image: &ImageRecord,
        names: &[String],
        source_date_epoch: Option<i64>,
    ) -> anyhow::Result<()> {
        for spec in &self.specs {
            write_one(store, spec, image, names, source_date_epoch)
                .with_context(|| format!("--output {}", spec.raw))?;
        }
        Ok(())
    }
}

fn parse_one(value: &str) -> anyhow::Result<OutputSpec> {
    let fields = split_fields(value);
    // buildx: one field that does not start with `type=` is a destination directory (`-`: a tar on stdout).
    let fields = match fields.as_slice() {
        [only] if only == value && !value.starts_with("type=") => {
            if value == "-" {
                vec!["type=tar".to_string(), "dest=-".to_string()]
            } else {
                vec!["type=local".to_string(), format!("dest={value}")]
            }
        }
        _ => fields,
    };
    let value = value.to_string();
    let mut kind = None;
    let mut spec = OutputSpec {
        kind: OutputKind::Image,
        dest: None,
        tar: true,
        tar_given: false,
        names: Vec::new(),
        push: false,
        compression: None,
        raw: value.clone(),
    };
    for field in &fields {
        let Some((key, val)) = field.split_once('=') else {
            bail!("--output {value}: invalid value {field:?}: expected key=value (e.g. type=local,dest=out)");
        };
        let flag = |v: &str| -> anyhow::Result<bool> {
            match v {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => bail!("--output {value}: {key}={v}: expected true or false"),
            }
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "type" => {
                kind = Some(match val {
                    "image" => OutputKind::Image,
                    "registry" => {
                        spec.push = true;
                        OutputKind::Image
                    }
                    "docker" => OutputKind::Docker,
                    "oci" => OutputKind::Oci,
                    "local" => OutputKind::Local,
                    "tar" => OutputKind::Tar,
                    other => bail!(
                        "--output {value}: unknown type {other:?}: use image, registry, docker, oci, local or tar"
                    ),
                })
            }
            "dest" => spec.dest = Some(PathBuf::from(val)),
            "tar" => {
                spec.tar = flag(val)?;
                spec.tar_given = true;
            }
            "name" => spec.names.extend(
                val.split(',')
                    .filter(|n| !n.is_empty())
                    .map(str::to_string),
            ),
            "push" => spec.push = flag(val)?,
            "compression" => {
                spec.compression = match val {
                    "uncompressed" => None,
                    "gzip" => Some(LayerCompression::Gzip),
                    "zstd" => Some(LayerCompression::Zstd),
                    other => bail!(
                        "--output {value}: unknown compression {other:?}: use uncompressed, gzip or zstd"
                    ),
                }
            }
            // buildx attributes that change nothing hoist writes.
            "oci-mediatypes" | "force-compression" | "compression-level" | "unpack" | "store"
            | "platform-split" | "annotation" => {}
            other if other.starts_with("annotation") => {}
            other => bail!("--output {value}: unknown attribute {other:?}"),
        }
    }
    spec.kind = kind.ok_or_else(|| {
        anyhow::anyhow!("--output {value}: type is required (e.g. type=local,dest=out)")
    })?;
    match spec.kind {
        OutputKind::Local | OutputKind::Tar => {
            let what = if spec.kind == OutputKind::Local {
                "local"
            } else {
                "tar"
            };
            if spec.dest.is_none() {
                bail!("--output {value}: dest is required for {what} output");
            }
            if spec.kind == OutputKind::Local && spec.to_stdout() {
                bail!("--output {value}: dest for local output cannot be -");
            }
        }
        OutputKind::Oci => {
            if spec.dest.is_none() {
                bail!("--output {value}: dest is required for oci output (a file, a directory with tar=false, or -)");
            }
        }
        // docker without dest loads the image, which for hoist is the store.
        OutputKind::Docker if spec.dest.is_none() => spec.kind = OutputKind::Image,
        OutputKind::Docker | OutputKind::Image => {}
    }
    if !spec.tar && spec.to_stdout() {
        bail!("--output {value}: tar=false writes a directory: give dest=DIR, not -");
    }
    if spec.to_stdout() && std::io::stdout().is_terminal() {
        bail!(
            "--output {value}: dest file is required for {:?} exporter. refusing to write to console",
            spec.kind
        );
    }
    Ok(spec)
}

/// The comma-separated fields of a value, as buildx reads them (CSV): `"name=a,b"` in double quotes is one field.
fn split_fields(value: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

fn write_one(
    store: &Store,
    spec: &OutputSpec,
    image: &ImageRecord,
    names: &[String],
    source_date_epoch: Option<i64>,
) -> anyhow::Result<()> {
    let Some(dest) = spec.dest.as_deref() else {
        return Ok(()); // type=image: the build stored it
    };
    let as_tar = spec.tar && (spec.tar_given || spec.kind != OutputKind::Oci || !dest.is_dir());
    match spec.kind {
        OutputKind::Image => Ok(()),
        OutputKind::Docker if as_tar => write_archive(dest, |w| {
            Ok(store.write_named_docker_archive(image, names, w, spec.compression)?)
        }),
        OutputKind::Oci if as_tar => write_archive(dest, |w| {
            let compression = spec.compression.or(Some(LayerCompression::Gzip));
            Ok(store.write_named_oci_layout(image, names, w, compression)?)
        }),
        // A layout directory: the archive, unpacked as it is written.
        OutputKind::Docker | OutputKind::Oci => {
            let compression = match spec.kind {
                OutputKind::Oci => spec.compression.or(Some(LayerCompression::Gzip)),
                _ => spec.compression,
            };
            fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
            let (reader, writer) = std::io::pipe().context("making a pipe")?;
            std::thread::scope(|scope| {
                let writing = scope.spawn(move || -> anyhow::Result<()> {
                    let w = BufWriter::with_capacity(256 * 1024, writer);
                    let w = match spec.kind {
                        OutputKind::Oci => {
                            store.write_named_oci_layout(image, names, w, compression)?
                        }
                        _ => store.write_named_docker_archive(image, names, w, compression)?,
                    };
                    w.into_inner().map_err(|e| e.into_error())?;
                    Ok(())
                });
                let options = hoist_store::UnpackOptions {
                    overlay_whiteouts: false,
                    ..Default::default()
                };
                let unpacked = hoist_store::unpack_tar(reader, dest, "image layout", options);
                let written = writing
                    .join()
                    .map_err(|_| anyhow::anyhow!("the layout writer panicked"))?;
                written?;
                Ok(unpacked?)
            })
        }
        OutputKind::Local => {
            fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
            apply_layers(store, image, dest)?;
            if let Some(epoch) = source_date_epoch {
                set_mtimes(dest, epoch)?;
            }
            Ok(())
        }
        OutputKind::Tar => {
            let staging = store.new_tmp_dir("output-rootfs")?;
            apply_layers(store, image, staging.path())?;
            if let Some(epoch) = source_date_epoch {
                set_mtimes(staging.path(), epoch)?;
            }
            write_archive(dest, |w| {
                let mut builder = tar::Builder::new(w);
                builder.follow_symlinks(false);
                append_tree(&mut builder, staging.path(), Path::new(""))?;
                Ok(builder.into_inner()?)
            })
        }
    }
}

/// The image's filesystem in `dest`: every layer applied, base first, whiteouts removing what they hide.
fn apply_layers(store: &Store, image: &ImageRecord, dest: &Path) -> anyhow::Result<()> {
    for (i, diff) in image.diff_ids()?.iter().enumerate() {
        let blob = store.open_blob(diff)?;
        let label = format!("layer {i} ({})", diff.short());
        hoist_store::apply_layer(
            std::io::BufReader::with_capacity(256 * 1024, blob),
            dest,
            &label,
        )?;
    }
    Ok(())
}

/// Every entry below `dir` (links themselves, never followed) gets `epoch` as its access and modification time.
fn set_mtimes(dir: &Path, epoch: i64) -> anyhow::Result<()> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    let time = nix::sys::time::TimeSpec::new(epoch as libc::time_t, 0);
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        // Children first: setting a directory's time is undone by nothing below it then.
        if entry.file_type()?.is_dir() {
            set_mtimes(&path, epoch)?;
        }
        utimensat(None, &path, &time, &time, UtimensatFlags::NoFollowSymlink)
            .with_context(|| format!("setting the time of {}", path.display()))?;
    }
    Ok(())
}

/// `dir` into the tar under `prefix`, in name order (so the same filesystem gives the same tar).
fn append_tree<W: Write>(
    builder: &mut tar::Builder<W>,
    dir: &Path,
    prefix: &Path,
) -> anyhow::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = prefix.join(entry.file_name());
        let path = entry.path();
        builder
            .append_path_with_name(&path, &name)
            .with_context(|| format!("adding {} to the tar", name.display()))?;
        if entry.file_type()?.is_dir() {
            append_tree(builder, &path, &name)?;
        }
    }
    Ok(())
}

/// A file written through a sibling temp file and renamed into place, or standard output for `-`.
fn write_archive(
    dest: &Path,
    write: impl FnOnce(Box<dyn Write + '_>) -> anyhow::Result<Box<dyn Write + '_>>,
) -> anyhow::Result<()> {
    if dest == Path::new("-") {
        let out = BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
        let mut out = write(Box::new(out))?;
        out.flush().context("writing to standard output")?;
        return Ok(());
    }
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let file_name = dest
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("{} is not a file name", dest.display()))?;
    let tmp = dest.with_file_name(format!(".{}.hoist-tmp", file_name.to_string_lossy()));
    let result = (|| -> anyhow::Result<()> {
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut out = write(Box::new(BufWriter::with_capacity(256 * 1024, &file)))?;
        out.flush()?;
        drop(out);
        file.sync_all()?;
        fs::rename(&tmp, dest).with_context(|| format!("renaming into {}", dest.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: &str) -> OutputSpec {
        Outputs::parse(&[v.to_string()]).unwrap().specs.remove(0)
    }

    #[test]
    fn buildx_spellings() {
        let local = one("out");
        assert_eq!(
            (local.kind, local.dest),
            (OutputKind::Local, Some("out".into()))
        );
        let oci = one("type=oci,dest=x,tar=false");
        assert_eq!((oci.kind, oci.tar), (OutputKind::Oci, false));
        assert!(one("type=registry").push);
        assert!(one("type=image,name=a:1,push=true").push);
        assert_eq!(one("type=image,name=a:1").names, vec!["a:1".to_string()]);
        assert_eq!(one("type=docker").kind, OutputKind::Image);
        assert!(Outputs::parse(&[]).unwrap().stores_image());
        assert!(!Outputs::parse(&["type=local,dest=o".into()])
            .unwrap()
            .stores_image());
        assert_eq!(
            one("type=image,\"name=a:1,b:2\",push=false").names,
            vec!["a:1".to_string(), "b:2".to_string()]
        );
        let odd = one("dest=x");
        assert_eq!(
            (odd.kind, odd.dest),
            (OutputKind::Local, Some("dest=x".into())),
            "one field without type= is a directory, as buildx reads it"
        );
        for bad in [
            "type=local",
            "type=tar",
            "type=oci",
            "type=nope,dest=x",
            "type=local,dest=-",
            "type=local,x",
        ] {
            assert!(Outputs::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
