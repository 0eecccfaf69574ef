//! TC3-HMAC-SHA256 request signing (Tencent Cloud API 3.0), as a pure function.
//!
//! The signature covers the method, path, the `content-type` and `host` headers and the SHA-256 of
//! the exact body bytes, scoped to the UTC date of the request timestamp and the service name. The
//! action is not signed with `SignedHeaders=content-type;host`; it travels in `X-TC-Action`.
//! Nothing here reads a clock or the environment, so the same inputs always give the same header,
//! which is what lets the tests pin it to the official SDK's vectors.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::time;

/// The only algorithm API 3.0 accepts for HMAC-SHA256 signing.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
/// Headers included in the signature, in canonical (sorted, lower-case) order.
pub const SIGNED_HEADERS: &str = "content-type;host";

/// Everything the signature depends on. Borrowed so signing never copies a secret.
#[derive(Clone, Copy)]
pub struct SigningInput<'a> {
    /// `SecretId`: appears in clear in the `Authorization` header.
    pub secret_id: &'a str,
    /// `SecretKey`: only ever used as HMAC key material.
    pub secret_key: &'a str,
    /// Unix seconds, also sent as `X-TC-Timestamp`; the server rejects a skew over 5 minutes.
    pub timestamp: i64,
    /// The `Host` header actually sent (with `:port` when the port is not the scheme default).
    pub host: &'a str,
    /// Service name, `ssl` for this exporter; part of the credential scope.
    pub service: &'a str,
    /// The `Content-Type` header actually sent.
    pub content_type: &'a str,
    /// The exact body bytes sent: the signature hashes them, so re-serialising would break it.
    pub payload: &'a [u8],
}

impl std::fmt::Debug for SigningInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningInput")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"<redacted>")
            .field("timestamp", &self.timestamp)
            .field("host", &self.host)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// The result of signing one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `YYYY-MM-DD/service/tc3_request`.
    pub credential_scope: String,
    /// Lower-case hex HMAC of the string to sign.
    pub signature: String,
    /// The complete `Authorization` header value.
    pub authorization: String,
}

type HmacSha256 = Hmac<Sha256>;

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // `new_from_slice` accepts keys of any length for HMAC; the error arm is unreachable in
    // practice but handled rather than unwrapped.
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(msg);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0u8; 32],
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The canonical request: method, URI, query, canonical headers, signed headers, payload hash.
pub fn canonical_request(input: &SigningInput<'_>) -> String {
    format!(
        "POST\n/\n\ncontent-type:{}\nhost:{}\n\n{}\n{}",
        input.content_type.trim().to_ascii_lowercase(),
        input.host.trim().to_ascii_lowercase(),
        SIGNED_HEADERS,
        sha256_hex(input.payload)
    )
}

/// Signs one request. Pure: same input, same output.
pub fn sign(input: &SigningInput<'_>) -> Signed {
    let date = time::utc_date(input.timestamp);
    let credential_scope = format!("{date}/{}/tc3_request", input.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{credential_scope}\n{}",
        input.timestamp,
        sha256_hex(canonical_request(input).as_bytes())
    );
    let secret_date = hmac_sha256(
        format!("TC3{}", input.secret_key).as_bytes(),
        date.as_bytes(),
    );
    let secret_service = hmac_sha256(&secret_date, input.service.as_bytes());
    let secret_signing = hmac_sha256(&secret_service, b"tc3_request");
    let signature = hex::encode(hmac_sha256(&secret_signing, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{credential_scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}",
        input.secret_id
    );
    Signed {
        credential_scope,
        signature,
        authorization,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(payload: &'a str) -> SigningInput<'a> {
        SigningInput {
            secret_id: "AKIDEXAMPLEEXAMPLEEXAMPLEEXAMPLE0001",
            secret_key: "ExampleSecretKeyExampleSecretKey",
            timestamp: 1_700_000_000,
            host: "ssl.tencentcloudapi.com",
            service: "ssl",
            content_type: "application/json",
            payload: payload.as_bytes(),
        }
    }

    #[test]
    fn official_sdk_vector_python_spacing() {
        let signed = sign(&input(r#"{"Offset": 0, "Limit": 100}"#));
        assert_eq!(signed.credential_scope, "2023-11-14/ssl/tc3_request");
        assert_eq!(
            signed.signature,
            "5cc8f59d54fdf1d4b9f4ee736d9711f448de0dcf328a12a7cc2b98c8aedd2610"
        );
        assert_eq!(
            signed.authorization,
            "TC3-HMAC-SHA256 Credential=AKIDEXAMPLEEXAMPLEEXAMPLEEXAMPLE0001/2023-11-14/ssl/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=5cc8f59d54fdf1d4b9f4ee736d9711f448de0dcf328a12a7cc2b98c8aedd2610"
        );
    }

    #[test]
    fn official_sdk_vector_compact_body() {
        let signed = sign(&input(r#"{"Limit":100,"Offset":0}"#));
        assert_eq!(
            signed.signature,
            "c30965ccdda09f117b2a28b384f286a971a84c4ae24497b968be1488abadbdf4"
        );
    }

    #[test]
    fn intermediate_canonical_request_matches_sdk() {
        let canonical = canonical_request(&input(r#"{"Offset": 0, "Limit": 100}"#));
        assert_eq!(
            canonical,
            "POST\n/\n\ncontent-type:application/json\nhost:ssl.tencentcloudapi.com\n\n\
             content-type;host\naff87ab028f0ef26d7b5fdf24cfb49c7b488c0c67caddbb9bc2e0aea92c308cb"
        );
    }

    #[test]
    fn intl_vector_with_unicode_escapes() {
        let payload =
            r#"{"Limit": 10, "Offset": 20, "ExpirationSort": "ASC", "SearchKey": "\u6d4b\u8bd5"}"#;
        let signed = sign(&SigningInput {
            secret_id: "AKIDtestSecretId123456",
            secret_key: "testSecretKey654321",
            timestamp: 1_735_689_599,
            host: "ssl.intl.tencentcloudapi.com",
            service: "ssl",
            content_type: "application/json",
            payload: payload.as_bytes(),
        });
        assert_eq!(signed.credential_scope, "2024-12-31/ssl/tc3_request");
        assert_eq!(
            signed.signature,
            "ea22d8210f3076528b3d7571881ff8833a6f35ab3139725cfce88bf8b1483340"
        );
    }

    #[test]
    fn date_boundary_and_empty_object() {
        let base = SigningInput {
            secret_id: "AKIDboundary",
            secret_key: "boundaryKey",
            timestamp: 1_704_067_199,
            host: "ssl.tencentcloudapi.com",
            service: "ssl",
            content_type: "application/json",
            payload: br#"{"CertificateId": "abcd1234"}"#,
        };
        let last_second_of_2023 = sign(&base);
        assert_eq!(
            last_second_of_2023.credential_scope,
            "2023-12-31/ssl/tc3_request"
        );
        assert_eq!(
            last_second_of_2023.signature,
            "5a566d2f2d5d78235602a0c4f9421b9d70608ab595eaa36f41b0fb7095f28881"
        );
        let first_second_of_2024 = sign(&SigningInput {
            timestamp: 1_704_067_200,
            payload: b"{}",
            ..base
        });
        assert_eq!(
            first_second_of_2024.credential_scope,
            "2024-01-01/ssl/tc3_request"
        );
        assert_eq!(
            first_second_of_2024.signature,
            "f7ad894c4fbfd42636f9df9e9948b0b7037e020714ad69ca9c3601e7f0de7869"
        );
    }

    #[test]
    fn official_doc_example_with_charset_content_type() {
        let payload = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let signed = sign(&SigningInput {
            secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            secret_key: "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
            timestamp: 1_551_113_065,
            host: "cvm.tencentcloudapi.com",
            service: "cvm",
            content_type: "application/json; charset=utf-8",
            payload: payload.as_bytes(),
        });
        assert_eq!(
            signed.signature,
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let rendered = format!("{:?}", input("{}"));
        assert!(!rendered.contains("ExampleSecretKeyExampleSecretKey"));
    }
}
