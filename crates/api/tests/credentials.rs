//! Every credentials source, against httpmock where it talks to a service.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use httpmock::prelude::*;
use serde_json::json;
use tencentcloud_ssl_api::credentials::Secret;
use tencentcloud_ssl_api::providers::{self as sources, Context};
use tencentcloud_ssl_api::providers::{CredentialsConfig, SecretSource};

fn unix_in(seconds: i64) -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
        + seconds
}

fn context(env: &[(&str, &str)]) -> Context {
    let map: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut ctx = Context::new("default", common::Attempts::new()).expect("context");
    ctx.env = Arc::new(move |name| map.get(name).cloned());
    ctx
}

fn temp_file(name: &str, content: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tencentcloud-ssl-creds-{}-{}",
        std::process::id(),
        name
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write");
    path
}

#[tokio::test]
async fn environment_variables() {
    let ctx = context(&[
        ("TENCENTCLOUD_SECRET_ID", "AKIDenv"),
        ("TENCENTCLOUD_SECRET_KEY", "env-key"),
        ("TENCENTCLOUD_SECURITY_TOKEN", "env-token"),
    ]);
    let provider = sources::build(&CredentialsConfig::Environment, &ctx).expect("built");
    let creds = provider.credentials().await.expect("credentials");
    assert_eq!(creds.secret_id.as_str(), "AKIDenv");
    assert_eq!(creds.secret_key.expose(), "env-key");
    assert_eq!(creds.token.as_ref().map(Secret::expose), Some("env-token"));
}

#[tokio::test]
async fn static_values_and_mounted_secret_files() {
    let key_file = temp_file("secret-key", "file-key\n");
    let config = CredentialsConfig::Static {
        secret_id: SecretSource::Inline(Secret::new("AKIDstatic")),
        secret_key: SecretSource::File(key_file.clone()),
        token: None,
    };
    let provider = sources::build(&config, &context(&[])).expect("built");
    let creds = provider.credentials().await.expect("credentials");
    assert_eq!(
        creds.secret_key.expose(),
        "file-key",
        "trimmed file content"
    );
    std::fs::remove_file(&key_file).expect("remove");
    let missing = sources::build(&config, &context(&[]))
        .expect("built")
        .credentials()
        .await
        .unwrap_err();
    assert!(
        missing.to_string().contains("secret-key"),
        "names the file: {missing}"
    );
}

#[tokio::test]
async fn profile_file_named_section() {
    let file = temp_file(
        "credentials",
        "[default]\nsecret_id = AKIDdefault\nsecret_key = default-key\n\n# staging\n[staging]\nsecret_id = AKIDstaging\nsecret_key = staging-key\ntoken = t\n",
    );
    for (profile, id) in [("default", "AKIDdefault"), ("staging", "AKIDstaging")] {
        let config = CredentialsConfig::Profile {
            profile: profile.to_string(),
            file: Some(file.clone()),
        };
        let creds = sources::build(&config, &context(&[]))
            .expect("built")
            .credentials()
            .await
            .expect("credentials");
        assert_eq!(creds.secret_id.as_str(), id);
    }
    let absent = CredentialsConfig::Profile {
        profile: "nope".to_string(),
        file: Some(file.clone()),
    };
    let err = sources::build(&absent, &context(&[]))
        .expect("built")
        .credentials()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("[nope]"), "{err}");
    // The SDK's search order: TENCENTCLOUD_CREDENTIALS_FILE first.
    let ctx = context(&[(
        "TENCENTCLOUD_CREDENTIALS_FILE",
        file.to_str().expect("utf8"),
    )]);
    let default = CredentialsConfig::Profile {
        profile: "default".to_string(),
        file: None,
    };
    let creds = sources::build(&default, &ctx)
        .expect("built")
        .credentials()
        .await
        .expect("credentials");
    assert_eq!(creds.secret_id.as_str(), "AKIDdefault");
}

#[tokio::test]
async fn cvm_role_from_the_metadata_service_is_cached_until_near_expiry() {
    let server = MockServer::start_async().await;
    let role = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/latest/meta-data/cam/security-credentials/");
            then.status(200).body("ssl-exporter-role");
        })
        .await;
    let creds = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/latest/meta-data/cam/security-credentials/ssl-exporter-role");
            then.status(200).json_body(json!({
                "TmpSecretId": "AKIDtmp", "TmpSecretKey": "tmp-key", "Token": "tmp-token",
                "ExpiredTime": unix_in(3600), "Expiration": "later", "Code": "Success"
            }));
        })
        .await;
    let config = CredentialsConfig::CvmRole {
        role_name: None,
        metadata_endpoint: server.base_url(),
    };
    let provider = sources::build(&config, &context(&[])).expect("built");
    for _ in 0..3 {
        let c = provider.credentials().await.expect("credentials");
        assert_eq!(c.secret_id.as_str(), "AKIDtmp");
        assert_eq!(c.token.as_ref().map(Secret::expose), Some("tmp-token"));
    }
    assert_eq!(role.calls_async().await, 1, "cached while valid");
    assert_eq!(creds.calls_async().await, 1);
}

#[tokio::test]
async fn cvm_role_expiring_soon_is_not_fetched_on_every_call() {
    let server = MockServer::start_async().await;
    let creds = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/latest/meta-data/cam/security-credentials/named");
            then.status(200).json_body(json!({
                "TmpSecretId": "AKIDtmp", "TmpSecretKey": "tmp-key", "Token": "tmp-token",
                "ExpiredTime": unix_in(60)
            }));
        })
        .await;
    let config = CredentialsConfig::CvmRole {
        role_name: Some("named".to_string()),
        metadata_endpoint: server.base_url(),
    };
    let provider = sources::build(&config, &context(&[])).expect("built");
    provider.credentials().await.expect("first");
    for _ in 0..10 {
        provider.credentials().await.expect("still valid");
    }
    // Within the refresh margin but still valid: fetched again at most once per retry interval
    // (`refresh::RETRY_AFTER`), not on every call.
    assert_eq!(
        creds.calls_async().await,
        1,
        "a near-expiry credential is not fetched on every call"
    );
}

#[tokio::test]
async fn cvm_role_redirects_are_refused_not_followed() {
    let elsewhere = MockServer::start_async().await;
    let stolen = elsewhere
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(json!({
                "TmpSecretId": "AKIDstolen", "TmpSecretKey": "k", "Token": "t",
                "ExpiredTime": unix_in(3600)
            }));
        })
        .await;
    let server = MockServer::start_async().await;
    let target = format!(
        "{}/latest/meta-data/cam/security-credentials/named",
        elsewhere.base_url()
    );
    server
        .mock_async(|when, then| {
            when.method(GET);
            then.status(302).header("Location", target.as_str());
        })
        .await;
    let config = CredentialsConfig::CvmRole {
        role_name: Some("named".to_string()),
        metadata_endpoint: server.base_url(),
    };
    let provider = sources::build(&config, &context(&[])).expect("built");
    let err = provider.credentials().await.unwrap_err();
    match &err {
        tencentcloud_ssl_api::credentials::CredentialsError::Redirected {
            status,
            location,
            ..
        } => {
            assert_eq!(*status, 302);
            assert_eq!(location, &target);
        }
        other => panic!("expected a refused redirect, got {other:?}"),
    }
    assert_eq!(stolen.calls_async().await, 0, "not followed");
}

#[tokio::test]
async fn oidc_redirects_are_refused_not_followed() {
    let elsewhere = MockServer::start_async().await;
    let stolen = elsewhere
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).body("{}");
        })
        .await;
    let server = MockServer::start_async().await;
    let target = elsewhere.base_url();
    server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(307).header("Location", target.as_str());
        })
        .await;
    let token_file = temp_file("oidc-redirect-token", "projected-token");
    let config = CredentialsConfig::Oidc {
        provider_id: Some("p".to_string()),
        token_file: Some(token_file),
        role_arn: Some("qcs::cam::uin/1:roleName/r".to_string()),
        region: Some("ap-guangzhou".to_string()),
        session_name: "s".to_string(),
        duration: Duration::from_secs(3600),
        sts_endpoint: server.base_url(),
    };
    let provider = sources::build(&config, &context(&[])).expect("built");
    let err = provider.credentials().await.unwrap_err();
    assert!(
        matches!(
            err,
            tencentcloud_ssl_api::credentials::CredentialsError::Redirected { status: 307, .. }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("projected-token"), "{err}");
    assert_eq!(stolen.calls_async().await, 0, "not followed");
}

/// `AssumeRole` of `role_arn` at the mock STS, with base credentials from the environment.
fn assume_role(server: &MockServer, role_arn: &str, seconds: u64) -> (CredentialsConfig, Context) {
    let config = CredentialsConfig::AssumeRole {
        role_arn: role_arn.to_string(),
        session_name: "s".to_string(),
        duration: Duration::from_secs(seconds),
        region: "ap-guangzhou".to_string(),
        sts_endpoint: server.base_url(),
        base: Box::new(CredentialsConfig::Environment),
    };
    let ctx = context(&[
        ("TENCENTCLOUD_SECRET_ID", "AKIDbase"),
        ("TENCENTCLOUD_SECRET_KEY", "base-key"),
    ]);
    (config, ctx)
}

#[tokio::test]
async fn assume_role_signs_with_the_base_credentials() {
    let server = MockServer::start_async().await;
    let sts = server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "AssumeRole")
                .header("x-tc-version", "2018-08-13")
                .header("x-tc-region", "ap-guangzhou")
                .is_true(|req| {
                    req.headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|a| a.contains("Credential=AKIDbase/") && a.contains("/sts/tc3_request"))
                })
                .json_body_includes(r#"{"RoleArn": "qcs::cam::uin/100000000001:roleName/r", "RoleSessionName": "s", "DurationSeconds": 1800}"#);
            then.status(200).json_body(json!({"Response": {
                "Credentials": {"Token": "sts-token", "TmpSecretId": "AKIDsts", "TmpSecretKey": "sts-key"},
                "ExpiredTime": unix_in(1800), "Expiration": "later", "RequestId": "r"}}));
        })
        .await;
    let (config, ctx) = assume_role(&server, "qcs::cam::uin/100000000001:roleName/r", 1800);
    let provider = sources::build(&config, &ctx).expect("built");
    let creds = provider.credentials().await.expect("credentials");
    assert_eq!(creds.secret_id.as_str(), "AKIDsts");
    assert_eq!(creds.token.as_ref().map(Secret::expose), Some("sts-token"));
    provider.credentials().await.expect("cached");
    assert_eq!(sts.calls_async().await, 1);
}

#[tokio::test]
async fn assume_role_errors_keep_the_sts_code() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(200).json_body(json!({"Response": {"Error": {"Code": "AuthFailure.UnauthorizedOperation", "Message": "not allowed"}, "RequestId": "r"}}));
        })
        .await;
    let (config, ctx) = assume_role(&server, "qcs::cam::uin/1:roleName/r", 3600);
    let err = sources::build(&config, &ctx)
        .expect("built")
        .credentials()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("AuthFailure.UnauthorizedOperation"),
        "{err}"
    );
    assert!(!err.to_string().contains("base-key"));
}

#[tokio::test]
async fn tke_oidc_uses_the_projected_token_and_tke_variables() {
    let server = MockServer::start_async().await;
    let token_file = temp_file("token", "eyJ.projected.token\n");
    let sts = server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "AssumeRoleWithWebIdentity")
                .header("x-tc-version", "2018-08-13")
                .header("x-tc-region", "ap-shanghai")
                .header("authorization", "SKIP")
                .json_body_includes(r#"{"ProviderId": "provider-1", "WebIdentityToken": "eyJ.projected.token", "RoleArn": "qcs::cam::uin/1:roleName/tke"}"#);
            then.status(200).json_body(json!({"Response": {
                "Credentials": {"Token": "oidc-token", "TmpSecretId": "AKIDoidc", "TmpSecretKey": "oidc-key"},
                "ExpiredTime": unix_in(3600), "RequestId": "r"}}));
        })
        .await;
    let config = CredentialsConfig::tke_oidc_from_environment(&server.base_url());
    let ctx = context(&[
        ("TKE_PROVIDER_ID", "provider-1"),
        (
            "TKE_WEB_IDENTITY_TOKEN_FILE",
            token_file.to_str().expect("utf8"),
        ),
        ("TKE_ROLE_ARN", "qcs::cam::uin/1:roleName/tke"),
        ("TKE_REGION", "ap-shanghai"),
    ]);
    let creds = sources::build(&config, &ctx)
        .expect("built")
        .credentials()
        .await
        .expect("credentials");
    assert_eq!(creds.secret_id.as_str(), "AKIDoidc");
    assert_eq!(sts.calls_async().await, 1);
    let missing = sources::build(&config, &context(&[])).expect_err("TKE variables required");
    assert!(missing.to_string().contains("TKE_PROVIDER_ID"), "{missing}");
}

/// The SecretId the chain resolves to in `ctx`.
async fn chain_secret_id(ctx: &Context) -> String {
    let provider = sources::build_resolved(&CredentialsConfig::Chain, ctx)
        .await
        .expect("resolved");
    let credentials = provider.credentials().await.expect("credentials");
    credentials.secret_id.as_str().to_string()
}

#[tokio::test]
async fn chain_prefers_environment_then_profile() {
    let env_ctx = context(&[
        ("TENCENTCLOUD_SECRET_ID", "AKIDenv"),
        ("TENCENTCLOUD_SECRET_KEY", "k"),
    ]);
    assert_eq!(chain_secret_id(&env_ctx).await, "AKIDenv");
    let file = temp_file(
        "chain-credentials",
        "[default]\nsecret_id = AKIDprofile\nsecret_key = k\n",
    );
    let profile_ctx = context(&[(
        "TENCENTCLOUD_CREDENTIALS_FILE",
        file.to_str().expect("utf8"),
    )]);
    assert_eq!(chain_secret_id(&profile_ctx).await, "AKIDprofile");
}

#[tokio::test]
async fn chain_falls_back_to_the_cvm_role_and_reports_what_it_tried() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/latest/meta-data/cam/security-credentials/");
            then.status(404);
        })
        .await;
    let ctx = context(&[("TENCENTCLOUD_METADATA_ENDPOINT", &server.base_url())]);
    let err = sources::build_resolved(&CredentialsConfig::Chain, &ctx)
        .await
        .expect_err("nothing found");
    let shown = err.to_string();
    assert!(
        shown.contains("environment") && shown.contains("CVM role"),
        "{shown}"
    );
    assert!(shown.contains("TENCENTCLOUD_SECRET_ID"), "{shown}");
}
