//! Checks on stages and their instructions as written: names, keyword casing, and the instruction forms
//! BuildKit warns about (shell-form CMD, a second CMD, `ENV key value`, secrets in ARG/ENV …).

use std::collections::HashMap;

use super::{rules, CheckWarning, Input};
use crate::ast::{CommandLine, Instruction, InstructionKind, Stage};

/// Stage names BuildKit keeps for itself.
const RESERVED_STAGE_NAMES: &[&str] = &["context", "scratch"];

pub(super) fn check(input: &Input, out: &mut Vec<CheckWarning>) {
    let stages = &input.dockerfile.stages;
    let mut seen_names: Vec<&str> = Vec::new();
    for stage in stages {
        let words = FromWords::of(stage);
        if let Some(name) = words.name {
            if name != name.to_lowercase() {
                out.push(warn(
                    &rules::STAGE_NAME_CASING,
                    rules::stage_name_casing(name),
                    stage,
                ));
            }
        }
        if let Some(as_word) = words.as_word {
            if !as_matches_from(words.keyword, as_word) {
                out.push(warn(
                    &rules::FROM_AS_CASING,
                    rules::from_as_casing(words.keyword, as_word),
                    stage,
                ));
            }
        }
        if let Some(name) = stage.name.as_deref() {
            if RESERVED_STAGE_NAMES.contains(&name) {
                out.push(warn(
                    &rules::RESERVED_STAGE_NAME,
                    rules::reserved_stage_name(name),
                    stage,
                ));
            }
            if seen_names.contains(&name) {
                out.push(warn(
                    &rules::DUPLICATE_STAGE_NAME,
                    rules::duplicate_stage_name(name),
                    stage,
                ));
            }
            seen_names.push(name);
        }
        for ins in &stage.instructions {
            if matches!(ins.kind, InstructionKind::Maintainer(_)) {
                out.push(at(
                    &rules::MAINTAINER_DEPRECATED,
                    rules::maintainer_deprecated(),
                    ins,
                ));
            }
        }
    }
    check_casing(stages, out);
    let mut has_shell: HashMap<&str, bool> = HashMap::new();
    for (index, stage) in stages.iter().enumerate() {
        // A stage built FROM an earlier one inherits its SHELL (BuildKit looks at the config's Shell).
        let inherited = has_shell
            .get(stage.base.to_lowercase().as_str())
            .copied()
            .unwrap_or(false);
        let shell = if (input.built)(index) {
            check_instructions(stage, inherited, out)
        } else {
            inherited
                || stage
                    .instructions
                    .iter()
                    .any(|i| matches!(i.kind, InstructionKind::Shell(_)))
        };
        if let Some(name) = stage.name.as_deref() {
            has_shell.insert(name, shell);
        }
    }
}

/// The words of a FROM line as BuildKit's instruction parser sees them: the keyword as written, then the
/// arguments after the flags (`image`, `AS`, `name`).
struct FromWords<'a> {
    keyword: &'a str,
    as_word: Option<&'a str>,
    name: Option<&'a str>,
}

impl<'a> FromWords<'a> {
    fn of(stage: &'a Stage) -> Self {
        let mut words = stage.original.split_whitespace();
        let keyword = words.next().unwrap_or("FROM");
        let args: Vec<&str> = words.skip_while(|w| w.starts_with("--")).collect();
        match args.as_slice() {
            [_, as_word, name] => FromWords {
                keyword,
                as_word: Some(as_word),
                name: Some(name),
            },
            _ => FromWords {
                keyword,
                as_word: None,
                name: None,
            },
        }
    }
}

/// `FROM x AS y` / `from x as y`; a mixed-case `From` is ConsistentInstructionCasing's business, not this rule's.
fn as_matches_from(from: &str, as_word: &str) -> bool {
    if from == from.to_lowercase() {
        as_word == as_word.to_lowercase()
    } else if from == from.to_uppercase() {
        as_word == as_word.to_uppercase()
    } else {
        true
    }
}

fn keyword_of(ins: &Instruction) -> &str {
    ins.original.split_whitespace().next().unwrap_or("")
}

/// ConsistentInstructionCasing: every keyword (FROM lines included) in the casing most keywords use.
fn check_casing(stages: &[Stage], out: &mut Vec<CheckWarning>) {
    let mut keywords: Vec<(&str, usize)> = Vec::new();
    for stage in stages {
        keywords.push((FromWords::of(stage).keyword, stage.pos.line));
        keywords.extend(
            stage
                .instructions
                .iter()
                .map(|i| (keyword_of(i), i.pos.line)),
        );
    }
    let (mut lower, mut upper) = (0, 0);
    for (k, _) in &keywords {
        if *k == k.to_lowercase() {
            lower += 1;
        } else if *k == k.to_uppercase() {
            upper += 1;
        }
    }
    let majority_lower = lower > upper;
    for (keyword, line) in keywords {
        let casing = if majority_lower && keyword != keyword.to_lowercase() {
            "lowercase"
        } else if !majority_lower && keyword != keyword.to_uppercase() {
            "uppercase"
        } else {
            continue;
        };
        out.push(CheckWarning::new(
            &rules::CONSISTENT_INSTRUCTION_CASING,
            rules::consistent_instruction_casing(keyword, casing),
            line,
        ));
    }
}

/// The checks BuildKit makes while it converts a stage it builds. Returns whether the stage ends with a SHELL set.
fn check_instructions(stage: &Stage, inherited_shell: bool, out: &mut Vec<CheckWarning>) -> bool {
    let mut has_shell = inherited_shell;
    let mut workdir_set = false;
    // The last CMD / ENTRYPOINT / HEALTHCHECK: a later one makes it useless, and that earlier one is reported.
    let mut used_once: HashMap<&str, &Instruction> = HashMap::new();
    for ins in &stage.instructions {
        let keyword = ins.kind.keyword();
        match &ins.kind {
            InstructionKind::Cmd(command) | InstructionKind::Entrypoint(command) => {
                if let Some(earlier) = used_once.insert(keyword, ins) {
                    out.push(at(
                        &rules::MULTIPLE_INSTRUCTIONS_DISALLOWED,
                        rules::multiple_instructions_disallowed(keyword_of(earlier)),
                        earlier,
                    ));
                }
                if matches!(command, CommandLine::Shell(_)) && !has_shell {
                    out.push(at(
                        &rules::JSON_ARGS_RECOMMENDED,
                        rules::json_args_recommended(keyword_of(ins)),
                        ins,
                    ));
                }
            }
            InstructionKind::Healthcheck(_) => {
                if let Some(earlier) = used_once.insert(keyword, ins) {
                    out.push(at(
                        &rules::MULTIPLE_INSTRUCTIONS_DISALLOWED,
                        rules::multiple_instructions_disallowed(keyword_of(earlier)),
                        earlier,
                    ));
                }
            }
            InstructionKind::Shell(_) => has_shell = true,
            InstructionKind::Env(pairs) | InstructionKind::Label(pairs) => {
                for kv in pairs {
                    if !kv.has_equals {
                        out.push(at(
                            &rules::LEGACY_KEY_VALUE_FORMAT,
                            rules::legacy_key_value_format(keyword_of(ins)),
                            ins,
                        ));
                    }
                    if matches!(ins.kind, InstructionKind::Env(_)) {
                        check_secret("ENV", unquote(&kv.key), ins, out);
                    }
                }
            }
            InstructionKind::Arg(decls) => {
                for decl in decls {
                    check_secret("ARG", &decl.name, ins, out);
                }
            }
            InstructionKind::Workdir(path) => {
                // Only the first WORKDIR of a stage: fixing it fixes the relative ones after it. A path that starts
                // with a variable is only known after expansion; it is given the benefit of the doubt.
                if !workdir_set && !path.starts_with('/') && !path.starts_with('$') {
                    out.push(at(
                        &rules::WORKDIR_RELATIVE_PATH,
                        rules::workdir_relative_path(path),
                        ins,
                    ));
                }
                workdir_set = true;
            }
            _ => {}
        }
    }
    has_shell
}

fn unquote(key: &str) -> &str {
    key.trim_matches(|c| c == '"' || c == '\'')
}

/// SecretsUsedInArgOrEnv: a name with a secret-sounding word (`API_KEY`, `DB_PASSWORD`, `token`) as one of its
/// `_`-separated parts, unless a part says it is not secret (`PUBLIC_KEY`, `KEY_FILE`, `TOKEN_VERSION`).
fn check_secret(keyword: &str, name: &str, ins: &Instruction, out: &mut Vec<CheckWarning>) {
    const SECRET: &[&str] = &[
        "apikey",
        "auth",
        "credential",
        "credentials",
        "key",
        "password",
        "pword",
        "passwd",
        "secret",
        "token",
    ];
    const ALLOWED: &[&str] = &["public", "file", "version"];
    let parts: Vec<String> = name.split('_').map(str::to_lowercase).collect();
    let has = |words: &[&str]| parts.iter().any(|p| words.contains(&p.as_str()));
    if has(SECRET) && !has(ALLOWED) {
        out.push(at(
            &rules::SECRETS_USED_IN_ARG_OR_ENV,
            rules::secrets_used_in_arg_or_env(keyword, name),
            ins,
        ));
    }
}

fn warn(rule: &'static rules::Rule, message: String, stage: &Stage) -> CheckWarning {
    CheckWarning::new(rule, message, stage.pos.line)
}

fn at(rule: &'static rules::Rule, message: String, ins: &Instruction) -> CheckWarning {
    CheckWarning::new(rule, message, ins.pos.line)
}
