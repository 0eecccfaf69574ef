//! Collectors: one per concern, each behind the small `Collector` interface.
//!
//! A collector turns API answers into a [`Snapshot`](crate::metrics::Snapshot) of one account. It never panics on what the
//! API says: failures of single items are recorded in `Collected::errors` (the run then counts as
//! failed, `tencentcloud_ssl_collector_success 0`) while everything else is still published; a
//! failure that makes the whole run meaningless (credentials, the certificate list) is an `Err`.
//!
//! - [`certificates`]: identity and validity of every certificate.
//! - [`bind`]: which cloud resources each certificate is bound to.
//! - [`records`]: how rollouts went, one `RecordsCollector` per record kind: the
//!   `upload_update`, `update` and `deploy` collectors.
//! - [`endpoints`]: whether the domains the API names really serve the certificate it says.
//!
//! What they share, each once: `budget` (which certificates a run spends a per-certificate
//! action's budget on, and the rotation's bound), `skeleton` (the `Collector` interface, the settings, the
//! findings, and `Core`, what every collector holds and the steps around each run), `paging`
//! (the one pager and the certificate list), `fetch` (the one fan-out, the per-item fetch and the
//! stale-merge of held results).

pub mod bind;
pub mod certificates;
pub mod endpoints;
pub mod records;

mod budget;
mod fetch;
mod paging;
mod skeleton;

pub(crate) use fetch::{
    fan_out, fetch_each, fetch_each_then, merge, queue, Answers, Held, Refresh,
};
pub(crate) use paging::{
    fetch_pages, list_certificate_ids, list_certificate_states, list_certificates_as, page_by_rows,
};
pub(crate) use skeleton::{
    CollectError, Collected, Collector, CollectorSettings, Core, Findings, Progress,
};

#[cfg(test)]
mod tests;
