//! Content negotiation of the telemetry path: the exposition format an `Accept` header asks for
//! (q-values honoured, the first of equal ones wins), and the `Content-Type` that says what was
//! served, echoing the `escaping` parameter the chosen range asked for. Without a usable
//! range (no header, `*/*`, or nothing we serve), the text format 0.0.4, as Prometheus' own
//! client libraries answer.

use hyper::header::HeaderValue;

use crate::metrics::Format;

/// What a scrape is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Negotiated {
    pub format: Format,
    pub content_type: HeaderValue,
}

/// The `escaping` values of the Prometheus 3 content negotiation. All our names are valid
/// without escaping, so every scheme serves the same bytes.
const ESCAPING_SCHEMES: [&str; 4] = ["allow-utf-8", "underscores", "dots", "values"];

/// One media range that names a format we serve.
struct Candidate {
    format: Format,
    version: &'static str,
    escaping: Option<String>,
    q: f64,
}

/// The format `accept` asks for.
pub(super) fn negotiate(accept: Option<&HeaderValue>) -> Negotiated {
    let best = accept
        .and_then(|value| value.to_str().ok())
        .into_iter()
        .flat_map(|value| value.split(','))
        .filter_map(candidate)
        .filter(|c| c.q > 0.0)
        // The highest q; among equals, the first.
        .fold(None::<Candidate>, |best, c| match best {
            Some(b) if b.q >= c.q => Some(b),
            _ => Some(c),
        });
    let (format, version, escaping) = match best {
        Some(c) => (c.format, c.version, c.escaping),
        None => (Format::Text, "0.0.4", None),
    };
    let media = match format {
        Format::Text => "text/plain",
        Format::OpenMetrics => "application/openmetrics-text",
    };
    let mut content_type = format!("{media}; version={version}; charset=utf-8");
    if let Some(escaping) = escaping {
        content_type.push_str("; escaping=");
        content_type.push_str(&escaping);
    }
    Negotiated {
        format,
        // Built from fixed strings and one of ESCAPING_SCHEMES: always a valid header value.
        content_type: HeaderValue::from_str(&content_type).unwrap_or_else(|_| {
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8")
        }),
    }
}

/// The format one media range of an `Accept` header names, if we serve it.
fn candidate(range: &str) -> Option<Candidate> {
    let mut parts = range.split(';').map(str::trim);
    let media = parts.next()?.to_ascii_lowercase();
    let (mut version, mut escaping, mut q) = (None, None, 1.0);
    for param in parts {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_lowercase().as_str() {
            "version" => version = Some(value.to_string()),
            "escaping" => {
                escaping = ESCAPING_SCHEMES
                    .iter()
                    .find(|s| s.eq_ignore_ascii_case(value))
                    .map(|s| s.to_string())
            }
            "q" => {
                q = value
                    .parse::<f64>()
                    .ok()
                    .filter(|q| q.is_finite())?
                    .clamp(0.0, 1.0)
            }
            _ => {}
        }
    }
    let (format, version) = match (media.as_str(), version.as_deref()) {
        ("application/openmetrics-text", None | Some("1.0.0")) => (Format::OpenMetrics, "1.0.0"),
        ("application/openmetrics-text", Some("0.0.1")) => (Format::OpenMetrics, "0.0.1"),
        ("text/plain", None | Some("0.0.4")) => (Format::Text, "0.0.4"),
        ("text/plain", Some("1.0.0")) => (Format::Text, "1.0.0"),
        ("text/*" | "*/*", _) => (Format::Text, "0.0.4"),
        ("application/*", _) => (Format::OpenMetrics, "1.0.0"),
        _ => return None,
    };
    Some(Candidate {
        format,
        version,
        escaping,
        q,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiated(accept: &str) -> (Format, String) {
        let n = negotiate(Some(&HeaderValue::from_str(accept).expect("header")));
        (
            n.format,
            n.content_type.to_str().expect("ascii").to_string(),
        )
    }

    /// The headers Prometheus itself sends, by version.
    const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
    const PROMETHEUS_2: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn prometheus_gets_openmetrics() {
        assert_eq!(
            negotiated(PROMETHEUS_3),
            (
                Format::OpenMetrics,
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
                    .into()
            )
        );
        assert_eq!(
            negotiated(PROMETHEUS_2),
            (
                Format::OpenMetrics,
                "application/openmetrics-text; version=1.0.0; charset=utf-8".into()
            )
        );
    }

    #[test]
    fn q_values_and_versions_decide() {
        let text = |v: &str| {
            (
                Format::Text,
                format!("text/plain; version={v}; charset=utf-8"),
            )
        };
        assert_eq!(negotiated("*/*"), text("0.0.4"), "curl");
        assert_eq!(negotiated("text/plain"), text("0.0.4"));
        assert_eq!(
            negotiated("text/plain;version=1.0.0;escaping=underscores"),
            (
                Format::Text,
                "text/plain; version=1.0.0; charset=utf-8; escaping=underscores".into()
            )
        );
        assert_eq!(
            negotiated("application/openmetrics-text;q=0.2, text/plain;q=0.9"),
            text("0.0.4")
        );
        assert_eq!(
            negotiated("application/openmetrics-text; version=0.0.1"),
            (
                Format::OpenMetrics,
                "application/openmetrics-text; version=0.0.1; charset=utf-8".into()
            )
        );
        // Refused (q=0), unknown versions and types, and garbage fall back to text 0.0.4.
        assert_eq!(
            negotiated("application/openmetrics-text;q=0"),
            text("0.0.4")
        );
        assert_eq!(
            negotiated("application/openmetrics-text;version=9"),
            text("0.0.4")
        );
        assert_eq!(negotiated("application/json"), text("0.0.4"));
        assert_eq!(negotiated(";;;,q=,=,text/plain;q=abc"), text("0.0.4"));
        assert_eq!(
            negotiated("text/plain;escaping=\"nonsense\";version=1.0.0"),
            text("1.0.0"),
            "an unknown escaping is not echoed"
        );
        assert_eq!(negotiate(None).format, Format::Text);
    }
}
