//! Readiness and first runs: `/-/ready` answers 200 once the exporter serves and every
//! collector that gates readiness ([`Collector::gates_readiness`](crate::collector::Collector::gates_readiness):
//! those whose first run is a few calls at any size, the certificate list) has finished its
//! first run. Every collector's first run is tracked, gating or not: exported as
//! `tencentcloud_ssl_collector_first_run_complete` and shown, with its progress, by the readiness
//! answer and the landing page.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::collector::Progress;
use crate::telemetry::Telemetry;

/// The first run of one collector of one account.
#[derive(Debug)]
pub(crate) struct FirstRun {
    account: String,
    collector: &'static str,
    gates: bool,
    complete: AtomicBool,
    progress: Progress,
    telemetry: Telemetry,
}

impl FirstRun {
    /// The run has ended (published, failed, or its task died): counted once, whichever
    /// incarnation of the collector ends it; seen by the next scrape.
    pub(crate) fn ended(&self) {
        if !self.complete.swap(true, Ordering::AcqRel) {
            self.telemetry
                .first_run(&self.account, self.collector, true);
        }
    }

    /// Where every incarnation of the collector reports how far its runs have got.
    pub(crate) fn progress(&self) -> Progress {
        self.progress.clone()
    }
}

/// A collector still on its first run, as the readiness answer and the landing page show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Waiting {
    pub account: String,
    pub collector: &'static str,
    /// Whether readiness waits for it.
    pub gates: bool,
    /// (done, planned) items of its run, when it counts them.
    pub progress: Option<(u64, u64)>,
}

impl Waiting {
    /// `account/collector`, and its progress when known (`deploy 120/400`).
    pub(crate) fn describe(&self) -> String {
        match self.progress {
            Some((done, planned)) => format!(
                "{}/{} ({done} of {planned} items)",
                self.account, self.collector
            ),
            None => format!("{}/{}", self.account, self.collector),
        }
    }
}

/// Every collector's first run, for `/-/ready` and the landing page.
#[derive(Debug)]
pub(crate) struct Readiness {
    telemetry: Telemetry,
    runs: Mutex<Vec<Arc<FirstRun>>>,
}

impl Readiness {
    pub(crate) fn new(telemetry: Telemetry) -> Self {
        Readiness {
            telemetry,
            runs: Mutex::new(Vec::new()),
        }
    }

    /// A collector starts its first run; readiness waits for it when it `gates`.
    pub(crate) fn starting(
        &self,
        account: &str,
        collector: &'static str,
        gates: bool,
    ) -> Arc<FirstRun> {
        self.telemetry.first_run(account, collector, false);
        let run = Arc::new(FirstRun {
            account: account.to_string(),
            collector,
            gates,
            complete: AtomicBool::new(false),
            progress: Progress::exported(
                self.telemetry.collector_run_items.clone(),
                account,
                collector,
            ),
            telemetry: self.telemetry.clone(),
        });
        self.runs.lock().push(Arc::clone(&run));
        run
    }

    /// The collectors still on their first run, in the order they started.
    pub(crate) fn waiting(&self) -> Vec<Waiting> {
        self.runs
            .lock()
            .iter()
            .filter(|run| !run.complete.load(Ordering::Acquire))
            .map(|run| Waiting {
                account: run.account.clone(),
                collector: run.collector,
                gates: run.gates,
                progress: run.progress.get(),
            })
            .collect()
    }

    /// Whether the exporter is ready (it serves, and every gating collector has finished its
    /// first run), and the body of `/-/ready` saying so, then naming each collector still on
    /// its first run.
    pub(crate) fn answer(&self) -> (bool, String) {
        let waiting = self.waiting();
        let ready = waiting.iter().all(|w| !w.gates);
        let list = |gates: bool| {
            waiting
                .iter()
                .filter(|w| w.gates == gates)
                .map(Waiting::describe)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut body = if ready {
            "Ready.\n".to_string()
        } else {
            format!("Not ready: waiting for the first run of {}.\n", list(true))
        };
        if waiting.iter().any(|w| !w.gates) {
            body.push_str(&format!(
                "Still on their first run (not waited for; their families are absent until it ends): {}.\n",
                list(false)
            ));
        }
        (ready, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_the_gating_first_runs_end_and_the_rest_are_named() {
        let telemetry = Telemetry::without_exporter_metrics();
        let readiness = Readiness::new(telemetry.clone());
        assert!(readiness.answer().0, "nothing to wait for");
        let certificates = readiness.starting("a", "certificates", true);
        let deploy = readiness.starting("a", "deploy", false);
        assert!(!readiness.answer().0);
        let text = telemetry.render();
        for collector in ["certificates", "deploy"] {
            assert!(text.contains(&format!(
                "tencentcloud_ssl_collector_first_run_complete{{account=\"a\",collector=\"{collector}\"}} 0"
            )));
        }
        let (ready, body) = readiness.answer();
        assert!(!ready);
        assert_eq!(
            body,
            "Not ready: waiting for the first run of a/certificates.\n\
             Still on their first run (not waited for; their families are absent until it ends): a/deploy.\n"
        );

        let epoch = telemetry.epoch();
        certificates.ended();
        certificates.ended();
        assert!(telemetry.epoch() > epoch, "the next scrape sees it at once");
        assert!(readiness.answer().0, "deploy does not gate");
        let progress = deploy.progress();
        progress.plan(3);
        progress.advance();
        let (ready, body) = readiness.answer();
        assert!(ready);
        assert!(
            body.starts_with("Ready.\n") && body.contains("a/deploy (1 of 3 items)"),
            "{body}"
        );
        let text = telemetry.render();
        assert!(text.contains(
            "tencentcloud_ssl_collector_first_run_complete{account=\"a\",collector=\"certificates\"} 1"
        ));
        assert!(text.contains(
            "tencentcloud_ssl_collector_run_items{account=\"a\",collector=\"deploy\",state=\"done\"} 1"
        ));
        assert!(
            !text.contains("collector=\"certificates\",state="),
            "a collector that counts nothing has no items"
        );

        deploy.ended();
        assert_eq!(readiness.answer(), (true, "Ready.\n".to_string()));
        assert!(readiness.waiting().is_empty());
    }
}
