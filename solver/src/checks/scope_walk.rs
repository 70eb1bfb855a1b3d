//! The checks that follow each stage's ARG/ENV scope without running anything: UndefinedVar (a `$VAR` with no
//! value where BuildKit expands it), CopyIgnoredFile (a COPY source `.dockerignore` leaves out),
//! InvalidBaseImagePlatform (a base image of another platform than the one asked for), and the EXPOSE checks
//! (ExposeProtoCasing, ExposeInvalidFormat), which judge the ports once expanded.
//!
//! The scope follows [`crate::lower`]'s rules (see [`crate::args`]): a stage starts from its base's ENV (a base
//! image's config, or the earlier stage's ENV), ENV sets names, ARG declares them. A stage whose base image
//! cannot be read (not in the store, and no registry) has an unknown ENV: its variables are not judged.
use std::collections::{BTreeSet, HashMap};

use hoist_parser::ast::{InstructionKind, Stage};
use hoist_parser::lint::{rules, CheckWarning};
use hoist_parser::shell::{self, Env};

use crate::args::Scope;
use crate::stage::Build;

/// Names BuildKit never reports undefined (its SBOM scanner's arguments, which are not in the environment).
const NON_ENV_ARGS: &[&str] = &["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"];

pub(super) fn check(build: &Build, stages: &BTreeSet<usize>) -> Vec<CheckWarning> {
    let mut walk = Walk {
        build,
        out: Vec::new(),
        stage_env: HashMap::new(),
    };
    for &index in stages {
        walk.stage(index);
    }
    walk.out
}

struct Walk<'b, 'a> {
    build: &'b Build<'a>,
    out: Vec<CheckWarning>,
    /// Each walked stage's ENV at its end (`None`: unknown), for the stages built FROM it.
    stage_env: HashMap<usize, Option<Vec<String>>>,
}

impl Walk<'_, '_> {
    fn escape(&self) -> char {
        self.build.dockerfile.directives.escape
    }

    fn stage(&mut self, index: usize) {
        let stage = &self.build.dockerfile.stages[index];
        let env = self.base_env(index, stage);
        for ins in &stage.instructions {
            if let InstructionKind::Copy(c) | InstructionKind::Add(c) = &ins.kind {
                if c.flags.from.is_none() {
                    self.copy_sources(ins, c, env.as_ref());
                }
            }
        }
        let Some(env) = env else {
            self.stage_env.insert(index, None);
            return;
        };
        let mut scope = Scope::with_env(&env);
        for ins in &stage.instructions {
            for word in expanded_words(&ins.kind) {
                self.undefined(ins, word, &scope);
            }
            match &ins.kind {
                InstructionKind::Env(pairs) => {
                    let before = scope.clone();
                    for kv in pairs {
                        let key = self.expand(&kv.key, &before);
                        let value = self.expand(&kv.value, &before);
                        scope.set_env(&key, value);
                    }
                }
                InstructionKind::Arg(decls) => {
                    for decl in decls {
                        let value = match self.build.build_args.take(&decl.name) {
                            Some(v) => Some(v),
                            None => match &decl.default {
                                Some(default) => {
                                    self.undefined(ins, default, &scope);
                                    Some(self.expand(default, &scope))
                                }
                                None => self.build.meta_scope.get(&decl.name),
                            },
                        };
                        scope.declare_arg(&decl.name, value);
                    }
                }
                InstructionKind::Expose(words) => {
                    for word in words {
                        let ports =
                            shell::expand_words(word, &scope, self.escape()).unwrap_or_default();
                        for port in ports {
                            self.expose(ins, &port);
                        }
                    }
                }
                _ => {}
            }
        }
        self.stage_env.insert(index, Some(scope.env_list()));
    }

    fn expand(&self, word: &str, scope: &Scope) -> String {
        shell::expand_word(word, scope, self.escape()).unwrap_or_default()
    }

    /// UndefinedVar for each name `word` uses that has no value and is no ARG declared in the stage.
    fn undefined(&mut self, ins: &hoist_parser::ast::Instruction, word: &str, scope: &Scope) {
        for name in shell::unset_variables(word, scope, self.escape()) {
            let declared = scope.args().iter().any(|(n, _)| *n == name);
            if declared || NON_ENV_ARGS.contains(&name.as_str()) {
                continue;
            }
            let names = scope.var_names();
            let suggestion = hoist_parser::lint::suggest(&name, &names);
            self.out.push(CheckWarning::new(
                &rules::UNDEFINED_VAR,
                rules::undefined_var(&name, suggestion),
                ins.pos.line,
            ));
        }
    }

    /// `EXPOSE [ip:][host-port:]port[/proto]`: the protocol in lower case, and neither an address nor a host port
    /// (those belong to `docker run -p`).
    fn expose(&mut self, ins: &hoist_parser::ast::Instruction, port: &str) {
        let parts: Vec<&str> = port.split(':').collect();
        let container = parts.last().copied().unwrap_or("");
        let proto = container.split_once('/').map_or("", |(_, p)| p);
        if proto != proto.to_lowercase() {
            self.out.push(CheckWarning::new(
                &rules::EXPOSE_PROTO_CASING,
                rules::expose_proto_casing(port),
                ins.pos.line,
            ));
        }
        if parts.len() > 1 {
            self.out.push(CheckWarning::new(
                &rules::EXPOSE_INVALID_FORMAT,
                rules::expose_invalid_format(port),
                ins.pos.line,
            ));
        }
    }

    /// CopyIgnoredFile for each context source of a COPY/ADD (expanded when the scope is known).
    fn copy_sources(
        &mut self,
        ins: &hoist_parser::ast::Instruction,
        copy: &hoist_parser::ast::Copy,
        env: Option<&Vec<String>>,
    ) {
        let scope = env.map(|e| Scope::with_env(e)).unwrap_or_default();
        let keyword = if matches!(ins.kind, InstructionKind::Add(_)) {
            "Add"
        } else {
            "Copy"
        };
        for source in &copy.sources {
            if source.starts_with("<<") || source.contains("://") || source.starts_with("git@") {
                continue;
            }
            let source = self.expand(source, &scope);
            if self.build.context.copy_source_ignored(&source) {
                let shown = crate::context::clean_rel(&source);
                let shown = if shown.is_empty() {
                    ".".to_string()
                } else {
                    shown
                };
                self.out.push(CheckWarning::new(
                    &rules::COPY_IGNORED_FILE,
                    rules::copy_ignored_file(keyword, &shown),
                    ins.pos.line,
                ));
            }
        }
    }

    /// The ENV a stage starts with: scratch's (none), an earlier stage's, or its base image's (and the
    /// InvalidBaseImagePlatform check of that image).
    fn base_env(&mut self, index: usize, stage: &Stage) -> Option<Vec<String>> {
        let base = shell::expand_word(&stage.base, &self.build.meta_scope, self.escape()).ok()?;
        if base.eq_ignore_ascii_case("scratch") {
            return Some(Vec::new());
        }
        if let Some(parent) = self.build.stage_by_name(&base).filter(|p| *p < index) {
            return match self.stage_env.get(&parent) {
                Some(env) => env.clone(),
                // A parent the build does not need: walked for its ENV only, its warnings dropped.
                None => {
                    let kept = self.out.len();
                    self.stage(parent);
                    self.out.truncate(kept);
                    self.stage_env.get(&parent).cloned().flatten()
                }
            };
        }
        let platform = match &stage.platform {
            Some(p) => shell::expand_word(p, &self.build.meta_scope, self.escape()).ok(),
            None => self.build.options.platform.clone(),
        };
        let record = match self.build.image(&base, platform.as_deref()) {
            Ok(Ok(Some(record))) => record,
            _ => return None,
        };
        let raw = self.build.store.read_blob(&record.id).ok()?;
        let config: serde_json::Value = serde_json::from_slice(&raw).ok()?;
        self.platform(stage, &base, platform.as_deref(), &config);
        let mut env: Vec<String> = config["config"]["Env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, format!("PATH={}", crate::image::DEFAULT_PATH));
        }
        Some(env)
    }

    /// InvalidBaseImagePlatform: the image's os/architecture against `--platform` (FROM's or the build's; this
    /// host's when neither is given).
    fn platform(
        &mut self,
        stage: &Stage,
        base: &str,
        wanted: Option<&str>,
        config: &serde_json::Value,
    ) {
        let host = format!("linux/{}", crate::args::host_arch());
        let wanted = wanted.unwrap_or(&host);
        let mut parts = wanted.split('/');
        let (os, arch) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (Some(image_os), Some(image_arch)) =
            (config["os"].as_str(), config["architecture"].as_str())
        else {
            return;
        };
        if image_os != os || image_arch != arch {
            let actual = match config["variant"].as_str() {
                Some(v) if !v.is_empty() => format!("{image_os}/{image_arch}/{v}"),
                _ => format!("{image_os}/{image_arch}"),
            };
            self.out.push(CheckWarning::new(
                &rules::INVALID_BASE_IMAGE_PLATFORM,
                rules::invalid_base_image_platform(base, wanted, &actual),
                stage.pos.line,
            ));
        }
    }
}

/// The words of an instruction that BuildKit expands, and so reports undefined variables in (ARG defaults are
/// judged where they are declared; RUN, CMD and ENTRYPOINT are left to the shell).
fn expanded_words(kind: &InstructionKind) -> Vec<&str> {
    match kind {
        InstructionKind::Env(pairs) | InstructionKind::Label(pairs) => pairs
            .iter()
            .flat_map(|kv| [kv.key.as_str(), kv.value.as_str()])
            .collect(),
        InstructionKind::Copy(c) | InstructionKind::Add(c) => {
            let mut words: Vec<&str> = c
                .sources
                .iter()
                .filter(|s| !s.starts_with("<<"))
                .map(String::as_str)
                .collect();
            words.push(&c.dest);
            words.extend(c.flags.chown.as_deref());
            words.extend(c.flags.chmod.as_deref());
            words
        }
        InstructionKind::Workdir(w) | InstructionKind::User(w) | InstructionKind::Stopsignal(w) => {
            vec![w.as_str()]
        }
        InstructionKind::Volume(paths) => paths.iter().map(String::as_str).collect(),
        InstructionKind::Run(run) => run.mounts.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}
