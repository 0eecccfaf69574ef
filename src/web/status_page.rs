//! The landing page: "is it working?" at a glance, the first thing an operator opens after a
//! deploy. Per account: the headline numbers, the certificates about to expire, every
//! collector's last run (result, duration, what went wrong in plain words, the next run) or,
//! for one still on its first run, that nothing of it is collected yet and how far it has got,
//! and the API calls so far. Plain HTML without scripts, rendered from the state a scrape serves;
//! every string that came from the API or the configuration is escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::duration::format_duration;
use crate::headlines::Headline;
use crate::metrics::CollectorStatus;
use crate::readiness::Waiting;
use crate::telemetry::ApiCalls;

/// What the page shows, gathered by the server.
pub(super) struct PageInput<'a> {
    pub collectors: &'a [CollectorStatus],
    pub api_calls: &'a BTreeMap<String, ApiCalls>,
    /// The collectors still on their first run (readiness waits for those that gate it).
    pub first_runs: &'a [Waiting],
    /// The telemetry path, for the links.
    pub telemetry_path: &'a str,
    /// Now, as unix seconds.
    pub now: f64,
}

/// `text` with the characters that mean something in HTML replaced.
pub(super) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How long ago (or in how long) `unix` is from `now`, to the second.
fn relative(unix: f64, now: f64) -> String {
    let seconds = (unix - now).round();
    let span = format_duration(Duration::from_secs(seconds.abs() as u64));
    if seconds >= 0.0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.ok{color:#176b2c;font-weight:bold}.bad{color:#b00020;font-weight:bold}\
.warn{color:#8a5a00;font-weight:bold}.num{font-size:1.6em;font-weight:bold}\
.cards{display:flex;gap:1em;flex-wrap:wrap;margin:.5em 0 1.5em}\
.card{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;min-width:11em}\
.card a{color:inherit;text-decoration:none}small{color:#666}";

/// The page.
pub(super) fn render(input: &PageInput) -> String {
    let metrics = escape_html(input.telemetry_path.trim_start_matches('/'));
    let mut out = String::with_capacity(8 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Tencent Cloud SSL Exporter</title><style>{STYLE}</style></head><body>\n\
         <h1>Tencent Cloud SSL Exporter</h1>\n<p>Version {} · {} · \
         <a href=\"{metrics}\">Metrics</a> · <a href=\"-/healthy\">Health</a> · \
         <a href=\"-/ready\">Readiness</a></p>\n",
        env!("CARGO_PKG_VERSION"),
        if input.first_runs.iter().all(|w| !w.gates) {
            "<span class=\"ok\">ready</span>"
        } else {
            "<span class=\"warn\">not ready: the certificate list is still on its first run</span>"
        },
    );
    let mut accounts: BTreeMap<&str, (Vec<&CollectorStatus>, Vec<&Waiting>)> = BTreeMap::new();
    for status in input.collectors {
        accounts.entry(&status.account).or_default().0.push(status);
    }
    for waiting in input.first_runs {
        let (ran, first) = accounts.entry(&waiting.account).or_default();
        // Between its publish and the end of its first run, a collector is in both.
        if !ran.iter().any(|s| s.collector == waiting.collector) {
            first.push(waiting);
        }
    }
    if accounts.is_empty() {
        out.push_str("<p>No collector has finished a run yet.</p>\n");
    }
    for (account, (collectors, first_runs)) in &accounts {
        let _ = writeln!(out, "<h2>Account {}</h2>", escape_html(account));
        if !first_runs.is_empty() {
            let names: Vec<String> = first_runs
                .iter()
                .map(|w| escape_html(w.collector))
                .collect();
            let _ = writeln!(
                out,
                "<p class=\"warn\">Not collected yet: {} {} still on {} first run; until it ends \
                 {} families are absent (not zero, not \"nothing bound\"), and the numbers below \
                 leave {} out.</p>",
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" },
                if names.len() == 1 { "its" } else { "their" },
                if names.len() == 1 { "its" } else { "their" },
                if names.len() == 1 { "it" } else { "them" },
            );
        }
        write_headlines(&mut out, collectors, &metrics, input.now);
        write_collectors(&mut out, collectors, first_runs, input.now);
        if let Some(calls) = input.api_calls.get(*account) {
            let _ = writeln!(
                out,
                "<p>API answers so far: {} · not OK: {} · throttled: {}</p>",
                calls.answers, calls.failed, calls.throttled
            );
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// The headline numbers of one account (each linking to its metric), and the certificates
/// about to expire.
fn write_headlines(out: &mut String, collectors: &[&CollectorStatus], metrics: &str, now: f64) {
    let mut counts: BTreeMap<Headline, u64> = BTreeMap::new();
    let mut expiring = Vec::new();
    for status in collectors {
        for (headline, n) in &status.headlines.counts {
            *counts.entry(*headline).or_default() += n;
        }
        expiring.extend(status.headlines.expiring.iter());
    }
    if !counts.is_empty() {
        out.push_str("<div class=\"cards\">\n");
        for (headline, n) in &counts {
            let class = if *n == 0 { "ok" } else { "bad" };
            let _ = writeln!(
                out,
                "<div class=\"card\"><a href=\"{metrics}\" title=\"{}\"><div class=\"num {class}\">{n}</div>{}</a></div>",
                headline.metric(),
                headline.text()
            );
        }
        out.push_str("</div>\n");
    }
    if !expiring.is_empty() {
        out.push_str(
            "<table><tr><th>expires</th><th>domain</th><th>alias</th><th>certificate</th></tr>\n",
        );
        for cert in expiring {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                relative(cert.not_after as f64, now),
                escape_html(&cert.domain),
                escape_html(&cert.alias),
                escape_html(&cert.certificate_id)
            );
        }
        out.push_str("</table>\n");
    }
}

/// One row per collector: result, last run, duration, next run, and what went wrong; for one
/// still on its first run, that and how far it has got.
fn write_collectors(
    out: &mut String,
    collectors: &[&CollectorStatus],
    first_runs: &[&Waiting],
    now: f64,
) {
    out.push_str(
        "<table><tr><th>collector</th><th>result</th><th>last run</th><th>duration</th>\
         <th>next run</th><th>last success</th><th>problem</th></tr>\n",
    );
    for status in collectors {
        let result = match (status.success, status.withdrawn) {
            (_, true) => "<span class=\"bad\">stale: data withdrawn</span>",
            (true, false) => "<span class=\"ok\">OK</span>",
            (false, false) => "<span class=\"bad\">failed</span>",
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{result}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(status.collector),
            relative(status.last_run_unix, now),
            format_duration(Duration::from_secs_f64(status.duration_seconds.max(0.0))),
            status
                .next_run_unix
                .map_or_else(|| "—".to_string(), |t| relative(t, now)),
            status
                .last_success_unix
                .map_or_else(|| "never".to_string(), |t| relative(t, now)),
            status.problem.as_deref().map_or_else(String::new, escape_html),
        );
    }
    for waiting in first_runs {
        let progress = waiting
            .progress
            .map_or_else(String::new, |(done, planned)| {
                format!(": {done} of {planned} items")
            });
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><span class=\"warn\">first run{progress}</span></td>\
             <td>—</td><td>—</td><td>—</td><td>never</td><td>not collected yet{}</td></tr>",
            escape_html(waiting.collector),
            if waiting.gates {
                "; readiness waits for it"
            } else {
                ""
            },
        );
    }
    out.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::headlines::{Expiring, Headlines};

    fn status(
        collector: &'static str,
        problem: Option<&str>,
        headlines: Headlines,
    ) -> CollectorStatus {
        CollectorStatus {
            account: "prod <b>".into(),
            collector,
            success: problem.is_none(),
            duration_seconds: 1.5,
            last_run_unix: 1_000.0,
            last_success_unix: problem.is_none().then_some(1_000.0),
            next_run_unix: Some(1_300.0),
            problem: problem.map(str::to_string),
            withdrawn: false,
            headlines: Arc::new(headlines),
        }
    }

    #[test]
    fn every_api_string_is_escaped_and_the_numbers_are_shown() {
        let collectors = [
            status(
                "certificates",
                None,
                Headlines {
                    counts: vec![(Headline::ExpiringWithin30Days, 1), (Headline::Expired, 0)],
                    expiring: vec![Expiring {
                        certificate_id: "c1".into(),
                        domain: "a.example.com".into(),
                        alias: "<script>alert(1)</script>".into(),
                        not_after: 1_000 + 3 * 86_400,
                    }],
                },
            ),
            status(
                "bind",
                Some("permission denied: <UnauthorizedOperation>"),
                Headlines::default(),
            ),
        ];
        let calls = BTreeMap::from([(
            "prod <b>".to_string(),
            ApiCalls {
                answers: 12,
                failed: 2,
                throttled: 1,
            },
        )]);
        let page = render(&PageInput {
            collectors: &collectors,
            api_calls: &calls,
            first_runs: &[],
            telemetry_path: "/metrics",
            now: 1_010.0,
        });
        assert!(
            !page.contains("<script>") && page.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
        );
        assert!(page.contains("Account prod &lt;b&gt;"));
        assert!(page.contains("permission denied: &lt;UnauthorizedOperation&gt;"));
        assert!(page.contains(">1</div>certificates expiring within 30 days"));
        assert!(page.contains("in 2d23h59m50s"), "{page}");
        assert!(page.contains("10s ago") && page.contains("in 4m50s"));
        assert!(page.contains("API answers so far: 12 · not OK: 2 · throttled: 1"));
        assert!(page.contains("href=\"metrics\""));
        assert!(page.contains("<span class=\"ok\">ready</span>") && !page.contains("first run"));
    }

    #[test]
    fn collectors_on_their_first_run_are_named_with_their_progress() {
        let collectors = [status(
            "certificates",
            None,
            Headlines {
                counts: vec![(Headline::Expired, 0)],
                expiring: Vec::new(),
            },
        )];
        let first_runs = [Waiting {
            account: "prod <b>".into(),
            collector: "deploy",
            gates: false,
            progress: Some((120, 400)),
        }];
        let page = render(&PageInput {
            collectors: &collectors,
            api_calls: &BTreeMap::new(),
            first_runs: &first_runs,
            telemetry_path: "/metrics",
            now: 1_010.0,
        });
        assert!(page.contains("<span class=\"ok\">ready</span>"), "{page}");
        assert!(page.contains("Not collected yet: deploy is still on its first run"));
        assert!(page.contains(
            "<td>deploy</td><td><span class=\"warn\">first run: 120 of 400 items</span>"
        ));
        let gating = [Waiting {
            collector: "certificates",
            gates: true,
            progress: None,
            ..first_runs[0].clone()
        }];
        let page = render(&PageInput {
            collectors: &[],
            api_calls: &BTreeMap::new(),
            first_runs: &gating,
            telemetry_path: "/metrics",
            now: 1_010.0,
        });
        assert!(page.contains("not ready: the certificate list"));
        assert!(
            page.contains("not collected yet; readiness waits for it"),
            "{page}"
        );
    }
}
