//! Fault injection: what can go wrong between a poller and the API, on demand.

use serde::{Deserialize, Serialize};

use super::Rng;

/// One way a call can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    RequestLimitExceeded,
    UinLimitExceeded,
    GlobalRegionUinLimitExceeded,
    IpLimitExceeded,
    RateLimitExceeded,
    InternalError,
    /// HTTP 502 with an HTML body, as a load balancer in front of the API answers.
    #[serde(rename = "http_502")]
    Http502,
    /// HTTP 503 with an HTML body.
    #[serde(rename = "http_503")]
    Http503,
    /// The real answer cut in half.
    TruncatedJson,
    /// HTTP 200 with no body.
    EmptyBody,
    /// The real answer, later than the client's timeout.
    Slow,
    /// The connection is closed without an answer.
    Reset,
}

impl FaultKind {
    pub const ALL: [FaultKind; 12] = [
        FaultKind::RequestLimitExceeded,
        FaultKind::UinLimitExceeded,
        FaultKind::GlobalRegionUinLimitExceeded,
        FaultKind::IpLimitExceeded,
        FaultKind::RateLimitExceeded,
        FaultKind::InternalError,
        FaultKind::Http502,
        FaultKind::Http503,
        FaultKind::TruncatedJson,
        FaultKind::EmptyBody,
        FaultKind::Slow,
        FaultKind::Reset,
    ];

    /// The API error code this fault answers with, if it is an API error.
    pub fn api_code(self) -> Option<&'static str> {
        Some(match self {
            FaultKind::RequestLimitExceeded => "RequestLimitExceeded",
            FaultKind::UinLimitExceeded => "RequestLimitExceeded.UinLimitExceeded",
            FaultKind::GlobalRegionUinLimitExceeded => {
                "RequestLimitExceeded.GlobalRegionUinLimitExceeded"
            }
            FaultKind::IpLimitExceeded => "RequestLimitExceeded.IPLimitExceeded",
            FaultKind::RateLimitExceeded => "LimitExceeded.RateLimitExceeded",
            FaultKind::InternalError => "InternalError",
            _ => return None,
        })
    }

    /// Snake-case name, as in the config and the `X-Sim-Fault` header.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    pub fn from_name(name: &str) -> Option<FaultKind> {
        serde_json::from_value(serde_json::Value::String(name.trim().to_string())).ok()
    }
}

/// Which faults to inject, how often, and how slow answers are.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Probability that a call gets a fault.
    pub rate: f64,
    /// Faults drawn from, uniformly; empty means all.
    pub kinds: Vec<FaultKind>,
    /// Actions affected; empty means all.
    pub actions: Vec<String>,
    /// Delay of a `slow` answer.
    pub slow_ms: u64,
    /// Added to every answer.
    pub latency_ms: u64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            rate: 0.0,
            kinds: Vec::new(),
            actions: Vec::new(),
            slow_ms: 20_000,
            latency_ms: 0,
        }
    }
}

impl FaultConfig {
    /// Draws the fault (if any) for one call of `action`.
    pub fn draw(&self, rng: &mut Rng, action: &str) -> Option<FaultKind> {
        if self.rate <= 0.0
            || (!self.actions.is_empty() && !self.actions.iter().any(|a| a == action))
        {
            return None;
        }
        if !rng.chance(self.rate) {
            return None;
        }
        let kinds: &[FaultKind] = if self.kinds.is_empty() {
            &FaultKind::ALL
        } else {
            &self.kinds
        };
        Some(*rng.pick(kinds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in FaultKind::ALL {
            assert_eq!(FaultKind::from_name(&kind.name()), Some(kind));
        }
        assert_eq!(FaultKind::from_name("http_502"), Some(FaultKind::Http502));
        assert_eq!(FaultKind::from_name("nope"), None);
    }

    #[test]
    fn draws_at_roughly_the_configured_rate() {
        let config = FaultConfig {
            rate: 0.1,
            ..FaultConfig::default()
        };
        let mut rng = Rng::new(1);
        let hits = (0..10_000)
            .filter(|_| config.draw(&mut rng, "A").is_some())
            .count();
        assert!((800..1200).contains(&hits), "{hits}");
        let none = FaultConfig::default();
        assert!((0..1000).all(|_| none.draw(&mut rng, "A").is_none()));
        let only_b = FaultConfig {
            rate: 1.0,
            actions: vec!["B".into()],
            ..FaultConfig::default()
        };
        assert!(only_b.draw(&mut rng, "A").is_none());
        assert!(only_b.draw(&mut rng, "B").is_some());
    }
}
