use std::time::Duration;

use clap::Parser;

use super::*;
use crate::cli::Cli;

fn cli() -> Defaults {
    Cli::try_parse_from(["x"])
        .expect("defaults")
        .config_defaults()
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, &cli())
}

fn place_of(text: &str) -> String {
    parse(text).expect_err(text).place
}

#[test]
fn minimal_file_takes_defaults_from_flags() {
    let config = parse("accounts:\n  - name: prod\n").expect("valid");
    let account = &config.accounts[0];
    assert_eq!(account.name, "prod");
    assert_eq!(account.endpoint, "https://ssl.tencentcloudapi.com");
    assert_eq!(account.credentials, CredentialsConfig::Chain);
    assert_eq!(config.collectors.bind, Some(Duration::from_secs(300)));
    assert_eq!(config.records_max_age, Duration::from_secs(30 * 86_400));
    assert!(config.certificates.include_expired);
}

#[test]
fn the_documented_example_is_valid() {
    let text = include_str!("../../deploy/config.example.yml");
    let config = parse(text).expect("example validates");
    assert_eq!(config.accounts.len(), 5);
    assert_eq!(config.collectors.update, None);
    assert_eq!(config.collectors.bind, Some(Duration::from_secs(600)));
    assert_eq!(
        config.collectors.bind_poll_timeout,
        Duration::from_secs(120)
    );
    assert_eq!(
        config.certificates.tags,
        [("team".to_string(), "sre".to_string())]
    );
    assert_eq!(
        config.accounts[0].rate_limits["DescribeCertificateBindResourceTaskDetail"],
        8.0
    );
    assert!(matches!(
        config.accounts[3].credentials,
        CredentialsConfig::AssumeRole { .. }
    ));
    assert!(matches!(
        config.accounts[4].credentials,
        CredentialsConfig::Oidc { .. }
    ));
    let readme = include_str!("../../docs/configuration.md");
    assert!(
        readme.contains(text.trim()),
        "docs/configuration.md shows deploy/config.example.yml verbatim"
    );
}

#[test]
fn errors_name_the_place() {
    assert_eq!(place_of("accounts: []\n"), "accounts");
    assert_eq!(
        place_of("accounts:\n  - name: 'bad name'\n"),
        "accounts[0].name"
    );
    assert_eq!(
        place_of("accounts:\n  - name: a\n  - name: a\n"),
        "accounts[1].name"
    );
    assert_eq!(
        place_of("accounts:\n  - name: a\n    endpoint: ftp://x\n"),
        "accounts[0].endpoint"
    );
    assert_eq!(
        place_of("accounts:\n  - name: a\n    timeout: soon\n"),
        "accounts[0].timeout"
    );
    assert_eq!(
        place_of("accounts:\n  - name: a\n    rate_limits: {DescribeCertificates: 0}\n"),
        "accounts[0].rate_limits.DescribeCertificates"
    );
    assert_eq!(
        place_of(
            "accounts:\n  - name: a\n  - name: b\n  - name: c\n    credentials: {source: magic}\n"
        ),
        "accounts[2].credentials.source"
    );
    assert_eq!(
        place_of("accounts:\n  - name: a\n    credentials: {source: static, secret_id: x}\n"),
        "accounts[0].credentials"
    );
    assert_eq!(
        place_of("accounts:\n  - name: a\n    credentials: {source: profile, role_arn: x}\n"),
        "accounts[0].credentials.role_arn"
    );
    assert_eq!(
        place_of("accounts:\n  - name: a\n    credentials: {source: assume_role}\n"),
        "accounts[0].credentials.role_arn"
    );
    assert_eq!(place_of("accounts:\n  - name: a\n    credentials: {source: assume_role, role_arn: 'qcs::cam::uin/1:roleName/r', duration: 1m}\n"), "accounts[0].credentials.duration");
    assert_eq!(
        place_of("accounts:\n  - name: a\ncollectors:\n  bind: {interval: 0s}\n"),
        "collectors.bind.interval"
    );
    assert_eq!(
        place_of("accounts:\n  - name: a\ncollectors:\n  update: {poll_timeout: 1m}\n"),
        "collectors.update.poll_timeout"
    );
    assert_eq!(
        place_of("accounts:\n  - name: a\nrecords: {max_age: forever}\n"),
        "records.max_age"
    );
}

#[test]
fn unknown_keys_are_errors_with_their_path() {
    let err = parse("accounts:\n  - name: a\n    secret: x\n").expect_err("unknown key");
    assert!(err.to_string().contains("accounts[0]"), "{err}");
    assert!(err.to_string().contains("secret"), "{err}");
    let err = parse("acounts: []\n").expect_err("typo");
    assert!(err.to_string().contains("acounts"), "{err}");
}

#[test]
fn inline_secrets_never_show_in_errors_or_debug() {
    let config = parse("accounts:\n  - name: a\n    credentials: {secret_id: AKIDX, secret_key: very-secret-value}\n").expect("valid");
    assert!(config.has_inline_secret());
    assert!(!format!("{config:?}").contains("very-secret-value"));
    assert!(!config.summary().contains("very-secret-value"));
    let err = parse("accounts:\n  - name: a\n    credentials: {secret_key: very-secret-value, secret_key_file: /x}\n").expect_err("both");
    assert!(!err.to_string().contains("very-secret-value"), "{err}");
}

#[test]
fn every_collector_disabled_is_an_error() {
    let text = "accounts:\n  - name: a\ncollectors:\n  certificates: {enabled: false}\n  bind: {enabled: false}\n  upload_update: {enabled: false}\n  update: {enabled: false}\n  deploy: {enabled: false}\n";
    assert_eq!(place_of(text), "collectors");
}

#[test]
fn secret_files_are_listed_for_permission_checks() {
    let config = parse("accounts:\n  - name: a\n    credentials: {secret_id: AKIDX, secret_key_file: /run/key}\n  - name: b\n    credentials: {source: profile, file: /etc/p}\n").expect("valid");
    let files: Vec<String> = config
        .secret_files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(files, ["/run/key", "/etc/p"]);
}

#[test]
fn numbers_are_range_checked_with_the_key() {
    for (text, place) in [
        (
            "accounts:\n  - name: a\n    rate_limits: {DescribeCertificates: 1e-20}\n",
            "accounts[0].rate_limits.DescribeCertificates",
        ),
        (
            "accounts:\n  - name: a\n    rate_limits: {DescribeCertificates: .inf}\n",
            "accounts[0].rate_limits.DescribeCertificates",
        ),
        (
            "accounts:\n  - name: a\n    rate_limits: {DescribeCertificates: .nan}\n",
            "accounts[0].rate_limits.DescribeCertificates",
        ),
        (
            "accounts:\n  - name: a\n    timeout: 0s\n",
            "accounts[0].timeout",
        ),
        (
            "accounts:\n  - name: a\n    timeout: 500y\n",
            "accounts[0].timeout",
        ),
        (
            "accounts:\n  - name: a\ncollectors:\n  bind: {interval: 584000000y}\n",
            "collectors.bind.interval",
        ),
        (
            "accounts:\n  - name: a\ncollectors:\n  bind: {poll_timeout: 400d}\n",
            "collectors.bind.poll_timeout",
        ),
        (
            "accounts:\n  - name: a\nrecords: {max_age: 584000000y}\n",
            "records.max_age",
        ),
    ] {
        let err = parse(text).expect_err(text);
        assert_eq!(err.place, place, "{text}: {err}");
    }
}
#[test]
fn resolve_overrides_in_curl_style() {
    let parse = |s: &str| s.parse::<ResolveOverride>();
    assert_eq!(
        parse("WWW.Example.com:443:10.0.0.5"),
        Ok(ResolveOverride {
            domain: "www.example.com".into(),
            port: 443,
            addr: "10.0.0.5:443".parse().expect("addr"),
        })
    );
    assert_eq!(
        parse("a.example.com:443:127.0.0.1:8443").map(|o| o.addr),
        Ok("127.0.0.1:8443".parse().expect("addr"))
    );
    assert_eq!(
        parse("a.example.com:443:[::1]").map(|o| o.addr),
        Ok("[::1]:443".parse().expect("addr"))
    );
    assert_eq!(
        parse("a.example.com:443:[::1]:9443").map(|o| o.addr),
        Ok("[::1]:9443".parse().expect("addr"))
    );
    for bad in [
        "",
        "a.example.com",
        "a.example.com:443",
        ":443:10.0.0.1",
        "a:0:10.0.0.1",
        "a:x:10.0.0.1",
        "a:443:not-an-ip",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn endpoints_are_opt_in_and_validated() {
    let config = parse("accounts:\n  - name: prod\n").expect("valid");
    assert_eq!(config.collectors.endpoints, None, "off by default");
    let config = parse(
        "accounts:\n  - name: prod\ncollectors:\n  endpoints:\n    enabled: true\nendpoints:\n  timeout: 2s\n  max_endpoints: 10\n  max_tracked: 50\n  resolve: [\"a.example.com:443:127.0.0.1:8443\"]\n  resolved_only: true\n",
    )
    .expect("valid");
    assert_eq!(
        config.collectors.endpoints,
        Some(DEFAULT_ENDPOINTS_INTERVAL),
        "10m unless told"
    );
    assert_eq!(config.endpoints.timeout, Duration::from_secs(2));
    assert_eq!(config.endpoints.max_endpoints, 10);
    assert_eq!(config.endpoints.max_tracked, 50);
    assert_eq!(config.endpoints.concurrency, 32);
    assert!(config.endpoints.resolved_only);
    assert_eq!(config.endpoints.resolve[0].addr.port(), 8443);
    assert!(config.endpoints.allow_cidrs.is_empty() && config.endpoints.deny_cidrs.is_empty());
    let config = parse(
        "accounts:\n  - name: prod\nendpoints:\n  allow_cidrs: [\"127.0.0.0/8\"]\n  deny_cidrs: [\"10.9.0.0/16\", \"fd00::/8\"]\n",
    )
    .expect("valid");
    assert_eq!(config.endpoints.allow_cidrs[0].to_string(), "127.0.0.0/8");
    assert_eq!(config.endpoints.deny_cidrs.len(), 2);
    assert!(config.endpoints.nameservers.is_empty(), "/etc/resolv.conf");
    let config = parse(
        "accounts:\n  - name: prod\nendpoints:\n  nameservers: [\"10.0.0.2\", \"127.0.0.1:5353\", \"[fd00::53]:53\"]\n",
    )
    .expect("valid");
    assert_eq!(
        config.endpoints.nameservers,
        ["10.0.0.2:53", "127.0.0.1:5353", "[fd00::53]:53"]
            .map(|a| a.parse::<std::net::SocketAddr>().expect(a))
    );
    // The file turns it on; the flag's interval still applies.
    let defaults = Cli::try_parse_from(["x", "--collector.endpoints.interval=5m"])
        .expect("flags")
        .config_defaults();
    let config = Config::parse(
        "accounts:\n  - name: prod\ncollectors:\n  endpoints:\n    enabled: true\n",
        &defaults,
    )
    .expect("valid");
    assert_eq!(config.collectors.endpoints, Some(Duration::from_secs(300)));
    for (text, place) in [
        ("endpoints:\n  resolve: [\"nonsense\"]\n", "endpoints.resolve[0]"),
        ("endpoints:\n  timeout: 1h\n", "endpoints.timeout"),
        (
            "endpoints:\n  allow_cidrs: [\"10.0.0.0/8\", \"10.0.0.0/40\"]\n",
            "endpoints.allow_cidrs[1]",
        ),
        ("endpoints:\n  deny_cidrs: [\"nonsense\"]\n", "endpoints.deny_cidrs[0]"),
        (
            "endpoints:\n  nameservers: [\"10.0.0.2\", \"dns.example.com\"]\n",
            "endpoints.nameservers[1]",
        ),
        ("endpoints:\n  concurrency: 0\n", "endpoints.concurrency"),
        ("endpoints:\n  max_endpoints: 0\n", "endpoints.max_endpoints"),
        ("endpoints:\n  max_tracked: 0\n", "endpoints.max_tracked"),
        ("endpoints:\n  colour: blue\n", ""),
        (
            "collectors:\n  endpoints:\n    enabled: true\n  bind:\n    enabled: false\n  upload_update:\n    enabled: false\n  update:\n    enabled: false\n  deploy:\n    enabled: false\n",
            "collectors.endpoints",
        ),
    ] {
        let text = format!("accounts:\n  - name: prod\n{text}");
        let error = parse(&text).expect_err(&text);
        if !place.is_empty() {
            assert_eq!(error.place, place, "{text}");
        }
    }
}

#[test]
fn each_section_validates_alone() {
    let defaults = cli();
    let account = |name: &str, timeout: Option<&str>| raw::RawAccount {
        name: name.to_string(),
        endpoint: None,
        timeout: timeout.map(str::to_string),
        credentials: None,
        rate_limits: Default::default(),
        per_certificate_share: None,
        language: None,
    };
    let valid = validate_account(0, account("prod", Some("5s")), &defaults).expect("valid");
    assert_eq!(valid.timeout, Duration::from_secs(5));
    assert_eq!(valid.per_certificate_share, defaults.per_certificate_share);
    let shared = |share: f64| raw::RawAccount {
        per_certificate_share: Some(share),
        ..account("prod", None)
    };
    assert_eq!(
        validate_account(0, shared(0.25), &defaults)
            .expect("valid")
            .per_certificate_share,
        0.25
    );
    for bad in [0.0, 1.5, f64::NAN] {
        assert_eq!(
            validate_account(2, shared(bad), &defaults)
                .expect_err("share out of range")
                .place,
            "accounts[2].per_certificate_share"
        );
    }
    let err = validate_account(3, account("prod", Some("1y")), &defaults).expect_err("bound");
    assert_eq!(err.place, "accounts[3].timeout");
    assert_eq!(
        validate_account(1, account("no spaces", None), &defaults)
            .expect_err("name")
            .place,
        "accounts[1].name"
    );

    let off = || {
        Some(raw::RawCollector {
            enabled: Some(false),
            ..Default::default()
        })
    };
    let collectors = validate_collectors(raw::RawCollectors::default(), &defaults).expect("valid");
    assert_eq!(collectors.deploy, Some(defaults.deploy_interval));
    assert_eq!(collectors.endpoints, None, "endpoint probes are opt-in");
    let nothing = raw::RawCollectors {
        certificates: off(),
        bind: off(),
        upload_update: off(),
        update: off(),
        deploy: off(),
        endpoints: None,
    };
    assert_eq!(
        validate_collectors(nothing, &defaults)
            .expect_err("all off")
            .place,
        "collectors"
    );

    let filter = validate_certificates(raw::RawCertificates {
        search_key: Some(String::new()),
        ..Default::default()
    })
    .expect("valid");
    assert_eq!(
        filter.search_key, None,
        "an empty search key searches nothing"
    );
    assert!(filter.include_expired);
}

#[test]
fn tag_labels_become_label_names_and_collisions_are_refused() {
    let config =
        parse("accounts:\n  - name: a\ncertificates:\n  tag_labels: [team, cost-center, 团队]\n")
            .expect("valid");
    let labels: Vec<(&str, &str)> = config
        .tag_labels
        .iter()
        .map(|t| (t.key.as_str(), t.label.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("team", "tag_team"),
            ("cost-center", "tag_cost_center"),
            ("团队", "tag___")
        ]
    );
    assert!(parse("accounts:\n  - name: a\n")
        .expect("valid")
        .tag_labels
        .is_empty());
    let collision =
        parse("accounts:\n  - name: a\ncertificates:\n  tag_labels: [team-a, team_a]\n")
            .expect_err("two keys, one label");
    assert_eq!(collision.place, "certificates.tag_labels[1]");
    assert!(
        collision.message.contains("tag_team_a"),
        "{}",
        collision.message
    );
    assert!(
        collision.message.contains("\"team-a\""),
        "{}",
        collision.message
    );
    assert_eq!(
        place_of("accounts:\n  - name: a\ncertificates:\n  tag_labels: [\" \"]\n"),
        "certificates.tag_labels[0]"
    );

    let flags = Cli::try_parse_from([
        "x",
        "--certificates.tag-label=team",
        "--certificates.tag-label",
        "env",
    ])
    .expect("flags")
    .config_defaults();
    let from_flags = Config::from_defaults(&flags).expect("valid");
    let labels: Vec<&str> = from_flags
        .tag_labels
        .iter()
        .map(|t| t.label.as_str())
        .collect();
    assert_eq!(labels, ["tag_team", "tag_env"]);
    let file_without = Config::parse("accounts:\n  - name: a\n", &flags).expect("valid");
    assert_eq!(
        file_without.tag_labels, from_flags.tag_labels,
        "the flags when the file says nothing"
    );
    let file_with = Config::parse(
        "accounts:\n  - name: a\ncertificates:\n  tag_labels: [owner]\n",
        &flags,
    )
    .expect("valid");
    assert_eq!(file_with.tag_labels.len(), 1, "the file's own replace them");
    let colliding = Cli::try_parse_from([
        "x",
        "--certificates.tag-label=cost-center",
        "--certificates.tag-label=cost.center",
    ])
    .expect("flags")
    .config_defaults();
    let error = Config::from_defaults(&colliding).expect_err("one label for two keys");
    assert_eq!(error.place, "--certificates.tag-label");
    assert!(
        error.message.contains("tag_cost_center"),
        "{}",
        error.message
    );
}
