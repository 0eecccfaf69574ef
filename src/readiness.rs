//! Readiness: `/-/ready` answers 200 once every collector has finished its first run.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts collectors that have not finished their first run.
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    waiting: AtomicUsize,
}

impl Readiness {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// One more collector to wait for.
    pub(crate) fn expect_one(&self) {
        self.waiting.fetch_add(1, Ordering::AcqRel);
    }

    /// A collector finished its first run.
    pub(crate) fn first_run_done(&self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.waiting.load(Ordering::Acquire) == 0
    }
}
