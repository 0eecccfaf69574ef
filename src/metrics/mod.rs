//! The metrics contract and how it reaches Prometheus.
//!
//! - [`contract`]: every family the exporter publishes (name, help, type, labels), in one table.
//! - [`snapshot`]: collectors write samples into a [`snapshot::SnapshotBuilder`], which renders
//!   them to exposition text once, at the end of the run.
//! - [`part`]: a piece of text with its deflate twin; pieces concatenate into one gzip file.
//! - [`exposition`]: lines up the latest snapshot of every collector into prepared pieces (plain
//!   and gzip) that a scrape hands out without waiting on anything.

pub mod contract;
pub mod exposition;
pub mod part;
pub mod snapshot;

pub use contract::Family;
pub use exposition::Exposition;
pub use snapshot::{Snapshot, SnapshotBuilder};
