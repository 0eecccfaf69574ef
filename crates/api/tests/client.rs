//! The signed client against an httpmock server.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Attempts;
use httpmock::prelude::*;
use serde_json::{json, Value};
use tencentcloud_ssl_api::certificates::{
    DescribeCertificatesRequest, DescribeCertificatesResponse,
};
use tencentcloud_ssl_api::client::{ApiError, Client, TransportKind};
use tencentcloud_ssl_simulator::auth::authenticate;
use tencentcloud_ssl_simulator::SimConfig;

fn request() -> DescribeCertificatesRequest {
    DescribeCertificatesRequest {
        offset: 0,
        limit: 1000,
        ..Default::default()
    }
}

async fn describe(client: &Client) -> Result<DescribeCertificatesResponse, ApiError> {
    client.call("DescribeCertificates", &request()).await
}

fn ok_body() -> Value {
    json!({"Response": {"TotalCount": 1, "Certificates": [
        {"CertificateId": "c1", "Domain": "example.com", "Alias": null, "Status": 1,
         "CertBeginTime": "2025-01-01 00:00:00", "CertEndTime": "2026-01-01 00:00:00", "Tags": null}
    ], "RequestId": "req-1"}})
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[tokio::test]
async fn sends_every_header_and_a_valid_signature_of_the_exact_body() {
    let server = MockServer::start_async().await;
    let mut verifier = SimConfig::demo(1, 1);
    verifier.secret_id = common::SECRET_ID.to_string();
    verifier.secret_key = common::SECRET_KEY.to_string();
    verifier.token = Some("session-token-xyz".to_string());
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/")
                .header("content-type", "application/json")
                .header("x-tc-action", "DescribeCertificates")
                .header("x-tc-version", "2019-12-05")
                .header("x-tc-token", "session-token-xyz")
                .header_exists("x-tc-timestamp")
                .json_body(json!({"Offset": 0, "Limit": 1000}))
                .is_true(move |req| {
                    authenticate(&verifier, &req.headers(), req.body().as_ref(), now()).is_ok()
                });
            then.status(200).json_body(ok_body());
        })
        .await;
    let config = tencentcloud_ssl_api::client::ClientConfig {
        endpoint: server.base_url(),
        ..Default::default()
    };
    let client = Client::new(
        "default",
        &config,
        common::credentials(Some("session-token-xyz")),
        Attempts::new(),
    )
    .expect("client");
    let page = describe(&client).await.expect("signed call accepted");
    mock.assert_async().await;
    assert_eq!(page.total_count, 1);
    assert_eq!(
        page.certificates.items[0].alias, "",
        "null alias reads as empty"
    );
}

#[tokio::test]
async fn a_wrong_key_does_not_verify() {
    let mut verifier = SimConfig::demo(1, 1);
    verifier.secret_id = common::SECRET_ID.to_string();
    verifier.secret_key = "another-key".to_string();
    let server = MockServer::start_async().await;
    let verified = server
        .mock_async(|when, then| {
            when.is_true(move |req| {
                authenticate(&verifier, &req.headers(), req.body().as_ref(), now()).is_ok()
            });
            then.status(200).json_body(ok_body());
        })
        .await;
    let rejected = server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(200).json_body(json!({"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "bad signature"}, "RequestId": "rid-9"}}));
        })
        .await;
    let attempts = Attempts::new();
    let err = describe(&common::client(&server.base_url(), attempts.clone()))
        .await
        .unwrap_err();
    assert_eq!(verified.calls_async().await, 0);
    assert_eq!(
        rejected.calls_async().await,
        1,
        "auth failures are never retried"
    );
    assert_eq!(err.api_code(), Some("AuthFailure.SignatureFailure"));
    let shown = err.to_string();
    assert!(
        shown.contains("bad signature") && shown.contains("RequestId rid-9"),
        "{shown}"
    );
    assert!(err.is_auth());
    assert_eq!(attempts.with_code("AuthFailure.SignatureFailure"), 1);
}

#[tokio::test]
async fn throttled_then_success_is_retried() {
    let server = MockServer::start_async().await;
    let throttle = server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(200).json_body(json!({"Response": {"Error": {"Code": "RequestLimitExceeded", "Message": "slow down"}, "RequestId": "r"}}));
        })
        .await;
    let attempts = Attempts::new();
    let client = common::client_with(&server.base_url(), attempts.clone(), |c| {
        c.retry.base_backoff = Duration::from_millis(400);
        c.retry.max_backoff = Duration::from_millis(400);
    });
    let call = tokio::spawn(async move { describe(&client).await });
    // Swap the answer while the client backs off (at least 200 ms with full jitter).
    while throttle.calls_async().await == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    throttle.delete_async().await;
    let ok = server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(200).json_body(ok_body());
        })
        .await;
    let page = call.await.expect("join").expect("succeeds after a retry");
    assert_eq!(page.total_count, 1);
    assert_eq!(ok.calls_async().await, 1);
    assert_eq!(attempts.with_code("RequestLimitExceeded"), 1);
    assert_eq!(attempts.with_code("OK"), 1);
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(502)
                .header("content-type", "text/html")
                .body("<html>502 Bad Gateway</html>");
        })
        .await;
    let attempts = Attempts::new();
    let err = describe(&common::client(&server.base_url(), attempts.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::HttpStatus { status: 502, .. }),
        "{err:?}"
    );
    assert_eq!(mock.calls_async().await, 3, "max_attempts");
    assert_eq!(attempts.with_code("http_502"), 3);
}

#[tokio::test]
async fn internal_error_then_gives_up_with_the_last_error() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(200).json_body(json!({"Response": {"Error": {"Code": "InternalError.DbError", "Message": "db"}, "RequestId": "r2"}}));
        })
        .await;
    let err = describe(&common::client(&server.base_url(), Attempts::new()))
        .await
        .unwrap_err();
    assert_eq!(err.api_code(), Some("InternalError.DbError"));
    assert_eq!(mock.calls_async().await, 3);
}

#[tokio::test]
async fn invalid_parameter_is_not_retried() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(200).json_body(json!({"Response": {"Error": {"Code": "InvalidParameter.Limit", "Message": "x"}, "RequestId": "r"}}));
        })
        .await;
    let _ = describe(&common::client(&server.base_url(), Attempts::new()))
        .await
        .unwrap_err();
    assert_eq!(mock.calls_async().await, 1);
}

#[tokio::test]
async fn timeouts_are_transport_errors() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(200)
                .json_body(ok_body())
                .delay(Duration::from_millis(1500));
        })
        .await;
    let attempts = Attempts::new();
    let client = common::client_with(&server.base_url(), attempts.clone(), |c| {
        c.timeout = Duration::from_millis(200);
        c.retry.max_attempts = 2;
    });
    let err = describe(&client).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(mock.calls_async().await, 2);
    assert_eq!(attempts.with_code("transport_timeout"), 2);
}

#[tokio::test]
async fn malformed_truncated_and_empty_answers_are_decode_errors() {
    for body in [
        "{\"Response\": {\"TotalCount\": 3, \"Certif",
        "",
        "<html>maintenance</html>",
        "{\"Response\": {\"TotalCount\": -5}}",
    ] {
        let server = MockServer::start_async().await;
        let mock = server
            .mock_async(|when, then| {
                when.method(POST);
                then.status(200).body(body);
            })
            .await;
        let err = describe(&common::client(&server.base_url(), Attempts::new()))
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Decode { .. }), "{body:?}: {err:?}");
        assert_eq!(err.code(), "decode_error");
        assert_eq!(
            mock.calls_async().await,
            3,
            "undecodable answers are retried"
        );
    }
}

#[tokio::test]
async fn oversized_answers_are_cut_off() {
    let server = MockServer::start_async().await;
    let huge = format!(
        "{{\"Response\": {{\"Padding\": \"{}\"}}}}",
        "x".repeat(100_000)
    );
    let mock = server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(200).body(huge.clone());
        })
        .await;
    let client = common::client_with(&server.base_url(), Attempts::new(), |c| {
        c.max_body_bytes = 10_000
    });
    let err = describe(&client).await.unwrap_err();
    assert!(
        matches!(err, ApiError::BodyTooLarge { limit: 10_000, .. }),
        "{err:?}"
    );
    assert_eq!(mock.calls_async().await, 1);
}

#[tokio::test]
async fn unreachable_endpoint_is_a_connect_error() {
    let port = common::free_port();
    let err = describe(&common::client(
        &format!("http://127.0.0.1:{port}"),
        Attempts::new(),
    ))
    .await
    .unwrap_err();
    assert_eq!(err.code(), "transport_connect", "{err:?}");
}

#[tokio::test]
async fn errors_never_contain_the_secret_key() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(200).json_body(json!({"Response": {"Error": {"Code": "AuthFailure.SecretIdNotFound", "Message": "no such id"}, "RequestId": "r"}}));
        })
        .await;
    let client = common::client(&server.base_url(), Attempts::new());
    let err = describe(&client).await.unwrap_err();
    for shown in [err.to_string(), format!("{err:?}"), format!("{client:?}")] {
        assert!(!shown.contains(common::SECRET_KEY), "{shown}");
    }
}

#[tokio::test]
async fn a_redirect_is_refused_not_followed_and_not_retried() {
    let elsewhere = MockServer::start_async().await;
    let stolen = elsewhere
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(ok_body());
        })
        .await;
    let server = MockServer::start_async().await;
    let target = format!("{}/collect?token=abc", elsewhere.base_url());
    let redirect = server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(302).header("Location", target.as_str());
        })
        .await;
    let attempts = Attempts::new();
    let config = tencentcloud_ssl_api::client::ClientConfig {
        endpoint: server.base_url(),
        ..Default::default()
    };
    let client = Client::new(
        "default",
        &config,
        common::credentials(Some("session-token-xyz")),
        attempts.clone(),
    )
    .expect("client");
    let err = describe(&client).await.unwrap_err();
    match &err {
        ApiError::Redirect {
            status, location, ..
        } => {
            assert_eq!(*status, 302);
            assert_eq!(location, &format!("{}/collect", elsewhere.base_url()));
        }
        other => panic!("expected a refused redirect, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains("302") && shown.contains("/collect"),
        "{shown}"
    );
    for secret in ["session-token-xyz", common::SECRET_KEY, "token=abc"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert_eq!(redirect.calls_async().await, 1, "not retried");
    assert_eq!(stolen.calls_async().await, 0, "not followed");
    assert_eq!(attempts.with_code("http_redirect"), 1);
}
