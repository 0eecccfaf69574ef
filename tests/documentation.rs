//! The reference stays in step with the code: every flag `--help` lists is in the flag table of
//! docs/configuration.md and the other way round, and every family the exporter can serve (the
//! contract, its own telemetry) is in the metric table of docs/metrics.md and the other way
//! round.

use std::collections::BTreeSet;
use std::process::Command;

use tencentcloud_ssl_exporter::metrics::{Family, COMPRESSION_FAILURES_TOTAL};
use tencentcloud_ssl_exporter::telemetry::Telemetry;

fn read(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The backticked names in the first column of the markdown table rows of `text` that start
/// with `prefix`.
fn table_names(text: &str, prefix: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("| "))
        .filter_map(|row| row.split(" |").next())
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .filter(|name| name.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_flag_table_lists_every_flag_of_help_and_nothing_else() {
    let output = Command::new(env!("CARGO_BIN_EXE_tencentcloud-ssl-exporter"))
        .arg("--help")
        .output()
        .expect("the exporter runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    // Option lines only ("  -x, --name <V>" or "      --name"), not flags named in descriptions.
    let flags: BTreeSet<String> = help
        .lines()
        .map(str::trim_start)
        .filter_map(|line| {
            let line = line
                .strip_prefix("-h, ")
                .or(line.strip_prefix("-V, "))
                .unwrap_or(line);
            line.strip_prefix("--")
        })
        .filter_map(|rest| rest.split([' ', '=']).next())
        .map(|name| format!("--{name}"))
        .filter(|flag| flag != "--help" && flag != "--version")
        .collect();
    assert!(
        flags.len() > 20,
        "parsed too few flags from --help:\n{help}"
    );
    let documented = table_names(&read("docs/configuration.md"), "--");
    let undocumented: Vec<_> = flags.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&flags).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "flags missing from docs/configuration.md: {undocumented:?}; documented but gone: {stale:?}"
    );
}

#[test]
fn the_metric_table_lists_every_family_and_nothing_else() {
    let mut families: BTreeSet<String> = Family::ALL
        .iter()
        .map(|f| f.def().name.to_string())
        .collect();
    // The exporter's own telemetry: every family it renders once each has a sample.
    let telemetry = Telemetry::new();
    telemetry.observe("a", "DescribeCertificates", "OK", 0.1);
    telemetry.collector_restarted("a", "bind");
    telemetry.first_run("a", "deploy", false);
    telemetry
        .collector_run_items
        .with_label_values(&["a", "deploy", "done"])
        .set(1);
    let text = telemetry.render();
    families.extend(
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .map(str::to_string),
    );
    families.insert(COMPRESSION_FAILURES_TOTAL.to_string());
    let documented: BTreeSet<String> = ["tencentcloud_ssl_", "process_"]
        .iter()
        .flat_map(|prefix| table_names(&read("docs/metrics.md"), prefix))
        .collect();
    let undocumented: Vec<_> = families.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&families).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "families missing from docs/metrics.md: {undocumented:?}; documented but not served: {stale:?}"
    );
}
