//! toolhive-registry-server's `auth.mode: oauth` on `thv-registry-api`, against a local identity provider
//! (`thv_e2e::idp`): every request needs a provider's token (or this server's own), the refusal points at the
//! protected resource metadata (RFC 9728), probes and public paths stay open, a cached answer is not served
//! without a token, and the `superAdmin` role's matchers make a token an administrator.

use std::process::Command;

use serde_json::{Value, json};
use thv_e2e::idp::{SigningKey, TestIdp};
use thv_e2e::publisher::server_json;

const ADMIN: &str = "oauth-test-admin-token-0123456789";

/// `METHOD url` (with a JSON body and a bearer token): status, `WWW-Authenticate`, JSON answer.
fn call(
    method: &str,
    url: &str,
    body: Option<&Value>,
    bearer: Option<&str>,
) -> (u16, String, Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--max-time", "8", "-D", "-", "-X", method]);
    if let Some(body) = body {
        cmd.args([
            "-H",
            "Content-Type: application/json",
            "-d",
            &body.to_string(),
        ]);
    }
    if let Some(token) = bearer {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let out = cmd.arg(url).output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let challenge = head
        .lines()
        .find_map(|l| l.strip_prefix("www-authenticate: "))
        .unwrap_or_default()
        .to_owned();
    (
        status,
        challenge,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[test]
fn oauth_mode_asks_every_reader_for_a_providers_token() {
    let key = SigningKey::ed25519("k1", 7);
    let stranger = SigningKey::ed25519("k2", 8);
    let idp = TestIdp::start(&[&key]);
    let home = tempfile::tempdir().unwrap();
    // An identity provider that takes connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let port = thv_e2e::registry_api::free_port();
    let base = format!("http://127.0.0.1:{port}");
    // toolhive-registry-server's configuration, as an MCPRegistry's configYAML carries it.
    let config = home.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: published\n    managed: {{}}\nregistries:\n  - name: default\n    sources: [published]\n\
             auth:\n  mode: oauth\n  publicPaths: [/openapi.json]\n  oauth:\n    resourceUrl: {base}\n    realm: company\n    \
             scopesSupported: [registry:read]\n    providers:\n      \
             - {{name: down, issuerUrl: '{silent_url}', audience: thv-registry, insecure_allow_http: true}}\n      \
             - name: corp\n        issuerUrl: {}\n        \
             audience: thv-registry\n        clientId: registry-ui\n        insecure_allow_http: true\n  \
             anonymous: true\n  \
             authz:\n    roles:\n      superAdmin: [{{groups: platform}}]\n",
            idp.url
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let _api = thv_e2e::registry_api::start_on(
        home.path(),
        &format!("127.0.0.1:{port}"),
        &["--config", &config, "--admin-token", ADMIN],
    );
    let servers = format!("{base}/v0.1/servers?limit=3");

    // No token: 401, pointing at the metadata, which names the provider.
    let (code, challenge, body) = call("GET", &servers, None, None);
    assert_eq!(code, 401, "{body}");
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"company\", resource_metadata=\"{base}/.well-known/oauth-protected-resource\""
        )
    );
    let (code, _, metadata) = call(
        "GET",
        &format!("{base}/.well-known/oauth-protected-resource"),
        None,
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(
        metadata,
        json!({"resource": base, "authorization_servers": [silent_url, idp.url], "bearer_methods_supported": ["header"],
               "scopes_supported": ["registry:read"]})
    );
    // Probes and public paths stay open.
    for open in ["/v0.1/health", "/v0.1/ping", "/openapi.json"] {
        let (code, _, body) = call("GET", &format!("{base}{open}"), None, None);
        assert_eq!(code, 200, "{open}: {body}");
    }

    // A reader's token reads; the answer, now cached, is still refused without one.
    let reader = idp.id_token(&key, "thv-registry", json!({"groups": ["dev"]}));
    let (code, _, page) = call("GET", &servers, None, Some(&reader));
    assert_eq!(code, 200, "{page}");
    assert_eq!(
        page["servers"].as_array().unwrap().len(),
        3,
        "seeded from the bundled registry"
    );
    let (code, _, _) = call("GET", &servers, None, None);
    assert_eq!(code, 401, "a cached answer is no answer without a token");
    // Wrong audience, unknown key, garbage: refused. This server's own admin token reads too.
    for bad in [
        idp.id_token(&key, "another-app", json!({})),
        idp.id_token(&stranger, "thv-registry", json!({})),
        "not.a.token".to_owned(),
    ] {
        let (code, _, body) = call("GET", &servers, None, Some(&bad));
        assert_eq!(code, 401, "{body}");
        assert!(
            !body.to_string().contains(&bad),
            "the token is not echoed: {body}"
        );
    }
    let (code, challenge, _) = call("GET", &servers, None, Some("not.a.token"));
    assert_eq!(code, 401);
    assert!(
        challenge.ends_with(", error=\"invalid_token\""),
        "{challenge}"
    );
    let (code, _, _) = call("GET", &servers, None, Some(ADMIN));
    assert_eq!(code, 200);
    // A provider that does not answer (listed first) delays no other provider's tokens: the reader's read above
    // answered within curl's 8 s, and one more does. A token whose expiry is the largest number does not
    // overflow the verifier's cache check (a debug build panicked on every request after the first).
    let far = idp.id_token(&key, "thv-registry", json!({"exp": u64::MAX}));
    for _ in 0..2 {
        let (code, _, body) = call("GET", &servers, None, Some(&far));
        assert_eq!(code, 200, "{body}");
    }

    // The token exchanges are behind the gate too, and their tokens do not open it: `none` (or a domain's
    // proof) would hand one to anyone.
    let (code, _, body) = call(
        "POST",
        &format!("{base}/v0/auth/none"),
        Some(&json!({})),
        None,
    );
    assert_eq!(code, 401, "{body}");
    let (code, _, minted) = call(
        "POST",
        &format!("{base}/v0/auth/none"),
        Some(&json!({})),
        Some(&reader),
    );
    assert_eq!(code, 200, "{minted}");
    let registry_token = minted["registry_token"].as_str().unwrap();
    let (code, _, body) = call("GET", &servers, None, Some(registry_token));
    assert_eq!(code, 401, "a registry token does not pass: {body}");
    let (code, _, _) = call(
        "POST",
        &format!("{base}/.well-known/oauth-protected-resource"),
        None,
        None,
    );
    assert_eq!(code, 405);

    // A reader may not publish or administer; a superAdmin may.
    let entry = server_json("com.example.oauth/fetch");
    let (code, _, body) = call(
        "POST",
        &format!("{base}/v0.1/publish"),
        Some(&entry),
        Some(&reader),
    );
    assert_eq!(code, 403, "{body}");
    let (code, _, body) = call(
        "POST",
        &format!("{base}/v1/sources/published/sync"),
        None,
        Some(&reader),
    );
    assert!(code == 403 || code == 404, "{code} {body}");
    let admin = idp.id_token(&key, "thv-registry", json!({"groups": ["platform", "dev"]}));
    let (code, _, body) = call(
        "POST",
        &format!("{base}/v0.1/publish"),
        Some(&entry),
        Some(&admin),
    );
    assert_eq!(code, 200, "{body}");
    let (code, _, body) = call(
        "GET",
        &format!("{base}/v0.1/servers/com.example.oauth%2Ffetch/versions/latest"),
        None,
        Some(&reader),
    );
    assert_eq!(code, 200, "{body}");
}

#[test]
fn oauth_settings_that_cannot_be_honoured_stop_the_start() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config.yaml");
    std::fs::write(
        &config,
        "auth:\n  mode: oauth\n  oauth:\n    resourceUrl: https://registry.example.com\n    providers:\n      \
         - {name: corp, issuerUrl: 'http://idp.example.com', audience: r, introspectionUrl: 'https://idp.example.com/introspect'}\n      \
         - {name: empty, issuerUrl: 'https://b.example.com', audience: ''}\n  publicPaths: ['/*']\n  \
         authz:\n    roles:\n      manageSources: [{groups: ops}]\n      superAdmin: [{}]\n",
    )
    .unwrap();
    let out = thv_e2e::registry_api::command(home.path())
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "auth.authz.roles.manageSources: not supported",
        "auth.oauth.providers[0].introspection_url: opaque tokens (introspection) are not supported",
        "is not https",
        "auth.oauth.providers[1].audience: empty",
        "auth.oauth.public_paths[0]: '/*' must be a path",
        "auth.authz.roles.superAdmin[0]: an empty matcher would make every token an administrator",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    let without = home.path().join("without.yaml");
    std::fs::write(&without, "auth:\n  mode: oauth\n").unwrap();
    let out = thv_e2e::registry_api::command(home.path())
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&without)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("auth.oauth: mode 'oauth' needs its providers"),
        "{stderr}"
    );
}
