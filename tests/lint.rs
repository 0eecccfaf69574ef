//! The shipped artefacts through their ecosystems' linters: the dashboards through Grafana's
//! dashboard-linter rules and Grafana's schema (tools/*.py), the Dockerfile through hadolint, the
//! Kubernetes manifests through checkov. A missing tool skips its test with a message, unless its
//! REQUIRE_* variable is set (CI sets them all), then the test fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `command` in the repository root and asserts it succeeds, showing its output otherwise.
fn assert_runs(what: &str, command: &mut Command) -> String {
    let out = command
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{report}");
    report
}

#[test]
fn dashboards_pass_the_dashboard_linter_rules() {
    let Some(python) = common::tool("python3", "REQUIRE_PYTHON3") else {
        return;
    };
    // The script runs promtool on every expression when it is on PATH, and fails without it
    // when REQUIRE_PROMTOOL is set (inherited from this environment).
    let report = assert_runs(
        "tools/lint_dashboards.py",
        Command::new(python).arg("tools/lint_dashboards.py"),
    );
    assert!(report.contains("clean"), "{report}");
}

#[test]
fn dashboards_survive_grafanas_schema() {
    let Some(python) = common::tool("python3", "REQUIRE_PYTHON3") else {
        return;
    };
    // The script skips (exit 0, with a message) when grafana-foundation-sdk does not import,
    // unless REQUIRE_GRAFANA_SDK is set (inherited from this environment).
    let report = assert_runs(
        "tools/grafana_roundtrip.py",
        Command::new(python).arg("tools/grafana_roundtrip.py"),
    );
    eprintln!("{report}");
}

#[test]
fn dockerfile_is_hadolint_clean() {
    let Some(hadolint) = common::tool("hadolint", "REQUIRE_HADOLINT") else {
        return;
    };
    assert_runs(
        "hadolint",
        Command::new(hadolint).args(["--no-color", "Dockerfile"]),
    );
    // Every ignore says why, in the comment block just above it.
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let lines: Vec<&str> = dockerfile.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        let Some(rules) = line.split("hadolint ignore=").nth(1) else {
            continue;
        };
        let comment: String = lines[..n]
            .iter()
            .rev()
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        for rule in rules.split(',').map(str::trim) {
            assert!(
                comment.contains(&format!("{rule} (")),
                "Dockerfile:{}: {rule} is ignored without a reason naming it",
                n + 1
            );
        }
    }
}

/// The rendered image of each workload, to check the overlay sets it as the base does.
fn rendered_images(kubectl: &Path, dir: &str) -> Vec<String> {
    let out = assert_runs(
        &format!("kubectl kustomize {dir}"),
        Command::new(kubectl).args(["kustomize", dir]),
    );
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn kubernetes_manifests_pass_checkov() {
    let Some(checkov) = common::tool("checkov", "REQUIRE_CHECKOV") else {
        return;
    };
    // The manifests as written, and (with kubectl) as kustomize renders them. Findings kept on
    // purpose are skipped by `checkov.io/skipN` annotations on the resources, each with its reason.
    let kubectl = common::tool("kubectl", "REQUIRE_KUBECTL");
    let mut frameworks = vec!["kubernetes"];
    if kubectl.is_some() {
        frameworks.push("kustomize");
    }
    let report = assert_runs(
        "checkov",
        Command::new(checkov)
            .args(["--directory", "deploy/kubernetes", "--framework"])
            .args(&frameworks)
            .args(["--compact", "--quiet", "--skip-download"]),
    );
    for framework in frameworks {
        assert!(
            report.contains(&format!("{framework} scan results:")),
            "checkov scanned no {framework} manifests:\n{report}"
        );
    }

    // The base sets the image with `images:`; the overlay's StatefulSet needs the same setting
    // (the base's applies to the base's resources only), and both carry a tag or a digest.
    let Some(kubectl) = kubectl else {
        return;
    };
    let base = rendered_images(&kubectl, "deploy/kubernetes/base");
    let sharded = rendered_images(&kubectl, "deploy/kubernetes/overlays/sharded");
    assert_eq!(base.len(), 1, "{base:?}");
    assert_eq!(
        base, sharded,
        "the overlay renders another image than the base"
    );
    let image = &base[0];
    let name = image.split('@').next().unwrap_or_default();
    assert!(
        image.contains('@') || name.rsplit('/').next().is_some_and(|n| n.contains(':')),
        "{image}: no tag or digest"
    );
}
