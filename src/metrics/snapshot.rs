//! Collector snapshots, rendered to exposition text once per run.

use std::fmt::Write as _;
use std::sync::Arc;

use super::contract::{Family, Series};
use super::part::{Part, PartWriter};

/// Samples of one collector run, rendered and compressed per family once, at the end of the run.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Sample lines per family (no `# HELP`/`# TYPE`), indexed by [`Family::index`].
    parts: Vec<Option<Arc<Part>>>,
    series: usize,
}

impl Snapshot {
    /// The rendered sample lines of `family` (no `# HELP`/`# TYPE`).
    pub fn chunk(&self, family: Family) -> &str {
        self.part(family)
            .map_or("", |p| std::str::from_utf8(p.plain()).unwrap_or(""))
    }

    /// The prepared piece of `family`, if the snapshot has samples of it.
    pub fn part(&self, family: Family) -> Option<&Arc<Part>> {
        self.parts.get(family.index()).and_then(Option::as_ref)
    }

    /// Number of series in the snapshot.
    pub fn series(&self) -> usize {
        self.series
    }

    /// Bytes of text per family, to size the next run's buffers ([`SnapshotBuilder::sized_like`]).
    pub fn sizes(&self) -> Vec<usize> {
        self.parts
            .iter()
            .map(|p| p.as_ref().map_or(0, |p| p.len()))
            .collect()
    }
}

/// Writes samples of one account into a [`Snapshot`].
#[derive(Debug)]
pub struct SnapshotBuilder {
    account: String,
    chunks: Vec<PartWriter>,
    series: usize,
}

impl SnapshotBuilder {
    pub fn new(account: &str) -> Self {
        SnapshotBuilder {
            account: escape_label_value(account),
            chunks: Family::ALL.iter().map(|_| PartWriter::default()).collect(),
            series: 0,
        }
    }

    /// A builder whose buffers start at the sizes of a previous run plus a margin (at most a
    /// spill's worth: larger families are compressed as they are written), so a run of about
    /// the same size does not grow them by doubling.
    pub fn sized_like(account: &str, sizes: &[usize]) -> Self {
        let mut builder = SnapshotBuilder::new(account);
        for (chunk, size) in builder.chunks.iter_mut().zip(sizes) {
            *chunk = PartWriter::sized(*size);
        }
        builder
    }

    /// Adds one sample of the family of `series`, whose fields are the labels after `account`.
    pub fn sample<S: Series>(&mut self, series: S, value: f64) {
        self.sample_with_labels(series, &[], value);
    }

    /// Adds one sample of the family of `series` with `extra` labels after the contract's ones:
    /// for the one family whose further labels come from configuration
    /// ([`Family::CertificateTags`]). Each extra name must already be a valid, unique label
    /// name (the configuration checks them); a label with an empty value is left out, as
    /// Prometheus treats it as absent anyway.
    pub fn sample_with_labels<S: Series>(&mut self, series: S, extra: &[(&str, &str)], value: f64) {
        let def = S::FAMILY.def();
        let writer = &mut self.chunks[S::FAMILY.index()];
        let out = writer.text();
        out.push_str(def.name);
        out.push_str("{account=\"");
        out.push_str(&self.account);
        out.push('"');
        let values = series.values();
        let given = def
            .labels
            .iter()
            .copied()
            .zip(values.as_ref().iter().copied());
        for (label, value) in given.chain(extra.iter().copied().filter(|(_, v)| !v.is_empty())) {
            out.push(',');
            out.push_str(label);
            out.push_str("=\"");
            push_escaped(out, value);
            out.push('"');
        }
        out.push_str("} ");
        push_value(out, value);
        out.push('\n');
        writer.spill_if_full();
        self.series += 1;
    }

    /// A state set: one series per state of `states`, 1 on `current`; `series` gives the labels
    /// of the series whose state label is the given one.
    pub fn state_set<S: Copy + PartialEq, L: Series>(
        &mut self,
        states: &[S],
        current: S,
        label: impl Fn(S) -> &'static str,
        series: impl Fn(&'static str) -> L,
    ) {
        for state in states {
            let value = if *state == current { 1.0 } else { 0.0 };
            self.sample(series(label(*state)), value);
        }
    }

    /// Compresses every family's lines once and seals the snapshot.
    pub fn finish(self) -> Snapshot {
        Snapshot {
            parts: self
                .chunks
                .into_iter()
                .map(|chunk| (!chunk.is_empty()).then(|| Arc::new(chunk.finish())))
                .collect(),
            series: self.series,
        }
    }
}

/// Escapes a label value for the text format: backslash, double quote and line feed.
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_escaped(&mut out, value);
    out
}

fn push_escaped(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Formats a sample value: integers without a fraction, special values as Prometheus spells them.
pub fn push_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else if value.fract() == 0.0 && value.abs() < 9.0e15 {
        let _ = write!(out, "{}", value as i64);
    } else {
        let _ = write!(out, "{value:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::super::contract::series;
    use super::*;

    #[test]
    fn renders_labels_in_contract_order_with_account_first() {
        let mut builder = SnapshotBuilder::new("prod");
        builder.sample(
            series::CertificateNotAfter {
                certificate_id: "abc",
            },
            1_700_000_000.0,
        );
        let snapshot = builder.finish();
        assert_eq!(
            snapshot.chunk(Family::CertificateNotAfter),
            "tencentcloud_ssl_certificate_not_after_timestamp_seconds{account=\"prod\",certificate_id=\"abc\"} 1700000000\n"
        );
        assert_eq!(snapshot.series(), 1);
        assert_eq!(snapshot.chunk(Family::CertificateInfo), "");
    }

    #[test]
    fn extra_labels_follow_the_contracts_and_empty_ones_are_left_out() {
        let mut builder = SnapshotBuilder::new("a");
        builder.sample_with_labels(
            series::CertificateTags {
                certificate_id: "c1",
            },
            &[("tag_team", "pay\"ments"), ("tag_env", "")],
            1.0,
        );
        assert_eq!(
            builder.finish().chunk(Family::CertificateTags),
            "tencentcloud_ssl_certificate_tags_info{account=\"a\",certificate_id=\"c1\",tag_team=\"pay\\\"ments\"} 1\n"
        );
    }

    #[test]
    fn escapes_hostile_label_values() {
        assert_eq!(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape_label_value("证书 ✓"), "证书 ✓");
        let mut builder = SnapshotBuilder::new("acc\"ount");
        builder.sample(
            series::CertificateInfo {
                certificate_id: "id",
                domain: "x\"}\n# HELP evil",
                alias: "a\\",
                status: "issued",
                certificate_type: "SVR",
            },
            1.0,
        );
        let text = builder.finish().chunk(Family::CertificateInfo).to_string();
        assert_eq!(
            text.lines().count(),
            1,
            "no raw newline can split a sample: {text}"
        );
        assert!(text.contains("account=\"acc\\\"ount\""));
        assert!(text.contains("domain=\"x\\\"}\\n# HELP evil\""));
    }

    #[test]
    fn value_formatting() {
        let fmt = |v| {
            let mut s = String::new();
            push_value(&mut s, v);
            s
        };
        assert_eq!(fmt(1.0), "1");
        assert_eq!(fmt(-3.0), "-3");
        assert_eq!(fmt(0.25), "0.25");
        assert_eq!(fmt(f64::NAN), "NaN");
        assert_eq!(fmt(f64::INFINITY), "+Inf");
        assert_eq!(fmt(1e300), "1e300");
    }

    #[test]
    fn state_set_marks_only_the_current_state() {
        let mut builder = SnapshotBuilder::new("a");
        builder.state_set(
            &[1, 2, 3],
            2,
            |s| match s {
                1 => "querying",
                2 => "succeeded",
                _ => "failed",
            },
            |status| series::BindTaskStatus {
                certificate_id: "c1",
                status,
            },
        );
        let snapshot = builder.finish();
        let text = snapshot.chunk(Family::BindTaskStatus);
        assert!(text.contains("status=\"querying\"} 0\n"));
        assert!(text.contains("status=\"succeeded\"} 1\n"));
        assert!(text.contains("status=\"failed\"} 0\n"));
    }
}
