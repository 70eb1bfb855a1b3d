use super::*;

fn platform() -> Vec<(String, String)> {
    [
        ("TARGETPLATFORM", "linux/amd64"),
        ("TARGETARCH", "amd64"),
        ("BUILDPLATFORM", "linux/amd64"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Every warning of `text`, as `Rule:line: message`.
fn lint(text: &str) -> Vec<String> {
    let (dockerfile, warnings) = crate::parse_with_warnings("Dockerfile", text).expect("parses");
    let platform_args = platform();
    let all = |_: usize| true;
    check(&Input {
        dockerfile: &dockerfile,
        parse_warnings: &warnings,
        platform_args: &platform_args,
        built: &all,
    })
    .into_iter()
    .map(|w| format!("{}:{}: {}", w.rule.name, w.line, w.message))
    .collect()
}

/// The warnings of one rule only.
fn rule(name: &str, text: &str) -> Vec<String> {
    lint(text)
        .into_iter()
        .filter(|w| w.starts_with(&format!("{name}:")))
        .collect()
}

#[test]
fn a_clean_dockerfile_has_no_warnings() {
    let text =
        "ARG BASE=busybox\nFROM $BASE AS build\nWORKDIR /src\nENV A=1\nLABEL b=2\nCMD [\"sh\"]\n\
                FROM build\nCOPY --from=build /src /dst\nENTRYPOINT [\"sh\"]\n";
    assert_eq!(lint(text), Vec::<String>::new());
}

#[test]
fn stage_name_casing() {
    assert_eq!(
        rule("StageNameCasing", "FROM busybox AS Builder\n"),
        ["StageNameCasing:1: Stage name 'Builder' should be lowercase"]
    );
    assert!(rule("StageNameCasing", "FROM busybox AS builder\n").is_empty());
}

#[test]
fn from_as_casing() {
    assert_eq!(
        rule("FromAsCasing", "FROM busybox as build\n"),
        ["FromAsCasing:1: 'as' and 'FROM' keywords' casing do not match"]
    );
    assert!(rule("FromAsCasing", "from busybox as build\n").is_empty());
    assert!(rule("FromAsCasing", "FROM busybox AS build\n").is_empty());
}

#[test]
fn no_empty_continuation() {
    assert_eq!(
        rule(
            "NoEmptyContinuation",
            "FROM busybox\nRUN echo a \\\n\n  b\n"
        ),
        ["NoEmptyContinuation:4: Empty continuation line"]
    );
    assert!(rule("NoEmptyContinuation", "FROM busybox\nRUN echo a \\\n  b\n").is_empty());
}

#[test]
fn consistent_instruction_casing() {
    assert_eq!(
        rule("ConsistentInstructionCasing", "FROM busybox\nrun true\nRUN true\n"),
        ["ConsistentInstructionCasing:2: Command 'run' should match the case of the command majority (uppercase)"]
    );
    assert_eq!(
        rule("ConsistentInstructionCasing", "from busybox\nrun true\nCopy a b\n"),
        ["ConsistentInstructionCasing:3: Command 'Copy' should match the case of the command majority (lowercase)"]
    );
    assert!(rule("ConsistentInstructionCasing", "from busybox\nrun true\n").is_empty());
}

#[test]
fn duplicate_and_reserved_stage_names() {
    assert_eq!(
        rule(
            "DuplicateStageName",
            "FROM busybox AS a\nFROM busybox AS a\n"
        ),
        ["DuplicateStageName:2: Duplicate stage name \"a\", stage names should be unique"]
    );
    assert!(rule(
        "DuplicateStageName",
        "FROM busybox AS a\nFROM busybox AS b\n"
    )
    .is_empty());
    assert_eq!(
        rule("ReservedStageName", "FROM busybox AS scratch\nFROM busybox AS context\n"),
        [
            "ReservedStageName:1: Stage name should not use the same name as reserved stage \"scratch\"",
            "ReservedStageName:2: Stage name should not use the same name as reserved stage \"context\""
        ]
    );
    assert!(rule("ReservedStageName", "FROM busybox AS base\n").is_empty());
}

#[test]
fn json_args_recommended() {
    assert_eq!(
        rule("JSONArgsRecommended", "FROM busybox\nCMD echo hi\nENTRYPOINT my-app\n"),
        [
            "JSONArgsRecommended:2: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals",
            "JSONArgsRecommended:3: JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals"
        ]
    );
    assert!(rule(
        "JSONArgsRecommended",
        "FROM busybox\nCMD [\"echo\", \"hi\"]\n"
    )
    .is_empty());
    // A SHELL says the shell form is meant, also in a stage built on this one.
    let text =
        "FROM busybox AS a\nSHELL [\"/bin/sh\", \"-c\"]\nCMD echo hi\nFROM a\nCMD echo again\n";
    assert!(rule("JSONArgsRecommended", text).is_empty());
}

#[test]
fn maintainer_deprecated() {
    assert_eq!(
        rule(
            "MaintainerDeprecated",
            "FROM busybox\nMAINTAINER me <me@example.com>\n"
        ),
        ["MaintainerDeprecated:2: Maintainer instruction is deprecated in favor of using label"]
    );
    assert!(rule(
        "MaintainerDeprecated",
        "FROM busybox\nLABEL org.opencontainers.image.authors=me\n"
    )
    .is_empty());
}

#[test]
fn undefined_arg_in_from() {
    assert_eq!(
        rule("UndefinedArgInFrom", "FROM busybox:$VERSON\n"),
        ["UndefinedArgInFrom:1: FROM argument 'VERSON' is not declared"]
    );
    assert_eq!(
        rule(
            "UndefinedArgInFrom",
            "ARG VERSION=1\nFROM busybox:${VERSON}\n"
        ),
        ["UndefinedArgInFrom:2: FROM argument 'VERSON' is not declared (did you mean VERSION?)"]
    );
    assert!(rule("UndefinedArgInFrom", "ARG VERSION\nFROM busybox:$VERSION\n").is_empty());
    assert!(rule(
        "UndefinedArgInFrom",
        "FROM --platform=$BUILDPLATFORM busybox\n"
    )
    .is_empty());
}

#[test]
fn workdir_relative_path() {
    assert_eq!(
        rule("WorkdirRelativePath", "FROM busybox\nWORKDIR app\nWORKDIR sub\n"),
        ["WorkdirRelativePath:2: Relative workdir \"app\" can have unexpected results if the base image changes"]
    );
    assert!(rule(
        "WorkdirRelativePath",
        "FROM busybox\nWORKDIR /app\nWORKDIR sub\n"
    )
    .is_empty());
}

#[test]
fn multiple_instructions_disallowed() {
    assert_eq!(
        rule(
            "MultipleInstructionsDisallowed",
            "FROM busybox\nCMD [\"a\"]\nHEALTHCHECK NONE\nCMD [\"b\"]\nHEALTHCHECK NONE\n"
        ),
        [
            "MultipleInstructionsDisallowed:2: Multiple CMD instructions should not be used in the same stage because only the last one will be used",
            "MultipleInstructionsDisallowed:3: Multiple HEALTHCHECK instructions should not be used in the same stage because only the last one will be used"
        ]
    );
    // One per stage is fine.
    let text = "FROM busybox AS a\nCMD [\"a\"]\nFROM a\nCMD [\"b\"]\nENTRYPOINT [\"c\"]\n";
    assert!(rule("MultipleInstructionsDisallowed", text).is_empty());
}

#[test]
fn legacy_key_value_format() {
    assert_eq!(
        rule("LegacyKeyValueFormat", "FROM busybox\nENV A 1\nLABEL b 2\n"),
        [
            "LegacyKeyValueFormat:2: \"ENV key=value\" should be used instead of legacy \"ENV key value\" format",
            "LegacyKeyValueFormat:3: \"LABEL key=value\" should be used instead of legacy \"LABEL key value\" format"
        ]
    );
    assert!(rule("LegacyKeyValueFormat", "FROM busybox\nENV A=1 B=\"2 3\"\n").is_empty());
}

#[test]
fn invalid_default_arg_in_from() {
    assert_eq!(
        rule("InvalidDefaultArgInFrom", "ARG VERSION\nFROM busybox:$VERSION\n"),
        ["InvalidDefaultArgInFrom:2: Default value for ARG busybox:$VERSION results in empty or invalid base image name"]
    );
    assert_eq!(
        rule("InvalidDefaultArgInFrom", "ARG IMAGE\nFROM $IMAGE\n").len(),
        1
    );
    assert!(rule(
        "InvalidDefaultArgInFrom",
        "ARG VERSION=1.36\nFROM busybox:$VERSION\n"
    )
    .is_empty());
    assert!(rule(
        "InvalidDefaultArgInFrom",
        "ARG VERSION\nFROM busybox:${VERSION:-latest}\n"
    )
    .is_empty());
}

#[test]
fn from_platform_flag_const_disallowed() {
    assert_eq!(
        rule("FromPlatformFlagConstDisallowed", "FROM --platform=linux/arm64 busybox AS build\n"),
        ["FromPlatformFlagConstDisallowed:1: FROM --platform flag should not use constant value \"linux/arm64\""]
    );
    assert!(rule(
        "FromPlatformFlagConstDisallowed",
        "FROM --platform=$BUILDPLATFORM busybox\n"
    )
    .is_empty());
    // The stage's name says which platform it is for.
    assert!(rule(
        "FromPlatformFlagConstDisallowed",
        "FROM --platform=linux/arm64 busybox AS build-arm64\n"
    )
    .is_empty());
}

#[test]
fn redundant_target_platform() {
    assert_eq!(
        rule("RedundantTargetPlatform", "FROM --platform=$TARGETPLATFORM busybox\n"),
        ["RedundantTargetPlatform:1: Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior"]
    );
    assert!(rule(
        "RedundantTargetPlatform",
        "FROM --platform=$BUILDPLATFORM busybox\n"
    )
    .is_empty());
    assert!(rule(
        "RedundantTargetPlatform",
        "FROM --platform=${TARGETPLATFORM:-x}-y busybox\n"
    )
    .is_empty());
}

#[test]
fn secrets_used_in_arg_or_env() {
    assert_eq!(
        rule("SecretsUsedInArgOrEnv", "FROM busybox\nARG API_KEY\nENV DB_PASSWORD=x\nENV github_token=y\n"),
        [
            "SecretsUsedInArgOrEnv:2: Do not use ARG or ENV instructions for sensitive data (ARG \"API_KEY\")",
            "SecretsUsedInArgOrEnv:3: Do not use ARG or ENV instructions for sensitive data (ENV \"DB_PASSWORD\")",
            "SecretsUsedInArgOrEnv:4: Do not use ARG or ENV instructions for sensitive data (ENV \"github_token\")"
        ]
    );
    let text = "FROM busybox\nARG PUBLIC_KEY\nENV KEY_FILE=/k\nARG TOKEN_VERSION=2\nENV MONKEY=1\nARG AUTHOR\n";
    assert!(rule("SecretsUsedInArgOrEnv", text).is_empty());
}

#[test]
fn instruction_checks_skip_stages_that_are_not_built() {
    let (dockerfile, warnings) = crate::parse_with_warnings(
        "Dockerfile",
        "FROM busybox AS unused\nCMD echo\nFROM busybox\n",
    )
    .expect("parses");
    let only_last = |i: usize| i == 1;
    let found = check(&Input {
        dockerfile: &dockerfile,
        parse_warnings: &warnings,
        platform_args: &platform(),
        built: &only_last,
    });
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn the_check_directive_skips_rules_and_asks_for_errors() {
    let config =
        CheckConfig::parse("skip=JSONArgsRecommended, StageNameCasing;error=true").expect("parses");
    assert!(config.error);
    assert!(!config.runs("JSONArgsRecommended"));
    assert!(!config.runs("StageNameCasing"));
    assert!(config.runs("UndefinedVar"));
    let all = CheckConfig::parse("skip=all").expect("parses");
    assert!(!all.runs("UndefinedVar") && !all.error);
    assert_eq!(CheckConfig::parse(""), Ok(CheckConfig::default()));
    assert!(CheckConfig::parse("error=maybe")
        .unwrap_err()
        .contains("error="));
    assert!(CheckConfig::parse("skip")
        .unwrap_err()
        .contains("invalid check option"));
    assert!(CheckConfig::parse("ignore=x")
        .unwrap_err()
        .contains("invalid check option"));
}

#[test]
fn a_violation_names_each_rule_once() {
    let config = CheckConfig::parse("error=true").expect("parses");
    let w = |rule| CheckWarning::new(rule, String::new(), 1);
    let warnings = [
        w(&rules::UNDEFINED_VAR),
        w(&rules::JSON_ARGS_RECOMMENDED),
        w(&rules::UNDEFINED_VAR),
    ];
    assert_eq!(
        config.violation(&warnings).as_deref(),
        Some("lint violation found for rules: JSONArgsRecommended, UndefinedVar")
    );
    assert_eq!(CheckConfig::default().violation(&warnings), None);
}
