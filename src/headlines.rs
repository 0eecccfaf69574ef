//! The few facts a person looks at first after a deploy, as the last run of each collector saw
//! them: certificates about to expire, failed rollouts, endpoints serving another certificate.
//! Collectors state them beside their snapshot; the landing page shows them.

/// One headline number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Headline {
    /// Certificates whose expiry is within the next 30 days.
    ExpiringWithin30Days,
    /// Certificates already past their expiry.
    Expired,
    /// Rollout records whose newest entry of an operation failed.
    FailedRollouts,
    /// Probed endpoints that serve another certificate than the API says.
    EndpointsServingAnother,
    /// Probed endpoints whose probe failed.
    ProbesFailing,
}

impl Headline {
    /// What it counts, in plain words.
    pub fn text(self) -> &'static str {
        match self {
            Headline::ExpiringWithin30Days => "certificates expiring within 30 days",
            Headline::Expired => "certificates expired",
            Headline::FailedRollouts => "rollout records with a failed operation",
            Headline::EndpointsServingAnother => "endpoints serving another certificate",
            Headline::ProbesFailing => "endpoint probes failing",
        }
    }

    /// The metric to look at for the details.
    pub fn metric(self) -> &'static str {
        match self {
            Headline::ExpiringWithin30Days | Headline::Expired => {
                "tencentcloud_ssl_certificate_not_after_timestamp_seconds"
            }
            Headline::FailedRollouts => "tencentcloud_ssl_deploy_record_status",
            Headline::EndpointsServingAnother => "tencentcloud_ssl_endpoint_certificate_match",
            Headline::ProbesFailing => "tencentcloud_ssl_endpoint_probe_success",
        }
    }
}

/// A certificate about to expire (or expired), as the landing page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiring {
    pub certificate_id: String,
    pub domain: String,
    pub alias: String,
    /// Expiry, unix seconds.
    pub not_after: i64,
}

/// Most certificates listed by name.
pub const MOST_LISTED: usize = 10;

/// What one run of a collector states.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headlines {
    /// Each number the collector knows, once.
    pub counts: Vec<(Headline, u64)>,
    /// Certificates expiring within 30 days or expired, soonest first, at most [`MOST_LISTED`].
    pub expiring: Vec<Expiring>,
}
