//! Loading a project: finding its files, `.env`, interpolation, decoding, merging, resolving, validating.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::decode::Decoder;
use crate::error::{Error, Result, Warning};
use crate::interpolate::interpolate;
use crate::merge::merge_files;
use crate::model::{ComposeFile, Project};
use crate::yaml::{self, Node, Value};
use crate::{dotenv, resolve, validate};

/// The names compose looks for, in its order of preference.
pub const FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// The override files merged on top of a found (not `-f`-given) file.
pub const OVERRIDE_NAMES: [&str; 4] = [
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// One compose file: its path, and its text when it was read already (`-f -`: standard input).
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub content: Option<String>,
}

/// What the command line and the process give the loader.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-f` files in order; empty: look for compose.yaml & co from `cwd` upwards.
    pub files: Vec<Source>,
    pub cwd: PathBuf,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `--env-file` (repeatable); empty: the project directory's `.env`, if there is one.
    pub env_files: Vec<PathBuf>,
    /// The process environment (it wins over `.env`).
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Loaded {
    pub project: Project,
    /// The files read, in merge order.
    pub files: Vec<PathBuf>,
    pub warnings: Vec<Warning>,
}

/// The default files: the first of [`FILE_NAMES`] in `dir` or its nearest parent, and an override beside it.
pub fn find_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut at = Some(dir);
    while let Some(d) = at {
        if let Some(main) = FILE_NAMES.iter().map(|n| d.join(n)).find(|p| p.is_file()) {
            let mut files = vec![main];
            if let Some(over) = OVERRIDE_NAMES
                .iter()
                .map(|n| d.join(n))
                .find(|p| p.is_file())
            {
                files.push(over);
            }
            return Ok(files);
        }
        at = d.parent();
    }
    Err(Error::NoFile(dir.to_path_buf()))
}

/// A directory name made a project name as compose does: lowercase, only `[a-z0-9_-]`, starting with a letter
/// or digit.
pub fn normalize_project_name(name: &str) -> String {
    let lower: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lower
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

fn check_project_name(name: &str) -> Result<()> {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if valid {
        return Ok(());
    }
    Err(Error::Project {
        pos: None,
        message: format!(
            "invalid project name {name:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
        ),
    })
}

fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    resolve::clean(&cwd.join(path))
}

pub fn load(options: &Options) -> Result<Loaded> {
    let sources: Vec<Source> = if options.files.is_empty() {
        find_files(&options.cwd)?
            .into_iter()
            .map(|path| Source {
                path,
                content: None,
            })
            .collect()
    } else {
        options.files.clone()
    };
    let project_dir = match (&options.project_directory, sources.first()) {
        (Some(dir), _) => absolute(&options.cwd, dir),
        (None, Some(first)) if first.content.is_none() => absolute(&options.cwd, &first.path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| options.cwd.clone()),
        _ => options.cwd.clone(),
    };

    let environment = environment(options, &project_dir)?;
    let lookup = |name: &str| environment.get(name).cloned();

    let mut warnings = Vec::new();
    let mut unset: Vec<String> = Vec::new();
    let mut merged = ComposeFile::default();
    let mut files = Vec::new();
    for source in &sources {
        let path = if source.content.is_some() {
            source.path.clone()
        } else {
            absolute(&options.cwd, &source.path)
        };
        let text = match &source.content {
            Some(text) => text.clone(),
            None => std::fs::read_to_string(&path).map_err(|e| Error::Read {
                path: path.clone(),
                source: e,
            })?,
        };
        let mut root = yaml::parse(&text, &path)?;
        match &root.value {
            Value::Map(_) => {}
            // Compose refuses a file with nothing in it (a mistyped -f, an editor's empty buffer).
            Value::Null => {
                return Err(Error::Project {
                    pos: Some(root.pos.clone()),
                    message: "empty compose file".into(),
                })
            }
            _ => return Err(crate::decode::wrong(&root, "", "a mapping")),
        }
        interpolate_tree(&mut root, "", &lookup, &mut unset)?;
        let file = Decoder {
            warnings: &mut warnings,
        }
        .file(&root)?;
        merged = merge_files(merged, file);
        files.push(path);
    }
    // Compose's own words, once per variable, before the other warnings.
    let unset_warnings = unset.iter().map(|name| Warning {
        message: format!("The {name:?} variable is not set. Defaulting to a blank string."),
        pos: None,
    });
    let warnings: Vec<Warning> = unset_warnings.chain(warnings).collect();

    let name = match options
        .project_name
        .clone()
        .or_else(|| lookup("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty()))
        .or_else(|| merged.name.clone())
    {
        Some(name) => name,
        None => normalize_project_name(
            &project_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    };
    check_project_name(&name)?;

    let project = resolve::resolve(merged, name, &project_dir, &lookup)?;
    validate::validate(&project)?;
    Ok(Loaded {
        project,
        files,
        warnings,
    })
}

/// `.env` (or the `--env-file`s) under the process environment.
fn environment(options: &Options, project_dir: &Path) -> Result<BTreeMap<String, String>> {
    let env_files: Vec<PathBuf> = if options.env_files.is_empty() {
        let default = project_dir.join(".env");
        if default.is_file() {
            vec![default]
        } else {
            Vec::new()
        }
    } else {
        options
            .env_files
            .iter()
            .map(|f| absolute(&options.cwd, f))
            .collect()
    };
    let mut vars = BTreeMap::new();
    for file in env_files {
        let text = std::fs::read_to_string(&file).map_err(|e| Error::Read {
            path: file.clone(),
            source: e,
        })?;
        let lookup = |name: &str| {
            options
                .environment
                .get(name)
                .or_else(|| vars.get(name))
                .cloned()
        };
        let parsed = dotenv::parse(&text, &lookup).map_err(|(line, message)| Error::Project {
            pos: Some(crate::Pos {
                file: std::sync::Arc::from(file.as_path()),
                line,
                col: 1,
            }),
            message,
        })?;
        vars.extend(parsed);
    }
    vars.extend(options.environment.clone());
    Ok(vars)
}

/// Interpolates every scalar value (not the keys) of a file, as compose does before reading it.
fn interpolate_tree(
    node: &mut Node,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<()> {
    match &mut node.value {
        Value::Scalar(scalar) => {
            if !scalar.text.contains('$') {
                return Ok(());
            }
            let result = interpolate(&scalar.text, lookup).map_err(|e| Error::Interpolation {
                pos: node.pos.clone(),
                path: path.to_string(),
                message: e.to_string(),
            })?;
            for name in result.unset {
                if !unset.contains(&name) {
                    unset.push(name);
                }
            }
            scalar.text = result.text;
        }
        Value::Seq(items) => {
            for item in items {
                interpolate_tree(item, path, lookup, unset)?;
            }
        }
        Value::Map(entries) => {
            for (key, value) in entries {
                let key = key.as_str().unwrap_or_default();
                let sub = crate::decode::join(path, key);
                interpolate_tree(value, &sub, lookup, unset)?;
            }
        }
        Value::Null => {}
    }
    Ok(())
}
