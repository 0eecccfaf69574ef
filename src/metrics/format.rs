//! The two exposition formats: the Prometheus text format (0.0.4, which text 1.0.0 is too for
//! names that need no escaping, as all of ours) and OpenMetrics 1.0.
//!
//! Sample lines are the same bytes in both; only the metadata differs. OpenMetrics names a
//! counter family without its `_total` (the samples keep it), declares `_info` families as
//! `info` (family name without `_info`), gives families whose name ends in a base unit a
//! `# UNIT` line, escapes `"` in help texts, and ends the exposition with `# EOF`.

use super::contract::FamilyDef;

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `text/plain; version=0.0.4` (and `version=1.0.0`).
    Text,
    /// `application/openmetrics-text; version=1.0.0` (and `version=0.0.1`).
    OpenMetrics,
}

impl Format {
    /// Both formats, in the order bodies are kept.
    pub const ALL: [Format; 2] = [Format::Text, Format::OpenMetrics];

    /// Position in [`Format::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What ends an OpenMetrics exposition.
pub const OPENMETRICS_EOF: &str = "# EOF\n";

/// The `# HELP`/`# TYPE` (and, in OpenMetrics, `# UNIT`) lines of a family.
pub fn header(def: &FamilyDef, format: Format) -> String {
    match format {
        Format::Text => format!(
            "# HELP {} {}\n# TYPE {} {}\n",
            def.name, def.help, def.name, def.kind
        ),
        Format::OpenMetrics => {
            let kind = if def.kind == "gauge" && def.name.ends_with("_info") {
                "info"
            } else {
                def.kind
            };
            openmetrics_header(def.name, kind, &escape_help(def.help))
        }
    }
}

/// OpenMetrics metadata of the family whose samples are named `sample_name`, of Prometheus type
/// `kind` (`counter`, `gauge`, `histogram`, `summary`, `untyped`, or `info`); `help` is escaped.
fn openmetrics_header(sample_name: &str, kind: &str, help: &str) -> String {
    let (family, kind) = match kind {
        "counter" => (
            sample_name.strip_suffix("_total").unwrap_or(sample_name),
            kind,
        ),
        "info" => (
            sample_name.strip_suffix("_info").unwrap_or(sample_name),
            kind,
        ),
        "untyped" => (sample_name, "unknown"),
        _ => (sample_name, kind),
    };
    let mut out = format!("# HELP {family} {help}\n# TYPE {family} {kind}\n");
    if let Some(unit) = unit_of(family).filter(|_| kind != "info") {
        out.push_str(&format!("# UNIT {family} {unit}\n"));
    }
    out
}

/// The base unit a family name ends in, as OpenMetrics' `# UNIT` wants it.
fn unit_of(family: &str) -> Option<&'static str> {
    ["seconds", "bytes", "ratio"]
        .into_iter()
        .find(|unit| family.ends_with(&format!("_{unit}")))
}

/// A help text from the contract, escaped for OpenMetrics (`\`, newline and `"`).
fn escape_help(help: &str) -> String {
    let mut out = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// Text-format lines (as the `prometheus` crate's encoder writes them: `# HELP` then `# TYPE`
/// then the samples of each family) rewritten as OpenMetrics: the sample lines as they are, the
/// metadata as OpenMetrics writes it. No `# EOF`. Pure.
pub fn openmetrics_from_text(text: &str) -> String {
    // Types first: a family's HELP line comes before its TYPE line.
    let kinds: std::collections::HashMap<&str, &str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .collect();
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            // The text format escapes `\` and newlines already; OpenMetrics also escapes `"`.
            let help = help.replace('"', "\\\"");
            let kind = kinds.get(name).copied().unwrap_or("untyped");
            out.push_str(&openmetrics_header(name, kind, &help));
        } else if line.starts_with("# TYPE ") {
            // Written with the HELP line (every family the encoder writes has one).
        } else if !line.is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Family;

    #[test]
    fn openmetrics_metadata_of_the_contract() {
        let om = |family: Family| header(family.def(), Format::OpenMetrics);
        let decode = om(Family::DecodeErrors);
        assert!(decode.starts_with("# HELP tencentcloud_ssl_decode_errors Items"));
        assert!(decode.ends_with("# TYPE tencentcloud_ssl_decode_errors counter\n"));
        let info = om(Family::CertificateInfo);
        assert!(info.contains("# TYPE tencentcloud_ssl_certificate info\n"));
        let expiry = om(Family::CertificateNotAfter);
        assert!(expiry.ends_with(
            "# TYPE tencentcloud_ssl_certificate_not_after_timestamp_seconds gauge\n# UNIT tencentcloud_ssl_certificate_not_after_timestamp_seconds seconds\n"
        ));
        let unknown = om(Family::UnknownStatusCodes);
        assert!(unknown.contains("status=\\\"unknown\\\""), "{unknown}");
        let text = header(Family::DecodeErrors.def(), Format::Text);
        assert!(text.ends_with("# TYPE tencentcloud_ssl_decode_errors_total counter\n"));
    }

    #[test]
    fn text_tails_become_openmetrics() {
        let text = "# HELP a_total Things \"done\".\n# TYPE a_total counter\na_total{x=\"1\"} 3\n\
                    # HELP d_seconds Durations.\n# TYPE d_seconds histogram\nd_seconds_bucket{le=\"+Inf\"} 1\nd_seconds_sum 0.5\nd_seconds_count 1\n\
                    # HELP g Level.\n# TYPE g gauge\ng 2\n";
        assert_eq!(
            openmetrics_from_text(text),
            "# HELP a Things \\\"done\\\".\n# TYPE a counter\na_total{x=\"1\"} 3\n\
             # HELP d_seconds Durations.\n# TYPE d_seconds histogram\n# UNIT d_seconds seconds\nd_seconds_bucket{le=\"+Inf\"} 1\nd_seconds_sum 0.5\nd_seconds_count 1\n\
             # HELP g Level.\n# TYPE g gauge\ng 2\n"
        );
    }
}
