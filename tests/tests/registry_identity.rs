//! The identity exchanges of `thv-registry-api` against a local identity provider (`thv_e2e::idp`): a company
//! IdP's ID tokens (`/auth/oidc`, permissions from claim rules), GitHub Actions ID tokens (`/auth/github-oidc`) and
//! GitHub access tokens checked with a GitHub Enterprise API (`/auth/github-at`). The GitHub ones are driven by the
//! official publisher (`login github-oidc`, `login github --token`), as a workflow or a developer would.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use serde_json::{Value, json};
use thv_e2e::idp::{GithubUser, SigningKey, TestIdp, now};
use thv_e2e::publisher::{publisher, run, server_json};

/// `POST url` with a JSON body (and a bearer token): status and JSON answer.
fn post(url: &str, body: &Value, bearer: Option<&str>) -> (u16, Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-w", "\n%{http_code}", "-X", "POST"])
        .args(["-H", "Content-Type: application/json"])
        .args(["-d", &body.to_string()]);
    if let Some(token) = bearer {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let out = cmd.arg(url).output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())),
    )
}

/// The claims of a registry token.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

fn write_config(home: &Path, yaml: &str) -> String {
    let path = home.join("registry.yaml");
    std::fs::write(&path, yaml).unwrap();
    path.display().to_string()
}

fn publish(base: &str, token: &str, name: &str) -> (u16, Value) {
    post(
        &format!("{base}/v0/publish"),
        &server_json(name),
        Some(token),
    )
}

#[test]
fn company_id_tokens_earn_what_the_claim_rules_grant() {
    let key = SigningKey::ed25519("k1", 1);
    let idp = TestIdp::start(&[&key]);
    let home = tempfile::tempdir().unwrap();
    let config = write_config(
        home.path(),
        &format!(
            "auth:\n  oidc:\n    issuer: {}\n    audience: thv-registry\n    insecure_allow_http: true\n    \
             required_claims: {{hd: example.com}}\n    rules:\n      \
             - {{claims: {{groups: platform}}, publish: [\"com.example/*\"], edit: [\"com.example/*\"]}}\n      \
             - {{claims: {{groups: [data, ml]}}, publish: [\"com.example.data/*\"]}}\n",
            idp.url
        ),
    );
    let api = thv_e2e::registry_api::start_with(home.path(), &["--no-seed", "--config", &config]);
    let exchange = |token: &str| {
        post(
            &format!("{}/v0/auth/oidc", api.base),
            &json!({"oidc_token": token}),
            None,
        )
    };

    // A platform engineer: publish and edit in com.example/*.
    let id = idp.id_token(
        &key,
        "thv-registry",
        json!({"sub": "alice", "hd": "example.com", "groups": ["dev", "platform"]}),
    );
    let (status, answer) = exchange(&id);
    assert_eq!(status, 200, "{answer}");
    let token = answer["registry_token"].as_str().unwrap().to_owned();
    assert!(answer["expires_at"].as_i64().unwrap() <= now() as i64 + 300);
    let claims = claims_of(&token);
    assert_eq!(claims["auth_method"], "oidc");
    assert_eq!(claims["auth_method_sub"], "alice");
    assert_eq!(
        claims["permissions"],
        json!([{"action": "publish", "resource": "com.example/*"},
               {"action": "edit", "resource": "com.example/*"}])
    );
    let (status, answer) = publish(&api.base, &token, "com.example/platform-tools");
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = publish(&api.base, &token, "org.other/tools");
    assert_eq!(status, 403, "{answer}");

    // A data scientist (one of two groups a rule names), through /v0.1 too: only com.example.data/*.
    let id = idp.id_token(
        &key,
        "thv-registry",
        json!({"sub": "bob", "hd": "example.com", "groups": "ml"}),
    );
    let (status, answer) = post(
        &format!("{}/v0.1/auth/oidc", api.base),
        &json!({"oidc_token": id}),
        None,
    );
    assert_eq!(status, 200, "{answer}");
    let token = answer["registry_token"].as_str().unwrap().to_owned();
    assert_eq!(
        publish(&api.base, &token, "com.example.data/lake").0,
        200,
        "a data rule grants com.example.data/*"
    );
    let (status, answer) = publish(&api.base, &token, "com.example/not-data");
    assert_eq!(status, 403, "{answer}");

    // Refusals, each naming its reason.
    let unpublished = SigningKey::ed25519("k9", 9);
    let good = json!({"hd": "example.com", "groups": "platform"});
    let mut expired = good.clone();
    expired["exp"] = json!(now() - 600);
    let cases = [
        (
            idp.id_token(&key, "someone-else", good.clone()),
            401,
            "wrong audience",
        ),
        (idp.id_token(&key, "thv-registry", expired), 401, "expired"),
        (
            idp.id_token(
                &key,
                "thv-registry",
                json!({"iss": "https://evil.example", "hd": "example.com", "groups": "platform"}),
            ),
            401,
            "wrong issuer",
        ),
        (
            idp.id_token(&unpublished, "thv-registry", good.clone()),
            401,
            "unknown signing key k9",
        ),
        (
            idp.id_token(
                &key,
                "thv-registry",
                json!({"hd": "evil.example", "groups": "platform"}),
            ),
            401,
            "'hd' claim",
        ),
        (
            idp.id_token(
                &key,
                "thv-registry",
                json!({"hd": "example.com", "groups": ["dev"]}),
            ),
            403,
            "match no rule",
        ),
        ("not-a-jwt".to_owned(), 401, "malformed token"),
    ];
    for (token, want_status, want) in cases {
        let (status, answer) = exchange(&token);
        assert_eq!(status, want_status, "{want}: {answer}");
        assert!(answer.to_string().contains(want), "{want}: {answer}");
    }
    // A body without the token is a client error, not a crash.
    let (status, answer) = post(
        &format!("{}/v0/auth/oidc", api.base),
        &json!({"token": "x"}),
        None,
    );
    assert!((400..500).contains(&status), "{status} {answer}");

    // A token signed by another algorithm than its key's JWK names, and one requiring header extensions
    // (crit), are refused.
    let (status, answer) = exchange(&key.sign_with_header(
        jsonwebtoken::Algorithm::EdDSA,
        &json!({"alg": "EdDSA", "kid": "k1", "crit": ["exp-ext"], "exp-ext": true}),
        &json!({"iss": idp.url, "aud": "thv-registry", "sub": "x", "exp": now() + 300,
                "hd": "example.com", "groups": "platform"}),
    ));
    assert_eq!(status, 401, "{answer}");
    assert!(answer.to_string().contains("crit"), "{answer}");
    let rsa = SigningKey::rsa("r1");
    idp.publish(&rsa);
    std::thread::sleep(thv_core::oidc::JWKS_REFRESH_MIN + std::time::Duration::from_secs(1));
    let good_claims = json!({"iss": idp.url, "aud": "thv-registry", "sub": "x", "exp": now() + 300,
                             "hd": "example.com", "groups": "platform"});
    let (status, answer) = exchange(&rsa.sign_with_header(
        jsonwebtoken::Algorithm::PS256,
        &json!({"alg": "PS256", "kid": "r1"}),
        &good_claims,
    ));
    assert_eq!(status, 401, "{answer}");
    assert!(answer.to_string().contains("is for RS256"), "{answer}");
    let (status, answer) = exchange(&rsa.sign(&good_claims));
    assert_eq!(status, 200, "{answer}");

    // A slow IdP delays only the callers that need new keys: a token whose key is cached is answered at once
    // while a token naming an unknown key waits for the key set.
    idp.slow_jwks(std::time::Duration::from_secs(6));
    std::thread::sleep(thv_core::oidc::JWKS_REFRESH_MIN + std::time::Duration::from_secs(1));
    let waiting = {
        let url = format!("{}/v0/auth/oidc", api.base);
        let token = idp.id_token(&unpublished, "thv-registry", good.clone());
        std::thread::spawn(move || post(&url, &json!({"oidc_token": token}), None))
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    let started = std::time::Instant::now();
    let (status, answer) = exchange(&idp.id_token(&key, "thv-registry", good.clone()));
    assert_eq!(status, 200, "{answer}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "a cached key waited for the key set: {:?}",
        started.elapsed()
    );
    assert_eq!(waiting.join().unwrap().0, 401);
    idp.slow_jwks(std::time::Duration::ZERO);

    // The IdP rotates its key: once the refresh interval has passed, the new key's tokens are accepted (the key
    // set is fetched again because the token names a key it lacks).
    std::thread::sleep(thv_core::oidc::JWKS_REFRESH_MIN + std::time::Duration::from_secs(1));
    let rotated = SigningKey::ed25519("k2", 2);
    idp.publish(&rotated);
    let (status, answer) = exchange(&idp.id_token(&rotated, "thv-registry", good));
    assert_eq!(status, 200, "{answer}");

    // A registry without auth.oidc does not offer the exchange.
    let bare_home = tempfile::tempdir().unwrap();
    let bare = thv_e2e::registry_api::start_with(bare_home.path(), &["--no-seed"]);
    let (status, answer) = post(
        &format!("{}/v0/auth/oidc", bare.base),
        &json!({"oidc_token": "x"}),
        None,
    );
    assert_eq!(status, 404, "{answer}");
    assert!(answer.to_string().contains("auth.oidc"), "{answer}");
}

#[test]
fn bad_identity_settings_stop_the_registry_naming_them() {
    let home = tempfile::tempdir().unwrap();
    for (yaml, want) in [
        (
            "auth:\n  oidc:\n    issuer: http://idp.example\n    audience: a\n    rules: [{publish: [\"*\"]}]\n",
            "auth.oidc.issuer",
        ),
        (
            "auth:\n  oidc:\n    issuer: https://idp.example\n    audience: a\n    rules: []\n",
            "auth.oidc.rules",
        ),
        (
            "auth:\n  github_oidc:\n    audience: \"\"\n",
            "auth.github_oidc.audience",
        ),
        (
            "auth:\n  github:\n    api_url: ftp://github.example\n",
            "auth.github.api_url",
        ),
        (
            "auth:\n  github:\n    api_url: https://github.example/api/v3\n    ca_cert: /nonexistent.pem\n",
            "ca_cert /nonexistent.pem",
        ),
    ] {
        let config = write_config(home.path(), yaml);
        let out = thv_e2e::registry_api::command(home.path())
            .args(["--no-seed", "--listen", "127.0.0.1:0", "--config", &config])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{yaml}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{yaml}: {err}");
    }
}

/// The publisher in a GitHub Actions job: `login github-oidc` asks the job's token service for a token whose
/// audience is the registry's URL, and the registry grants the repository owner's namespace.
#[test]
fn the_official_publisher_logs_in_from_github_actions() {
    let Some(bin) = publisher() else { return };
    let key = SigningKey::rsa("actions-1");
    let idp = TestIdp::start(&[&key]);
    let port = thv_e2e::registry_api::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let home = tempfile::tempdir().unwrap();
    let config = write_config(
        home.path(),
        &format!(
            "auth:\n  github_oidc:\n    audience: {base}\n    issuer: {}\n    insecure_allow_http: true\n",
            idp.url
        ),
    );
    let api = thv_e2e::registry_api::start_on(
        home.path(),
        &format!("127.0.0.1:{port}"),
        &["--no-seed", "--config", &config],
    );
    assert_eq!(api.base, base);
    let (request_url, request_token) = idp.actions(&key, json!({"repository_owner": "octo-org"}));
    let job = tempfile::tempdir().unwrap();
    let login = |job: &Path| {
        let out = Command::new(bin)
            .current_dir(job)
            .env("HOME", job)
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", &request_url)
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", &request_token)
            .args(["login", "github-oidc", "--registry", &base])
            .output()
            .expect("publisher runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = login(job.path());
    assert!(ok, "{out}");
    // The registry fetched GitHub's key set from the issuer's /.well-known/jwks, as upstream does.
    assert!(
        idp.requests().contains(&"/jwks".to_owned()),
        "{:?}",
        idp.requests()
    );
    let name = "io.github.octo-org/actions-server";
    std::fs::write(
        job.path().join("server.json"),
        server_json(name).to_string(),
    )
    .unwrap();
    let (ok, out) = run(bin, job.path(), &["publish", "server.json"]);
    assert!(ok, "{out}");
    std::fs::write(
        job.path().join("other.json"),
        server_json("io.github.someone-else/server").to_string(),
    )
    .unwrap();
    let (ok, out) = run(bin, job.path(), &["publish", "other.json"]);
    assert!(!ok, "{out}");
    assert!(out.contains("403"), "{out}");

    // Tokens GitHub did not sign with RS256, or without a repository owner, are refused; the publisher says why.
    let ed = SigningKey::ed25519("actions-ed", 5);
    idp.publish(&ed);
    idp.actions(&ed, json!({"repository_owner": "octo-org"}));
    let (ok, out) = login(tempfile::tempdir().unwrap().path());
    assert!(!ok, "{out}");
    assert!(out.contains("401") && out.contains("EdDSA"), "{out}");
    idp.actions(&key, json!({}));
    let (ok, out) = login(tempfile::tempdir().unwrap().path());
    assert!(!ok, "{out}");
    assert!(out.contains("repository_owner"), "{out}");
}

#[test]
fn the_official_publisher_logs_in_with_a_github_enterprise_token_on_sqlite() {
    let Some(bin) = publisher() else { return };
    github_token_login(bin, &[]);
}

#[test]
fn the_official_publisher_logs_in_with_a_github_enterprise_token_on_postgres() {
    let Some(bin) = publisher() else { return };
    let Some(db) = thv_e2e::registry_api::postgres_database("github_at") else {
        return;
    };
    github_token_login(bin, &["--database-url", &db]);
}

/// `login github --token T`: the registry asks the GitHub API who T is and which organisations they own.
fn github_token_login(bin: &str, backend: &[&str]) {
    let idp = TestIdp::start(&[]);
    idp.github_user(
        "ghp_alice",
        GithubUser {
            login: "alice".into(),
            orgs: vec![
                ("acme".into(), "admin".into()),
                ("widgets".into(), "member".into()),
            ],
            no_org_scope: false,
        },
    );
    idp.github_user(
        "ghp_bob",
        GithubUser {
            login: "bob".into(),
            orgs: vec![("acme".into(), "admin".into())],
            no_org_scope: true,
        },
    );
    let home = tempfile::tempdir().unwrap();
    let config = write_config(
        home.path(),
        &format!(
            "auth:\n  github:\n    api_url: {}/api/v3\n    insecure_allow_http: true\n",
            idp.url
        ),
    );
    let mut args = vec!["--no-seed", "--config", &config];
    args.extend_from_slice(backend);
    let api = thv_e2e::registry_api::start_with(home.path(), &args);
    let dev = tempfile::tempdir().unwrap();
    let d = dev.path();
    let (ok, out) = run(
        bin,
        d,
        &[
            "login",
            "github",
            "--token",
            "ghp_alice",
            "--registry",
            &api.base,
        ],
    );
    assert!(ok, "{out}");
    // Her own namespace and the organisation she owns; not one she is only a member of.
    for (name, allowed) in [
        ("io.github.alice/tools", true),
        ("io.github.acme/tools", true),
        ("io.github.widgets/tools", false),
    ] {
        std::fs::write(d.join("server.json"), server_json(name).to_string()).unwrap();
        let (ok, out) = run(bin, d, &["publish", "server.json"]);
        assert_eq!(ok, allowed, "{name}: {out}");
        if !allowed {
            assert!(out.contains("403"), "{out}");
        }
    }
    // A token without read:org (the memberships answer 403): their own namespace only.
    let (status, answer) = post(
        &format!("{}/v0/auth/github-at", api.base),
        &json!({"github_token": "ghp_bob"}),
        None,
    );
    assert_eq!(status, 200, "{answer}");
    let claims = claims_of(answer["registry_token"].as_str().unwrap());
    assert_eq!(claims["auth_method"], "github-at");
    assert_eq!(
        claims["permissions"],
        json!([{"action": "publish", "resource": "io.github.bob/*"}])
    );
    // A token GitHub does not know: refused, the publisher prints GitHub's answer.
    let (ok, out) = run(
        bin,
        tempfile::tempdir().unwrap().path(),
        &[
            "login",
            "github",
            "--token",
            "ghp_unknown",
            "--registry",
            &api.base,
        ],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("401"), "{out}");
}
