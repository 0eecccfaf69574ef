//! The budget of a per-certificate action: which certificates one run calls it for, in which
//! order, and how long any certificate may go unchecked. Pure.
//!
//! A run may make `pace × interval` calls (the action's pace in force, see
//! `--tencentcloud.per-certificate-share`), spent where change is likely:
//!
//! 1. certificates whose held state can still change ([`Priority::EveryRun`]): every run,
//!    whatever the budget;
//! 2. certificates whose listed state changed since their last check ([`Priority::Changed`]:
//!    new dates after an upload-update or a reissue, a hosting or renewal change), then those
//!    never checked ([`Priority::Unchecked`], newest first): as soon as the budget allows;
//! 3. the rest in a rotation, the longest unchecked first, a certificate likely to change
//!    ([`Priority::Likely`]: hosted, auto-renewing, recently deployed) counting its age twice.
//!
//! The rotation, and the new and changed certificates, each get at least one call a run. With
//! `room = pace × interval − every_run` calls
//! left by the first class, `urgent` certificates in the second, and `rest` and `likely` in the
//! rotation, every certificate is checked within
//! `ceil(urgent / (room − 1)) + ceil((rest + 2 × likely) / room)` runs: the bound
//! [`Plan::bound`] states. Once nothing is urgent, that is `ceil((rest + 2 × likely) / room)`
//! runs between two checks of any certificate.

use std::cmp::Reverse;
use std::time::Duration;

/// How likely a certificate's answer is to have changed; the order is the order of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Its held state can still change (a record not final): checked every run.
    EveryRun,
    /// Its listed state changed since it was last checked.
    Changed,
    /// Never checked.
    Unchecked,
    /// Hosted, auto-renewing or recently deployed: in the rotation at twice the rate.
    Likely,
    /// Everything else: in the rotation.
    Rest,
}

/// One certificate the run may call the action for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub id: &'a str,
    pub priority: Priority,
    /// Time since its last successful check; `None` if never checked.
    pub age: Option<Duration>,
    /// Newer first among the unchecked (its `CertBeginTime`, unix seconds; 0 when unknown).
    pub newest: i64,
}

/// The calls one run may make.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// The action's pace in force, calls per second.
    pub pace: f64,
    /// The collector's interval.
    pub interval: Duration,
}

impl Budget {
    /// `pace × interval`, at least one.
    pub fn calls_per_run(&self) -> usize {
        // A hair over, so that a pace given as a fraction (2/3 a second) makes its whole calls.
        let calls = self.pace * self.interval.as_secs_f64() * (1.0 + 1e-9);
        if calls.is_finite() && calls >= 1.0 {
            // Saturates at usize::MAX for absurd values.
            calls.floor() as usize
        } else {
            1
        }
    }
}

/// Which certificates this run checks, in order, and the rotation's bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<'a> {
    /// The certificates to check this run, in the order to check them.
    pub order: Vec<&'a str>,
    /// Every certificate that was checked before is checked again within this long (while the
    /// account and the budget stay as they are).
    pub bound: Duration,
    /// Calls of this run the rotation gets.
    pub rotation_calls: usize,
}

/// Plans one run over `candidates` within `budget`. Pure.
pub fn plan<'a>(candidates: &[Candidate<'a>], budget: Budget) -> Plan<'a> {
    let calls = budget.calls_per_run();
    let mut every_run: Vec<&Candidate> = Vec::new();
    let mut urgent: Vec<&Candidate> = Vec::new();
    let mut rotation: Vec<&Candidate> = Vec::new();
    for candidate in candidates {
        match (candidate.priority, candidate.age) {
            (Priority::EveryRun, _) => every_run.push(candidate),
            (Priority::Changed | Priority::Unchecked, _) | (_, None) => urgent.push(candidate),
            (Priority::Likely | Priority::Rest, Some(_)) => rotation.push(candidate),
        }
    }
    every_run.sort_by_key(|c| c.id);
    urgent.sort_by_key(|c| {
        let unchecked = c.age.is_none() || c.priority == Priority::Unchecked;
        (unchecked, Reverse(c.newest), c.id)
    });
    let weight = |c: &Candidate| if c.priority == Priority::Likely { 2 } else { 1 };
    rotation.sort_by_key(|c| {
        let age = c.age.unwrap_or_default().saturating_mul(weight(c));
        (Reverse(age), c.id)
    });
    let room = calls.saturating_sub(every_run.len());
    // One call a run is the rotation's while certificates checked before wait (or will, once
    // this run's urgent ones are checked and more are left).
    let reserve = usize::from(room > 1 && (!rotation.is_empty() || urgent.len() > room));
    // Like the rotation, new and changed certificates keep one call a run even when the
    // certificates that can still change take the whole budget (else they would wait for good).
    let urgent_room = if rotation.is_empty() {
        room
    } else {
        room - reserve
    };
    let urgent_calls = urgent.len().min(urgent_room.max(1));
    let rotation_calls = if rotation.is_empty() {
        0
    } else {
        room.saturating_sub(urgent_calls).max(1)
    };
    let demand: usize = rotation.iter().map(|c| weight(c) as usize).sum();
    let runs =
        (urgent.len().div_ceil((room - reserve).max(1)) + demand.div_ceil(room.max(1))).max(1);
    let bound = budget
        .interval
        .saturating_mul(u32::try_from(runs).unwrap_or(u32::MAX));
    let order = every_run
        .iter()
        .chain(urgent.iter().take(urgent_calls))
        .chain(rotation.iter().take(rotation_calls))
        .map(|c| c.id)
        .collect();
    Plan {
        order,
        bound,
        rotation_calls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const MINUTE: Duration = Duration::from_secs(60);

    fn budget(calls: usize) -> Budget {
        Budget {
            pace: calls as f64 / 60.0,
            interval: MINUTE,
        }
    }

    fn at(id: &str, priority: Priority, age_minutes: Option<u32>) -> Candidate<'_> {
        Candidate {
            id,
            priority,
            age: age_minutes.map(|m| MINUTE * m),
            newest: 0,
        }
    }

    #[test]
    fn calls_per_run_is_pace_times_interval_and_at_least_one() {
        let five = Budget {
            pace: 5.0,
            interval: Duration::from_secs(600),
        };
        assert_eq!(five.calls_per_run(), 3000);
        let tiny = Budget {
            pace: 0.001,
            interval: Duration::from_secs(1),
        };
        assert_eq!(tiny.calls_per_run(), 1);
        let nonsense = Budget {
            pace: f64::NAN,
            interval: Duration::from_secs(1),
        };
        assert_eq!(nonsense.calls_per_run(), 1);
    }

    #[test]
    fn everything_fits_so_everything_is_checked_every_run() {
        let candidates = [
            at("b", Priority::Rest, Some(1)),
            at("a", Priority::Rest, Some(1)),
            at("c", Priority::EveryRun, Some(1)),
        ];
        let plan = plan(&candidates, budget(10));
        assert_eq!(plan.order, ["c", "a", "b"]);
        assert_eq!(plan.bound, MINUTE);
    }

    #[test]
    fn priorities_come_first_and_new_certificates_newest_first() {
        let mut fresh = at("new-old", Priority::Unchecked, None);
        fresh.newest = 100;
        let mut newer = at("new-new", Priority::Unchecked, None);
        newer.newest = 200;
        let candidates = [
            at("rest-1", Priority::Rest, Some(30)),
            fresh,
            at("moving", Priority::EveryRun, Some(1)),
            at("renewed", Priority::Changed, Some(2)),
            newer,
            at("hosted", Priority::Likely, Some(20)),
            at("rest-2", Priority::Rest, Some(5)),
        ];
        let plan = plan(&candidates, budget(5));
        // Five calls: the moving one, the changed one, the two new ones (newest first), then
        // the rotation's one: the hosted certificate, whose 20 minutes count 40, before the
        // rest's 30.
        assert_eq!(
            plan.order,
            ["moving", "renewed", "new-new", "new-old", "hosted"]
        );
        assert_eq!(plan.rotation_calls, 1);
        // Three urgent at three calls a run (one kept for the rotation), then the rotation's
        // demand, 2 (hosted) + 1 + 1, at four.
        assert_eq!(plan.bound, MINUTE * 2);
    }

    #[test]
    fn certificates_checked_every_run_are_checked_even_over_budget() {
        let candidates = [
            at("m1", Priority::EveryRun, Some(1)),
            at("m2", Priority::EveryRun, Some(1)),
            at("m3", Priority::EveryRun, Some(1)),
            at("r", Priority::Rest, Some(9)),
        ];
        let plan = plan(&candidates, budget(2));
        assert_eq!(
            plan.order,
            ["m1", "m2", "m3", "r"],
            "the rotation never stops"
        );
        assert_eq!(plan.bound, MINUTE);
        // New and changed certificates are not starved either: one call a run each way, and
        // the bound counts one run per urgent certificate.
        let candidates = [
            at("m1", Priority::EveryRun, Some(1)),
            at("m2", Priority::EveryRun, Some(1)),
            at("m3", Priority::EveryRun, Some(1)),
            at("new", Priority::Unchecked, None),
            at("changed", Priority::Changed, Some(3)),
            at("r", Priority::Rest, Some(9)),
        ];
        let starving = super::plan(&candidates, budget(2));
        assert_eq!(starving.order, ["m1", "m2", "m3", "changed", "r"]);
        assert_eq!(starving.bound, MINUTE * 3);
        let without_rotation = [
            at("m1", Priority::EveryRun, Some(1)),
            at("m2", Priority::EveryRun, Some(1)),
            at("new", Priority::Unchecked, None),
        ];
        assert_eq!(
            super::plan(&without_rotation, budget(2)).order,
            ["m1", "m2", "new"]
        );
    }

    /// Runs the plan `runs` times over a fixed account, checking what each run plans. Returns
    /// the runs each certificate was checked in, and the bound each run stated.
    fn simulate(
        ids: &[String],
        likely: usize,
        calls: usize,
        unchecked_at_start: bool,
        runs: u32,
    ) -> (HashMap<String, Vec<u32>>, Vec<Duration>) {
        let mut checked: HashMap<String, Vec<u32>> = HashMap::new();
        if !unchecked_at_start {
            // Checked before, in a staggered order.
            for (i, id) in ids.iter().enumerate() {
                checked.insert(id.clone(), vec![(i % 7) as u32]);
            }
        }
        let mut bounds = Vec::new();
        for run in 10..10 + runs {
            let candidates: Vec<Candidate> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| Candidate {
                    id,
                    priority: if i < likely {
                        Priority::Likely
                    } else {
                        Priority::Rest
                    },
                    age: checked
                        .get(id)
                        .and_then(|runs| runs.last())
                        .map(|l| MINUTE * (run - l)),
                    newest: i as i64,
                })
                .collect();
            let planned = plan(&candidates, budget(calls));
            assert!(planned.order.len() <= calls.max(1), "within the budget");
            bounds.push(planned.bound);
            let order: Vec<String> = planned.order.iter().map(|s| s.to_string()).collect();
            for id in order {
                checked.entry(id).or_default().push(run);
            }
        }
        (checked, bounds)
    }

    #[test]
    fn the_rotation_reaches_every_certificate_within_the_bound() {
        for (n, likely, calls) in [(100, 0, 7), (100, 30, 7), (1000, 100, 90), (50, 50, 4)] {
            let ids: Vec<String> = (0..n).map(|i| format!("c{i:04}")).collect();
            let (checked, bounds) = simulate(&ids, likely, calls, false, 200);
            // The bound is the rotation's demand over the calls of a run.
            let runs = (n + likely).div_ceil(calls) as u32;
            assert!(bounds.iter().all(|b| *b == MINUTE * runs), "{bounds:?}");
            // From every run on, every certificate is checked within the bound.
            for start in 10..10 + 200 - runs {
                for (id, at) in &checked {
                    assert!(
                        at.iter().any(|r| (start..start + runs).contains(r)),
                        "{n} certificates, {likely} likely, {calls} calls a run: {id} not checked in the {runs} runs from {start}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_new_account_is_checked_in_full_at_the_budget_then_rotates() {
        let ids: Vec<String> = (0..100).map(|i| format!("c{i:03}")).collect();
        // Ten calls a run: the first run checks ten, newest first, later runs nine new ones and
        // one of the rotation, so the first full picture takes eleven runs; the first run's
        // bound (twelve) does not promise less.
        let (checked, bounds) = simulate(&ids, 0, 10, true, 11);
        assert_eq!(checked.len(), 100, "all checked after eleven runs");
        assert_eq!(checked["c099"][0], 10, "the newest first");
        assert_eq!(checked["c000"], [20]);
        assert_eq!(bounds[0], MINUTE * 12);
        assert_eq!(bounds[1], MINUTE * 11);
    }
}
