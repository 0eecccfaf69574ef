//! The deployment files: Kubernetes copies in sync with the originals, kustomize output valid,
//! the Dockerfile built the way CI builds, and the shipped configuration valid.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_readme_quick_start_runs_the_exporter() {
    let readme = read("README.md");
    let quick_start = readme
        .split("## Quick start")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a quick start section");
    let commands: Vec<&str> = quick_start
        .lines()
        .filter(|l| l.starts_with("cargo "))
        .collect();
    assert_eq!(
        commands,
        ["cargo run --release -- --demo", "cargo test --workspace"],
        "exactly two commands"
    );
    assert!(
        read(".ci/run").contains("\ncargo test --workspace --locked\n"),
        "CI runs the README's test command"
    );
    // The root manifest is the exporter's package (and the workspace): `cargo run` runs its
    // default binary, and `src/` and `tests/` stand at the top as the brief names them.
    let manifest = read("Cargo.toml");
    assert!(
        manifest.starts_with("# ")
            && manifest.contains("\n[package]\nname = \"tencentcloud-ssl-exporter\"\n")
    );
    assert!(manifest.contains("default-run = \"tencentcloud-ssl-exporter\""));
    assert!(manifest.contains("\n[workspace]\n"));
    for top in [
        "src/main.rs",
        "src/lib.rs",
        "tests",
        "dashboards",
        "Dockerfile",
        "README.md",
    ] {
        assert!(root().join(top).exists(), "{top} at the top level");
    }
}

#[test]
fn prometheus_rule_matches_the_rules_file() {
    let rules = read("deploy/prometheus/tencentcloud-ssl-exporter.rules.yml");
    let indented: String = rules
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("  {l}\n")
            }
        })
        .collect();
    let rule = read("deploy/kubernetes/base/prometheusrule.yaml");
    let spec = rule.split_once("\nspec:\n").map(|(_, s)| s).expect("spec:");
    assert_eq!(spec, indented, "run deploy/kubernetes/sync.sh");
    assert!(rule.contains("kind: PrometheusRule"));
}

#[test]
fn dashboard_copies_match_the_originals() {
    for entry in std::fs::read_dir(root().join("dashboards")).expect("dashboards") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        let copy = root().join("deploy/kubernetes/base/dashboards").join(&name);
        assert_eq!(
            std::fs::read(&path).expect("original"),
            std::fs::read(&copy).unwrap_or_default(),
            "{name}: run deploy/kubernetes/sync.sh"
        );
        assert!(read("deploy/kubernetes/base/kustomization.yaml")
            .contains(&format!("dashboards/{name}")));
    }
}

#[test]
fn dockerfile_builds_as_ci_does_and_runs_unprivileged() {
    let dockerfile = read("Dockerfile");
    let build = "cargo build --release --locked -p tencentcloud-ssl-exporter --bins";
    assert!(dockerfile.contains(build));
    assert!(
        read(".ci/run").contains(build),
        "CI runs the Dockerfile's build command"
    );
    assert!(dockerfile.matches("\nFROM ").count() >= 2, "multi-stage");
    // The exporter's sources stand at the top: the image must copy them, and not ignore them.
    assert!(dockerfile.contains("\nCOPY src ./src\n"));
    assert!(dockerfile.contains("\nCOPY crates ./crates\n"));
    let ignored = read(".dockerignore");
    for needed in ["src/", "benches/", "crates/", "Cargo.toml", "Cargo.lock"] {
        assert!(!ignored.lines().any(|l| l == needed), "{needed} is ignored");
    }
    if read("Cargo.toml").contains("tikv-jemallocator") {
        assert!(
            dockerfile.contains("install -y --no-install-recommends make"),
            "jemalloc is built from source: the build stage needs make"
        );
    }
    assert!(dockerfile.contains("USER 65532:65532"));
    assert!(dockerfile.contains("EXPOSE 9877"));
    assert!(dockerfile.contains("ENTRYPOINT [\"/usr/local/bin/tencentcloud-ssl-exporter\"]"));
    let instructions: String = dockerfile
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    for secret in [
        "SECRET_KEY",
        "SECRET_ID",
        "ENV TENCENTCLOUD",
        "COPY .ci",
        "credentials",
    ] {
        assert!(
            !instructions.contains(secret),
            "no secret baked in: {secret}"
        );
    }
    let ignore = read(".dockerignore");
    assert!(ignore.lines().any(|l| l == "target/"));
}

#[test]
fn the_shipped_kubernetes_config_is_valid() {
    let out = Command::new(env!("CARGO_BIN_EXE_tencentcloud-ssl-exporter"))
        .arg("--config.check")
        .arg("--config.file")
        .arg(root().join("deploy/kubernetes/base/config.yml"))
        .env_clear()
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn kustomize(kubectl: &Path, dir: &str) -> String {
    let out = Command::new(kubectl)
        .args(["kustomize", dir])
        .current_dir(root())
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

#[test]
fn kustomize_renders_valid_manifests() {
    let Some(kubectl) = common::tool("kubectl", "REQUIRE_KUBECTL") else {
        return;
    };
    let base = kustomize(&kubectl, "deploy/kubernetes/base");
    for needle in [
        "kind: Deployment",
        "kind: ServiceMonitor",
        "kind: PrometheusRule",
        "grafana_dashboard: \"1\"",
        "path: /-/healthy",
        "path: /-/ready",
        "readOnlyRootFilesystem: true",
        "runAsNonRoot: true",
        "--config.file=/etc/tencentcloud-ssl-exporter/config.yml",
    ] {
        assert!(base.contains(needle), "base lacks {needle}");
    }
    let sharded = kustomize(&kubectl, "deploy/kubernetes/overlays/sharded");
    assert!(sharded.contains("kind: StatefulSet"));
    assert!(
        !sharded.contains("kind: Deployment"),
        "the StatefulSet replaces the Deployment"
    );
    assert!(sharded.contains("--shard=$(SHARD_INDEX)/$(SHARDS)"));
    assert!(sharded.contains("apps.kubernetes.io/pod-index"));

    let Some(validate) = common::tool("kubernetes-validate", "REQUIRE_KUBERNETES_VALIDATE") else {
        return;
    };
    for (name, rendered) in [("base", base), ("sharded", sharded)] {
        let file = std::env::temp_dir().join(format!(
            "tencentcloud-ssl-{name}-{}.yaml",
            std::process::id()
        ));
        std::fs::write(&file, rendered).expect("write");
        let out = Command::new(&validate)
            .arg("--strict")
            .arg(&file)
            .output()
            .expect("validator runs");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{name}: {report}");
        // CRDs (ServiceMonitor, PrometheusRule) have no bundled schema and are skipped.
        for line in report.lines().filter(|l| l.starts_with("WARN")) {
            assert!(line.contains("monitoring.coreos.com"), "{name}: {line}");
        }
    }
}
