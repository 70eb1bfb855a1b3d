//! Checks on FROM lines and the global ARGs they use: UndefinedArgInFrom, InvalidDefaultArgInFrom,
//! FromPlatformFlagConstDisallowed and RedundantTargetPlatform.

use super::{reference, rules, CheckWarning, Input};
use crate::ast::{InstructionKind, Stage};
use crate::shell;

pub(super) fn check(input: &Input, out: &mut Vec<CheckWarning>) {
    let dockerfile = input.dockerfile;
    let escape = dockerfile.directives.escape;
    // What a FROM line may use: the automatic platform ARGs and every global ARG, with or without a value.
    let mut declared: Vec<&str> = input
        .platform_args
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    // The global ARGs' values when no --build-arg is given: the base names must be valid with them alone.
    let mut defaults: Vec<(String, String)> = input.platform_args.to_vec();
    let mut defaults_expand = true;
    for ins in &dockerfile.meta_args {
        let InstructionKind::Arg(decls) = &ins.kind else {
            continue;
        };
        for decl in decls {
            declared.push(&decl.name);
            defaults.retain(|(k, _)| *k != decl.name);
            if let Some(default) = &decl.default {
                match shell::expand_word(default, &defaults, escape) {
                    Ok(value) => defaults.push((decl.name.clone(), value)),
                    // The build reports this error; the check of the base names gives up.
                    Err(_) => defaults_expand = false,
                }
            }
        }
    }
    for stage in &dockerfile.stages {
        let mut words = vec![stage.base.as_str()];
        words.extend(stage.platform.as_deref());
        for word in words {
            for name in shell::unset_variables(word, &shell::EmptyEnv, escape) {
                if !declared.contains(&name.as_str()) {
                    let suggestion = super::suggest(&name, &declared);
                    out.push(at(
                        &rules::UNDEFINED_ARG_IN_FROM,
                        rules::undefined_arg_in_from(&name, suggestion),
                        stage,
                    ));
                }
            }
        }
        if defaults_expand {
            if let Ok(base) = shell::expand_word(&stage.base, &defaults, escape) {
                if !reference::is_valid(&base) {
                    out.push(at(
                        &rules::INVALID_DEFAULT_ARG_IN_FROM,
                        rules::invalid_default_arg_in_from(&stage.base),
                        stage,
                    ));
                }
            }
        }
        if let Some(platform) = &stage.platform {
            check_const_platform(stage, platform, escape, out);
            check_redundant_platform(stage, platform, &defaults, escape, out);
        }
    }
}

/// `FROM --platform=linux/amd64`: a constant platform pins the stage to one platform, which is seldom meant;
/// fine when the stage's name says it is that platform's (`AS build-amd64`).
fn check_const_platform(stage: &Stage, platform: &str, escape: char, out: &mut Vec<CheckWarning>) {
    if !shell::unset_variables(platform, &shell::EmptyEnv, escape).is_empty() {
        return;
    }
    let Ok(value) = shell::expand_word(platform, &shell::EmptyEnv, escape) else {
        return;
    };
    let parts: Vec<&str> = value.split('/').collect();
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return; // Not a platform: the build reports that.
    }
    let (os, arch) = match parts.as_slice() {
        [one] => (*one, *one),
        [os, arch, ..] => (*os, *arch),
        [] => return,
    };
    let name = stage.name.as_deref().unwrap_or("");
    if name.contains(os) || name.contains(arch) {
        return;
    }
    out.push(at(
        &rules::FROM_PLATFORM_FLAG_CONST_DISALLOWED,
        rules::from_platform_flag_const_disallowed(&value),
        stage,
    ));
}

/// `FROM --platform=$TARGETPLATFORM`: the platform a stage gets anyway.
fn check_redundant_platform(
    stage: &Stage,
    platform: &str,
    args: &[(String, String)],
    escape: char,
    out: &mut Vec<CheckWarning>,
) {
    const TARGET_PLATFORM: &str = "TARGETPLATFORM";
    let used = shell::unset_variables(platform, &shell::EmptyEnv, escape);
    if used != [TARGET_PLATFORM] {
        return;
    }
    let value = shell::Env::get(args, TARGET_PLATFORM);
    if value.is_some() && shell::expand_word(platform, &args, escape).ok() == value {
        out.push(at(
            &rules::REDUNDANT_TARGET_PLATFORM,
            rules::redundant_target_platform(platform),
            stage,
        ));
    }
}

fn at(rule: &'static rules::Rule, message: String, stage: &Stage) -> CheckWarning {
    CheckWarning::new(rule, message, stage.pos.line)
}
