use super::*;

fn parse(toml_text: &str) -> (Vec<SourceConfig>, Vec<RegistryConfig>) {
    #[derive(Deserialize)]
    struct F {
        #[serde(default)]
        sources: Vec<SourceConfig>,
        #[serde(default)]
        registries: Vec<RegistryConfig>,
    }
    let f: F = toml::from_str(toml_text).unwrap();
    (f.sources, f.registries)
}

#[test]
fn sources_and_registries_check_out() {
    let (s, r) = parse(
        r#"
        [[sources]]
        name = "up"
        api = { endpoint = "https://registry.example.com/" }
        syncPolicy = { interval = "5m" }
        filter = { names = { include = ["io.github.*"] } }
        [[sources]]
        name = "cat"
        git = { repository = "file:///srv/cat.git", tag = "v1" }
        [[registries]]
        name = "prod"
        sources = ["managed", "up", "cat"]
        "#,
    );
    let mut errors = Vec::new();
    let (sources, registries) = check(&s, &r, Some("prod"), &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(sources[0].interval, Duration::from_secs(300));
    assert_eq!(
        sources[0].kind,
        SourceKind::Api {
            endpoint: "https://registry.example.com".into(),
            ca_cert: None
        }
    );
    assert!(
        matches!(&sources[1].kind, SourceKind::Git { reference: GitRef::Tag(t), path, .. } if t == "v1" && path == "registry.json")
    );
    assert_eq!(
        registries.default_scope().sources(),
        ["managed", "up", "cat"]
    );
    assert_ne!(sources[0].settings_hash, sources[1].settings_hash);
}

#[test]
fn every_problem_is_reported_with_its_field() {
    let (s, r) = parse(
        r#"
        [[sources]]
        name = "managed"
        file = { path = "/x" }
        [[sources]]
        name = "bad name"
        api = { endpoint = "ftp://x" }
        git = { repository = "r" }
        [[sources]]
        name = "g"
        git = { repository = "r", branch = "a", tag = "t" }
        syncPolicy = { interval = "soon" }
        filter = { names = { include = ["a["] } }
        [[sources]]
        name = "h"
        git = { repository = "r", commit = "zz" }
        [[sources]]
        name = "i"
        git = { repository = "https://bot:secret@git.example.com/c.git" }
        [[sources]]
        name = "j"
        git = { repository = "https://git.example.com/c.git" }
        allow_private_addresses = true
        [[sources]]
        name = "k"
        api = { endpoint = "https://registry.example.com/?token=x" }
        [[sources]]
        name = "l"
        api = { endpoint = "https://registry.example.com", ca_cert = "/nonexistent/ca.pem" }
        [[registries]]
        name = "r"
        sources = ["nope", "g", "g"]
        "#,
    );
    let mut errors = Vec::new();
    check(&s, &r, Some("missing"), &mut errors);
    let all = errors.join("\n");
    for expected in [
        "sources[0].name: 'managed' is the built-in source",
        "sources[1].name: may contain only",
        "sources[1]: declare exactly one of api, file, git, configmap, kubernetes or managed (found 2)",
        "sources[3].git.commit: 'zz' is not a commit id",
        "sources[4].git.repository: must not carry credentials",
        "sources[5].allow_private_addresses: applies only to api and file.url sources",
        "sources[6].api.endpoint: 'https://registry.example.com/?token=x' must not have a query",
        "sources[7].api.ca_cert /nonexistent/ca.pem: No such file or directory",
        "sources[2].git: branch, tag and commit are mutually exclusive",
        "sources[2].sync_policy.interval: 'soon' is not a duration",
        "sources[2].filter.names.include: invalid glob 'a['",
        "registries[0].sources[0]: no source is named 'nope'",
        "registries[0].sources[2]: 'g' is listed twice",
        "default_registry: no registry is named 'missing'",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
}

#[test]
fn kubernetes_sources_name_namespaces_and_are_listed_every_ten_minutes() {
    let (s, _) = parse(
        r#"
        [[sources]]
        name = "cluster"
        kubernetes = { namespaces = ["team-a", "team-b"] }
        [[sources]]
        name = "bad"
        kubernetes = { namespaces = ["Team_A", "ok", "ok"] }
        allow_private_addresses = true
        [[sources]]
        name = "slow"
        kubernetes = { namespaces = ["x"], timeout = "5s" }
        sync_policy = { interval = "1h" }
        "#,
    );
    let mut errors = Vec::new();
    let (sources, _) = check(&s, &[], None, &mut errors);
    let all = errors.join("\n");
    for expected in [
        "sources[1].kubernetes.namespaces[0]: 'Team_A' is not a namespace name",
        "sources[1].kubernetes.namespaces[2]: 'ok' is listed twice",
        "sources[1].allow_private_addresses: applies only to api and file.url sources",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
    assert_eq!(
        sources[0].kind,
        SourceKind::Kubernetes {
            namespaces: vec!["team-a".into(), "team-b".into()]
        }
    );
    assert_eq!(sources[0].interval, kubernetes::DEFAULT_RESYNC);
    assert_eq!(sources[1].name, "slow");
    assert_eq!(
        (sources[1].interval, sources[1].timeout),
        (Duration::from_secs(3600), Duration::from_secs(5))
    );
}

#[test]
fn configmap_sources_name_a_configmap_key() {
    let (s, _) = parse(
        r#"
        [[sources]]
        name = "cm"
        configmap = { namespace = "mcp", name = "team-registry" }
        [[sources]]
        name = "bad"
        configMap = { namespace = "My_NS", name = "-x", key = "a/b" }
        allow_private_addresses = true
        [[sources]]
        name = "dots"
        configmap = { name = "x", key = "..data" }
        [[sources]]
        name = "two"
        configmap = { name = "x" }
        file = { path = "/x" }
        "#,
    );
    let yaml: Vec<SourceConfig> = serde_yaml_ng::from_str(
        "- name: ref\n  configMapRef:\n    name: registry\n    key: servers.json\n",
    )
    .unwrap();
    let mut errors = Vec::new();
    let (sources, _) = check(&s, &[], None, &mut errors);
    let all = errors.join("\n");
    for expected in [
        "sources[1].configmap.namespace: 'My_NS' is not a namespace name",
        "sources[1].configmap.name: '-x' is not a ConfigMap name",
        "sources[1].configmap.key: 'a/b' is not a ConfigMap key",
        "sources[1].allow_private_addresses: applies only to api and file.url sources",
        "sources[3]: declare exactly one of api, file, git, configmap, kubernetes or managed (found 2)",
        "sources[2].configmap.key: '..data' is not a ConfigMap key",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
    assert_eq!(
        sources[0].kind,
        SourceKind::ConfigMap {
            namespace: Some("mcp".into()),
            name: "team-registry".into(),
            key: "registry.json".into()
        }
    );
    let mut errors = Vec::new();
    let (from_yaml, _) = check(&yaml, &[], None, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        from_yaml[0].kind,
        SourceKind::ConfigMap {
            namespace: None,
            name: "registry".into(),
            key: "servers.json".into()
        }
    );
}

/// `managed: {}` (toolhive-registry-server's way) names the built-in source; the name stands for it in
/// registries, and is a source name like the others (a second source of that name was accepted, and lost).
#[test]
fn a_managed_source_names_the_built_in_one() {
    let (s, r) = parse(
        r#"
        [[sources]]
        name = "internal"
        managed = {}
        [[sources]]
        name = "up"
        file = { path = "/x" }
        [[registries]]
        name = "default"
        sources = ["internal", "up"]
        "#,
    );
    let mut errors = Vec::new();
    let (sources, registries) = check(&s, &r, Some("default"), &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(sources.len(), 1, "the managed source is not synced");
    assert_eq!(
        registries.default.sources(),
        [MANAGED_SOURCE.to_string(), "up".to_string()]
    );
    let (s, r) = parse(
        r#"
        [[sources]]
        name = "internal"
        managed = {}
        [[sources]]
        name = "internal"
        file = { path = "/x" }
        [[sources]]
        name = "second"
        managed = {}
        [[sources]]
        name = "both"
        managed = {}
        git = { repository = "https://g.example.com/r.git" }
        [[registries]]
        name = "r"
        sources = ["internal", "managed"]
        "#,
    );
    let mut errors = Vec::new();
    check(&s, &r, None, &mut errors);
    let all = errors.join("\n");
    for expected in [
        "sources[1].name: 'internal' is declared twice",
        "sources[2]: a second managed source ('second'; 'internal' is the first)",
        "sources[3]: declare exactly one of api, file, git, configmap, kubernetes or managed (found 2)",
        "registries[0].sources[1]: 'managed' is listed twice",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
}

#[test]
fn private_addresses_are_allowed_per_source_in_either_spelling() {
    let (s, _) = parse(
        r#"
        [[sources]]
        name = "internal"
        api = { endpoint = "http://10.0.0.5:8080" }
        allow_private_addresses = true
        [[sources]]
        name = "public"
        file = { url = "https://example.com/registry.json" }
        "#,
    );
    let yaml: Vec<SourceConfig> = serde_yaml_ng::from_str(
        "- name: internal\n  file:\n    url: http://files.internal/registry.json\n  allowPrivateAddresses: true\n",
    )
    .unwrap();
    let mut errors = Vec::new();
    let (sources, _) = check(&s, &[], None, &mut errors);
    let (from_yaml, _) = check(&yaml, &[], None, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(sources[0].allow_private_addresses);
    assert!(!sources[1].allow_private_addresses, "off by default");
    assert!(from_yaml[0].allow_private_addresses);
    // Not part of what decides the content: allowing it does not force a full sync.
    let mut without = s[0].clone();
    without.allow_private_addresses = false;
    let (again, _) = check(&[without], &[], None, &mut errors);
    assert_eq!(again[0].settings_hash, sources[0].settings_hash);
}
