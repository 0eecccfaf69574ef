//! The credential sources: environment, static values or files, profile files, the CVM
//! instance role, STS `AssumeRole` and TKE OIDC (`AssumeRoleWithWebIdentity`), and the chain that
//! tries them in the Tencent Cloud SDK order.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;

use crate::client::{
    http_builder, parse_response, refused_location, Client, ClientBuildError, ClientConfig,
    Observer,
};
use crate::credentials::refresh::Refreshing;
use crate::credentials::{
    from_env, warn_if_readable_by_others, Credentials, CredentialsError, MaskedId,
    ProvideCredentials, Secret, StaticCredentials,
};
use crate::de;

/// A secret given inline or as a file to read (a mounted Kubernetes secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The value itself.
    Inline(Secret),
    /// A file whose trimmed content is the value, re-read every minute so rotations are seen.
    File(PathBuf),
}

/// Where an account's credentials come from.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialsConfig {
    /// The Tencent Cloud SDK sources in the order [`Chain`] tries them: environment, profile
    /// file, TKE OIDC, CVM role.
    Chain,
    /// `TENCENTCLOUD_SECRET_ID`, `TENCENTCLOUD_SECRET_KEY`, `TENCENTCLOUD_SECURITY_TOKEN`.
    Environment,
    /// Values in the file, or files to read them from.
    Static {
        /// The `SecretId`.
        secret_id: SecretSource,
        /// The `SecretKey`.
        secret_key: SecretSource,
        /// Session token (`X-TC-Token`) of temporary credentials, if any.
        token: Option<SecretSource>,
    },
    /// An INI profile file (`~/.tencentcloud/credentials` and friends).
    Profile {
        /// The `[section]` to read.
        profile: String,
        /// The file; `None` means the SDKs' default ([`default_profile_file`]).
        file: Option<PathBuf>,
    },
    /// The CVM instance role from the metadata service.
    CvmRole {
        /// The CAM role; `None` means the role bound to the instance, as the metadata service
        /// lists it.
        role_name: Option<String>,
        /// Base URL of the metadata service ([`DEFAULT_METADATA_ENDPOINT`]).
        metadata_endpoint: String,
    },
    /// STS `AssumeRole` with base credentials.
    AssumeRole {
        /// The role to assume (`RoleArn`, `qcs::cam::uin/…:roleName/…`).
        role_arn: String,
        /// `RoleSessionName` of the temporary credentials.
        session_name: String,
        /// Lifetime of the temporary credentials (`DurationSeconds`).
        duration: Duration,
        /// `X-TC-Region` of the STS calls.
        region: String,
        /// URL of the STS endpoint ([`DEFAULT_STS_ENDPOINT`]).
        sts_endpoint: String,
        /// The credentials that sign the `AssumeRole` calls.
        base: Box<CredentialsConfig>,
    },
    /// TKE OIDC: STS `AssumeRoleWithWebIdentity`; unset fields come from `TKE_*` variables.
    Oidc {
        /// The OIDC identity provider (`ProviderId`); `None` reads `TKE_PROVIDER_ID`.
        provider_id: Option<String>,
        /// The projected service-account token; `None` reads `TKE_WEB_IDENTITY_TOKEN_FILE`.
        token_file: Option<PathBuf>,
        /// The role to assume (`RoleArn`); `None` reads `TKE_ROLE_ARN`.
        role_arn: Option<String>,
        /// `X-TC-Region` of the STS call; `None` reads `TKE_REGION`.
        region: Option<String>,
        /// `RoleSessionName` of the temporary credentials.
        session_name: String,
        /// Lifetime of the temporary credentials (`DurationSeconds`).
        duration: Duration,
        /// URL of the STS endpoint ([`DEFAULT_STS_ENDPOINT`]).
        sts_endpoint: String,
    },
}

/// Default STS endpoint (mainland).
pub const DEFAULT_STS_ENDPOINT: &str = "https://sts.tencentcloudapi.com";
/// Default CVM metadata service.
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://metadata.tencentyun.com";

impl CredentialsConfig {
    /// TKE OIDC with every setting from the `TKE_*` variables, one-hour sessions and the default
    /// STS endpoint.
    pub fn tke_oidc_from_environment(sts_endpoint: &str) -> CredentialsConfig {
        CredentialsConfig::Oidc {
            provider_id: None,
            token_file: None,
            role_arn: None,
            region: None,
            session_name: "tencentcloud-ssl-exporter".to_string(),
            duration: Duration::from_secs(3600),
            sts_endpoint: sts_endpoint.to_string(),
        }
    }

    /// The source's name as the file spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialsConfig::Chain => "chain",
            CredentialsConfig::Environment => "environment",
            CredentialsConfig::Static { .. } => "static",
            CredentialsConfig::Profile { .. } => "profile",
            CredentialsConfig::CvmRole { .. } => "cvm_role",
            CredentialsConfig::AssumeRole { .. } => "assume_role",
            CredentialsConfig::Oidc { .. } => "oidc",
        }
    }
}

/// STS API version for `AssumeRole` and `AssumeRoleWithWebIdentity`.
const STS_VERSION: &str = "2018-08-13";
/// File-based credentials are re-read this often, so rotated Kubernetes secrets are picked up.
const FILE_REREAD: Duration = Duration::from_secs(60);
/// Temporary credentials are refreshed this long before they expire.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

fn provider_error(message: impl Into<String>) -> CredentialsError {
    CredentialsError::Provider(message.into())
}

/// Reads a secret file; the error names the file, never its content.
pub fn read_secret_file(path: &Path) -> Result<Secret, CredentialsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| provider_error(format!("reading {}: {e}", path.display())))?;
    let value = text.trim();
    if value.is_empty() {
        return Err(provider_error(format!("{} is empty", path.display())));
    }
    Ok(Secret::new(value))
}

/// The secret a configuration names, inline or in a file.
fn read_secret(source: &SecretSource) -> Result<Secret, CredentialsError> {
    match source {
        SecretSource::Inline(secret) => Ok(secret.clone()),
        SecretSource::File(path) => read_secret_file(path),
    }
}

/// The redirect error of a 3xx answer from `service`, or `None` for any other answer.
fn refuse_redirect(
    service: &'static str,
    response: &reqwest::Response,
) -> Option<CredentialsError> {
    response
        .status()
        .is_redirection()
        .then(|| CredentialsError::Redirected {
            service,
            status: response.status().as_u16(),
            location: refused_location(response.headers()),
        })
}

fn unix_to_system_time(unix: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64)
}

fn later(d: Duration) -> SystemTime {
    SystemTime::now() + d
}

/// An INI profile: `[name]` sections of `secret_id`, `secret_key` and optional `token`.
pub fn parse_profile(text: &str, profile: &str) -> Result<Credentials, String> {
    let mut in_section = false;
    let (mut id, mut key, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = name.trim() == profile;
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().trim_matches('"').to_string();
            match k.trim() {
                "secret_id" => id = Some(v),
                "secret_key" => key = Some(v),
                "token" => token = Some(v),
                _ => {}
            }
        }
    }
    match (id, key) {
        (Some(id), Some(key)) if !id.is_empty() && !key.is_empty() => Ok(Credentials {
            secret_id: MaskedId::new(id),
            secret_key: Secret::new(key),
            token: token.filter(|t| !t.is_empty()).map(Secret::new),
        }),
        _ => Err(format!(
            "profile [{profile}] has no secret_id and secret_key"
        )),
    }
}

/// The profile file the SDKs would read: `TENCENTCLOUD_CREDENTIALS_FILE`, then
/// `~/.tencentcloud/credentials`, then `/etc/tencentcloud/credentials`.
pub fn default_profile_file(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(file) = env("TENCENTCLOUD_CREDENTIALS_FILE") {
        candidates.push(PathBuf::from(file));
    }
    if let Some(home) = env("HOME") {
        candidates.push(PathBuf::from(home).join(".tencentcloud/credentials"));
    }
    candidates.push(PathBuf::from("/etc/tencentcloud/credentials"));
    candidates.into_iter().find(|p| p.is_file())
}

fn profile_provider(profile: String, file: PathBuf) -> Refreshing {
    warn_if_readable_by_others(&file, "the credentials profile file");
    Refreshing::new(
        "profile",
        Duration::ZERO,
        Box::new(move || {
            let (profile, file) = (profile.clone(), file.clone());
            Box::pin(async move {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| provider_error(format!("reading {}: {e}", file.display())))?;
                let credentials = parse_profile(&text, &profile)
                    .map_err(|e| provider_error(format!("{}: {e}", file.display())))?;
                Ok((credentials, later(FILE_REREAD)))
            })
        }),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleCredentials {
    tmp_secret_id: String,
    tmp_secret_key: String,
    token: String,
    #[serde(deserialize_with = "de::count")]
    expired_time: u64,
}

/// Fetches the CVM instance role's temporary credentials from the metadata service.
pub async fn fetch_cvm_role(
    http: &reqwest::Client,
    endpoint: &str,
    role_name: Option<&str>,
) -> Result<(Credentials, SystemTime), CredentialsError> {
    let base = format!(
        "{}/latest/meta-data/cam/security-credentials/",
        endpoint.trim_end_matches('/')
    );
    let get = |url: String| async move {
        let response = http
            .get(&url)
            .send()
            .await
            .map_err(|e| provider_error(format!("metadata service: {e}")))?;
        if let Some(refused) = refuse_redirect("metadata service", &response) {
            return Err(refused);
        }
        if !response.status().is_success() {
            return Err(provider_error(format!(
                "metadata service answered {} for {url}",
                response.status()
            )));
        }
        response
            .text()
            .await
            .map_err(|e| provider_error(format!("metadata service: {e}")))
    };
    let role = match role_name {
        Some(role) => role.to_string(),
        None => get(base.clone())
            .await?
            .lines()
            .next()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| provider_error("no CAM role is bound to this instance"))?
            .to_string(),
    };
    let text = get(format!("{base}{role}")).await?;
    let parsed: RoleCredentials = serde_json::from_str(&text).map_err(|e| {
        provider_error(format!(
            "metadata service: undecodable role credentials: {e}"
        ))
    })?;
    Ok((
        Credentials {
            secret_id: MaskedId::new(parsed.tmp_secret_id),
            secret_key: Secret::new(parsed.tmp_secret_key),
            token: Some(Secret::new(parsed.token)),
        },
        unix_to_system_time(parsed.expired_time as i64),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsCredentials {
    token: String,
    tmp_secret_id: String,
    tmp_secret_key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsResponse {
    credentials: StsCredentials,
    #[serde(deserialize_with = "de::count")]
    expired_time: u64,
}

impl StsResponse {
    fn into_credentials(self) -> (Credentials, SystemTime) {
        (
            Credentials {
                secret_id: MaskedId::new(self.credentials.tmp_secret_id),
                secret_key: Secret::new(self.credentials.tmp_secret_key),
                token: Some(Secret::new(self.credentials.token)),
            },
            unix_to_system_time(self.expired_time as i64),
        )
    }
}

/// STS `AssumeRole`, signed with the base credentials.
pub async fn assume_role(
    sts: &Client,
    role_arn: &str,
    session_name: &str,
    duration: Duration,
) -> Result<(Credentials, SystemTime), CredentialsError> {
    let request = json!({
        "RoleArn": role_arn,
        "RoleSessionName": session_name,
        "DurationSeconds": duration.as_secs(),
    });
    let response: StsResponse = sts
        .call("AssumeRole", &request)
        .await
        .map_err(|e| provider_error(format!("STS AssumeRole: {e}")))?;
    Ok(response.into_credentials())
}

/// Settings of TKE OIDC after filling in the `TKE_*` variables.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The OIDC identity provider (`ProviderId`).
    pub provider_id: String,
    /// The projected service-account token, read afresh for every call (`WebIdentityToken`).
    pub token_file: PathBuf,
    /// The role to assume (`RoleArn`).
    pub role_arn: String,
    /// `X-TC-Region` of the STS call.
    pub region: String,
    /// `RoleSessionName` of the temporary credentials.
    pub session_name: String,
    /// Lifetime of the temporary credentials (`DurationSeconds`).
    pub duration: Duration,
    /// URL of the STS endpoint.
    pub sts_endpoint: String,
}

/// STS `AssumeRoleWithWebIdentity` with the projected service-account token (not signed: the
/// token is the proof).
pub async fn assume_role_with_web_identity(
    http: &reqwest::Client,
    settings: &OidcSettings,
) -> Result<(Credentials, SystemTime), CredentialsError> {
    let token = read_secret_file(&settings.token_file)?;
    let body = json!({
        "ProviderId": settings.provider_id,
        "WebIdentityToken": token.expose(),
        "RoleArn": settings.role_arn,
        "RoleSessionName": settings.session_name,
        "DurationSeconds": settings.duration.as_secs(),
    });
    let timestamp = crate::time::now_unix();
    let response = http
        .post(&settings.sts_endpoint)
        .header("Content-Type", "application/json")
        .header("X-TC-Action", "AssumeRoleWithWebIdentity")
        .header("X-TC-Version", STS_VERSION)
        .header("X-TC-Region", &settings.region)
        .header("X-TC-Timestamp", timestamp.to_string())
        .header("Authorization", "SKIP")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| provider_error(format!("STS AssumeRoleWithWebIdentity: {e}")))?;
    if let Some(refused) = refuse_redirect("STS AssumeRoleWithWebIdentity", &response) {
        return Err(refused);
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| provider_error(format!("STS AssumeRoleWithWebIdentity: {e}")))?;
    let parsed: StsResponse = parse_response("AssumeRoleWithWebIdentity", &bytes)
        .map_err(|e| provider_error(format!("STS {e}")))?;
    Ok(parsed.into_credentials())
}

/// Fills unset OIDC fields from `TKE_PROVIDER_ID`, `TKE_WEB_IDENTITY_TOKEN_FILE`,
/// `TKE_ROLE_ARN` and `TKE_REGION`.
pub fn oidc_settings(
    config: &CredentialsConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<OidcSettings, CredentialsError> {
    let CredentialsConfig::Oidc {
        provider_id,
        token_file,
        role_arn,
        region,
        session_name,
        duration,
        sts_endpoint,
    } = config
    else {
        return Err(provider_error("not an OIDC configuration"));
    };
    let pick = |value: &Option<String>, var: &str| {
        value
            .clone()
            .or_else(|| env(var))
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| provider_error(format!("{var} is not set")))
    };
    Ok(OidcSettings {
        provider_id: pick(provider_id, "TKE_PROVIDER_ID")?,
        token_file: match token_file {
            Some(path) => path.clone(),
            None => PathBuf::from(pick(&None, "TKE_WEB_IDENTITY_TOKEN_FILE")?),
        },
        role_arn: pick(role_arn, "TKE_ROLE_ARN")?,
        region: pick(region, "TKE_REGION")?,
        session_name: session_name.clone(),
        duration: *duration,
        sts_endpoint: sts_endpoint.clone(),
    })
}

/// The `sts` client of `AssumeRole`, signed with `base`.
fn sts_client(
    account: &str,
    endpoint: &str,
    region: &str,
    base: Arc<dyn ProvideCredentials>,
    observer: Arc<dyn Observer>,
) -> Result<Client, CredentialsError> {
    let config = ClientConfig {
        endpoint: endpoint.to_string(),
        service: "sts".to_string(),
        version: STS_VERSION.to_string(),
        region: Some(region.to_string()),
        ..ClientConfig::default()
    };
    Client::new(account, &config, base, observer).map_err(|e| provider_error(e.to_string()))
}

/// Reads an environment variable (the process environment, or a map in tests).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Everything a provider may need from outside.
#[derive(Clone)]
pub struct Context {
    /// The account the credentials are for (the `account` label of the STS client's attempts).
    pub account: String,
    /// HTTP client of the metadata service and of `AssumeRoleWithWebIdentity`; one that follows
    /// no redirects ([`http_builder`]), as [`Context::new`] builds it.
    pub http: reqwest::Client,
    /// Sees every attempt of the STS client.
    pub observer: Arc<dyn Observer>,
    /// Environment variables.
    pub env: EnvLookup,
}

impl Context {
    /// The process environment and an HTTP client with short timeouts that follows no
    /// redirects.
    pub fn new(account: &str, observer: Arc<dyn Observer>) -> Result<Context, ClientBuildError> {
        let http = http_builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ClientBuildError::Http(e.to_string()))?;
        Ok(Context {
            account: account.to_string(),
            http,
            observer,
            env: Arc::new(|name| std::env::var(name).ok()),
        })
    }
}

/// Builds the provider a configuration describes.
pub fn build(
    config: &CredentialsConfig,
    ctx: &Context,
) -> Result<Arc<dyn ProvideCredentials>, CredentialsError> {
    let env = Arc::clone(&ctx.env);
    Ok(match config {
        CredentialsConfig::Chain => Arc::new(Chain::new(ctx.clone())),
        CredentialsConfig::Environment => Arc::new(StaticCredentials::new(from_env(|n| env(n))?)),
        CredentialsConfig::Static {
            secret_id,
            secret_key,
            token,
        } => {
            let (secret_id, secret_key, token) =
                (secret_id.clone(), secret_key.clone(), token.clone());
            for source in [Some(&secret_id), Some(&secret_key), token.as_ref()]
                .into_iter()
                .flatten()
            {
                if let SecretSource::File(path) = source {
                    warn_if_readable_by_others(path, "the secret file");
                }
            }
            Arc::new(Refreshing::new(
                "static",
                Duration::ZERO,
                Box::new(move || {
                    let resolved = read_secret(&secret_id).and_then(|id| {
                        Ok(Credentials {
                            secret_id: MaskedId::new(id.expose()),
                            secret_key: read_secret(&secret_key)?,
                            token: token.as_ref().map(read_secret).transpose()?,
                        })
                    });
                    Box::pin(async move { resolved.map(|c| (c, later(FILE_REREAD))) })
                }),
            ))
        }
        CredentialsConfig::Profile { profile, file } => {
            let file = match file {
                Some(file) => file.clone(),
                None => default_profile_file(&|n| env(n))
                    .ok_or_else(|| provider_error("no credentials profile file found"))?,
            };
            Arc::new(profile_provider(profile.clone(), file))
        }
        CredentialsConfig::CvmRole {
            role_name,
            metadata_endpoint,
        } => {
            let (http, endpoint, role) = (
                ctx.http.clone(),
                metadata_endpoint.clone(),
                role_name.clone(),
            );
            Arc::new(Refreshing::new(
                "cvm_role",
                EXPIRY_MARGIN,
                Box::new(move || {
                    let (http, endpoint, role) = (http.clone(), endpoint.clone(), role.clone());
                    Box::pin(async move { fetch_cvm_role(&http, &endpoint, role.as_deref()).await })
                }),
            ))
        }
        CredentialsConfig::AssumeRole {
            role_arn,
            session_name,
            duration,
            region,
            sts_endpoint,
            base,
        } => {
            let base = build(base, ctx)?;
            let sts = sts_client(
                &ctx.account,
                sts_endpoint,
                region,
                base,
                Arc::clone(&ctx.observer),
            )?;
            let (role_arn, session_name, duration) =
                (role_arn.clone(), session_name.clone(), *duration);
            Arc::new(Refreshing::new(
                "assume_role",
                EXPIRY_MARGIN,
                Box::new(move || {
                    let (sts, role_arn, session_name) =
                        (sts.clone(), role_arn.clone(), session_name.clone());
                    Box::pin(
                        async move { assume_role(&sts, &role_arn, &session_name, duration).await },
                    )
                }),
            ))
        }
        oidc @ CredentialsConfig::Oidc { .. } => {
            let settings = oidc_settings(oidc, &|n| env(n))?;
            let http = ctx.http.clone();
            Arc::new(Refreshing::new(
                "oidc",
                EXPIRY_MARGIN,
                Box::new(move || {
                    let (http, settings) = (http.clone(), settings.clone());
                    Box::pin(async move { assume_role_with_web_identity(&http, &settings).await })
                }),
            ))
        }
    })
}

/// The SDK's sources, tried in this order: environment, profile file, TKE OIDC (when both its
/// variables are set), CVM role (last: the only one that needs a network call to find out). The
/// first source that yields credentials is kept for the life of the process.
pub struct Chain {
    ctx: Context,
    chosen: tokio::sync::OnceCell<Arc<dyn ProvideCredentials>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("account", &self.ctx.account)
            .finish_non_exhaustive()
    }
}

impl Chain {
    /// A chain that picks its source on first use.
    pub fn new(ctx: Context) -> Self {
        Chain {
            ctx,
            chosen: tokio::sync::OnceCell::new(),
        }
    }

    async fn choose(&self) -> Result<Arc<dyn ProvideCredentials>, CredentialsError> {
        let env = Arc::clone(&self.ctx.env);
        let mut tried = Vec::new();
        if env("TENCENTCLOUD_SECRET_ID").is_some() {
            return build(&CredentialsConfig::Environment, &self.ctx);
        }
        tried.push("environment");
        if let Some(file) = default_profile_file(&|n| env(n)) {
            return Ok(Arc::new(profile_provider("default".to_string(), file)));
        }
        tried.push("profile file");
        if env("TKE_ROLE_ARN").is_some() && env("TKE_WEB_IDENTITY_TOKEN_FILE").is_some() {
            let oidc = CredentialsConfig::tke_oidc_from_environment(DEFAULT_STS_ENDPOINT);
            return build(&oidc, &self.ctx);
        }
        tried.push("TKE OIDC");
        let endpoint = env("TENCENTCLOUD_METADATA_ENDPOINT")
            .unwrap_or_else(|| DEFAULT_METADATA_ENDPOINT.to_string());
        let cvm = CredentialsConfig::CvmRole {
            role_name: None,
            metadata_endpoint: endpoint,
        };
        let provider = build(&cvm, &self.ctx)?;
        match provider.credentials().await {
            Ok(_) => Ok(provider),
            Err(e) => {
                tried.push("CVM role");
                Err(provider_error(format!(
                    "no credentials found (tried {}; last: {e}); set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY",
                    tried.join(", ")
                )))
            }
        }
    }
}

/// Builds a provider and, for the chain, picks its source now, so that an account with no
/// credentials anywhere is a start-up error rather than a silent failure later.
pub async fn build_resolved(
    config: &CredentialsConfig,
    ctx: &Context,
) -> Result<Arc<dyn ProvideCredentials>, CredentialsError> {
    if matches!(config, CredentialsConfig::Chain) {
        let chain = Chain::new(ctx.clone());
        chain.chosen.get_or_try_init(|| chain.choose()).await?;
        return Ok(Arc::new(chain));
    }
    build(config, ctx)
}

impl ProvideCredentials for Chain {
    fn credentials(&self) -> BoxFuture<'_, Result<Arc<Credentials>, CredentialsError>> {
        Box::pin(async move {
            let provider = self.chosen.get_or_try_init(|| self.choose()).await?;
            provider.credentials().await
        })
    }
}
