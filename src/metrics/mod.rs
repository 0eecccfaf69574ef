//! The metrics contract and how it reaches Prometheus.
//!
//! - `contract`: every family the exporter publishes (name, help, type, labels), in one table.
//! - `snapshot`: collectors write samples into a [`SnapshotBuilder`], which renders them to
//!   exposition text once, at the end of the run.
//! - `format`: the text and OpenMetrics formats: the metadata each writes (samples are the
//!   same bytes in both).
//! - `part`: a piece of text with its deflate twin; pieces concatenate into one gzip file.
//! - `exposition`: lines up the latest snapshot of every collector into prepared bytes (plain
//!   and gzip) that a scrape hands out without waiting on anything.

mod contract;
mod exposition;
mod format;
mod part;
mod snapshot;

pub use contract::{series, Family, FamilyDef, Series};
pub use exposition::{
    CollectorStatus, Exposition, Prepared, RunReport, COMPRESSION_FAILURES_TOTAL,
};
pub use format::Format;
pub use snapshot::{escape_label_value, Snapshot, SnapshotBuilder};
