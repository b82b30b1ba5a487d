//! Real registry data, end to end: a few thousand entries in the official registry's list response form
//! (`{"servers": [{"server", "_meta": {official}}], "metadata"}`), spread over every published server.json schema
//! version — each entry in the shape its version describes, plus what the official registry serves after its own
//! data migrations — with invalid ones whose reasons are known. The same file is seeded (`seed_from`), synced
//! (a file source, and an API source reading a registry seeded from it) and imported (`thv-registry import
//! --to`, with and without `--upgrade-schema`); counts, statuses, `isLatest` and per-entry reasons are checked.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use thv_e2e::registry_api::{
    RegistryApi, command, postgres_database, start_configured, start_with,
};

#[path = "registry_real_data/crawl.rs"]
mod crawl;

use crawl::{
    CURRENT, Defect, Expect, OFFICIAL, expected_rows, expected_skips, schema_url, write_crawl,
};

const ADMIN: &str = "real-data-admin-token-0123456789";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

async fn get(url: &str) -> Value {
    let resp = http().get(url).send().await.unwrap();
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    resp.json().await.unwrap()
}

/// Every version a registry prefix serves (deleted ones too): (name, version) → (status, isLatest, item).
async fn served(prefix: &str) -> BTreeMap<(String, String), (String, bool, Value)> {
    let mut out = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{prefix}/servers?limit=100&include_deleted=true");
        if let Some(c) = &cursor {
            url.push_str(&format!(
                "&cursor={}",
                c.replace(':', "%3A").replace('/', "%2F")
            ));
        }
        let page = get(&url).await;
        for item in page["servers"].as_array().unwrap() {
            let o = &item["_meta"][OFFICIAL];
            out.insert(
                (
                    item["server"]["name"].as_str().unwrap().to_owned(),
                    item["server"]["version"].as_str().unwrap().to_owned(),
                ),
                (
                    o["status"].as_str().unwrap().to_owned(),
                    o["isLatest"].as_bool().unwrap(),
                    item.clone(),
                ),
            );
        }
        match page["metadata"]["nextCursor"].as_str() {
            Some(c) if !c.is_empty() => cursor = Some(c.to_owned()),
            _ => return out,
        }
    }
}

/// Checks a registry's rows against the accepted entries: the same versions, statuses and latest flags, and
/// every entry kept as the file has it (publishedAt too).
fn check_served(
    got: &BTreeMap<(String, String), (String, bool, Value)>,
    expects: &[Expect],
    file: &Value,
    what: &str,
) {
    let want = expected_rows(expects);
    let got_keys: BTreeSet<&(String, String)> = got.keys().collect();
    let want_keys: BTreeSet<&(String, String)> = want.keys().collect();
    assert_eq!(got_keys, want_keys, "{what}: the accepted versions");
    for (key, (status, latest)) in &want {
        let (s, l, _) = &got[key];
        assert_eq!((s, l), (status, latest), "{what}: {key:?}");
    }
    // Where the file's latest version was kept, it is the latest served.
    for e in expects.iter().filter(|e| e.accepted() && e.file_latest) {
        assert!(
            got[&e.key()].1,
            "{what}: the file's latest {:?} is served latest",
            e.key()
        );
    }
    // Documents as they are, metadata as the file has it.
    for (i, e) in expects.iter().enumerate() {
        if !e.accepted() {
            continue;
        }
        let item = &file["servers"][i];
        let (_, _, served) = &got[&e.key()];
        assert_eq!(
            served["server"],
            item["server"],
            "{what}: {:?} as written",
            e.key()
        );
        let o = &served["_meta"][OFFICIAL];
        assert_eq!(o["publishedAt"], e.published, "{what}: {:?}", e.key());
        if e.status == "deprecated" {
            assert_eq!(o["statusMessage"], "superseded", "{what}");
        }
    }
}

/// Starts `thv-registry-api` seeded from `seed`, returning it and its log up to the listening line.
fn start_seeded(home: &Path, seed: &Path, database_url: Option<&str>) -> (RegistryApi, Vec<Value>) {
    let mut cmd = command(home);
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--admin-token",
        ADMIN,
    ])
    .arg("--seed-from")
    .arg(seed);
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("thv-registry-api starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    let addr = loop {
        let line = lines.next().expect("logs until listening").unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if let Some(addr) = v["fields"]["addr"].as_str() {
            break addr.to_owned();
        }
        log.push(v);
    };
    std::thread::spawn(move || lines.for_each(drop));
    (
        RegistryApi {
            child,
            base: format!("http://{addr}"),
        },
        log,
    )
}

async fn seed_flow(database_url: Option<&str>) {
    let home = tempfile::tempdir().unwrap();
    let (file, expects) = write_crawl(home.path());
    let (api, log) = start_seeded(home.path(), &home.path().join("crawl.json"), database_url);

    // One summary line: how many were seeded, how many skipped, and why.
    let summaries: Vec<&Value> = log
        .iter()
        .filter(|l| l["fields"]["message"] == "seeded an empty database")
        .collect();
    assert_eq!(summaries.len(), 1, "{log:?}");
    let fields = &summaries[0]["fields"];
    let accepted = expects.iter().filter(|e| e.accepted()).count();
    let skips = expected_skips(&expects);
    assert_eq!(fields["versions"], accepted, "{fields}");
    assert_eq!(fields["skipped"], skips.values().sum::<usize>(), "{fields}");
    // `N × RULE, ...`: the first error's rule (a rule id or the schema keyword) of each skipped entry.
    let reasons: BTreeMap<String, usize> = fields["skip_reasons"]
        .as_str()
        .unwrap()
        .split(", ")
        .map(|r| {
            let (n, rule) = r.split_once(" × ").unwrap();
            (rule.to_owned(), n.parse().unwrap())
        })
        .collect();
    let package_rules = |m: &BTreeMap<String, usize>| -> usize {
        m.iter()
            .filter(|(r, _)| r.starts_with("#/definitions/Package/"))
            .map(|(_, n)| n)
            .sum()
    };
    for (rule, n) in &skips {
        if !rule.starts_with("#/definitions/Package/") {
            assert_eq!(reasons.get(*rule), Some(n), "{rule}: {reasons:?}");
        }
    }
    let want: BTreeMap<String, usize> = skips.iter().map(|(r, n)| ((*r).to_owned(), *n)).collect();
    assert_eq!(package_rules(&reasons), package_rules(&want), "{reasons:?}");
    assert!(
        !log.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("seed entry"))),
        "no line per skipped entry at the default level"
    );

    let got = served(&format!("{}/v0.1", api.base)).await;
    check_served(&got, &expects, &file, "seed");
}

#[tokio::test(flavor = "multi_thread")]
async fn seeding_keeps_every_schema_version_with_its_metadata_on_sqlite() {
    seed_flow(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seeding_keeps_every_schema_version_with_its_metadata_on_postgres() {
    let Some(db) = postgres_database("real_seed") else {
        return;
    };
    seed_flow(Some(&db)).await;
}

/// Waits until a source has synced, returning its view.
async fn synced(base: &str, source: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let v = get(&format!("{base}/v1/sources/{source}")).await;
        if v["status"] == "complete" || v["status"] == "failed" {
            return v;
        }
        assert!(Instant::now() < deadline, "{source} never synced: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn file_and_api_sync_take_every_schema_version() {
    let up_home = tempfile::tempdir().unwrap();
    let (file, expects) = write_crawl(up_home.path());
    let (upstream, _) = start_seeded(up_home.path(), &up_home.path().join("crawl.json"), None);

    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("registry.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[sources]]
name = "crawl-file"
file = {{ path = "{}" }}

[[sources]]
name = "crawl-api"
api = {{ endpoint = "{}" }}
allow_private_addresses = true

[[registries]]
name = "file"
sources = ["crawl-file"]

[[registries]]
name = "api"
sources = ["crawl-api"]
"#,
            up_home.path().join("crawl.json").display(),
            upstream.base
        ),
    )
    .unwrap();
    let api = start_configured(command(home.path()), &config, ADMIN);

    // The file source: every item read, the invalid ones skipped with their reasons.
    let f = synced(&api.base, "crawl-file").await;
    assert_eq!(f["status"], "complete", "{f}");
    let report = &f["lastSync"];
    let invalid: Vec<&Expect> = expects.iter().filter(|e| e.defect.is_some()).collect();
    assert_eq!(report["received"], expects.len(), "{report}");
    assert_eq!(report["skipped"], invalid.len(), "{report}");
    let accepted = expects.iter().filter(|e| e.accepted()).count();
    assert_eq!(f["versionCount"], accepted, "{f}");
    let listed = report["skippedEntries"].as_array().unwrap();
    assert!(!listed.is_empty());
    for s in listed {
        let (server, version) = (
            s["server"].as_str().unwrap(),
            s["version"].as_str().unwrap(),
        );
        let e = invalid
            .iter()
            .find(|e| e.name == server && e.version == version)
            .unwrap_or_else(|| panic!("{s} is not one of the invalid entries"));
        let reason = s["reason"].as_str().unwrap();
        assert!(reason.contains(e.defect.unwrap().says()), "{s}");
    }
    let got = served(&format!("{}/registry/file/v0.1", api.base)).await;
    check_served(&got, &expects, &file, "file sync");

    // The API source: what the seeded upstream serves, with its metadata.
    let a = synced(&api.base, "crawl-api").await;
    assert_eq!(a["status"], "complete", "{a}");
    assert_eq!(a["lastSync"]["skipped"], 0, "{a}");
    assert_eq!(a["versionCount"], accepted, "{a}");
    let got = served(&format!("{}/registry/api/v0.1", api.base)).await;
    check_served(&got, &expects, &file, "API sync");
}

/// `thv-registry import crawl.json --to BASE [--upgrade-schema]`: its summary and its `invalid` lines.
fn import(dir: &Path, base: &str, upgrade: bool) -> (String, BTreeMap<(String, String), String>) {
    let mut cmd = Command::new(thv_e2e::binary("thv-registry"));
    cmd.current_dir(dir).args([
        "import",
        "crawl.json",
        "--to",
        base,
        "--token",
        ADMIN,
        "--quiet",
    ]);
    if upgrade {
        cmd.arg("--upgrade-schema");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "some entries are invalid: {stdout}"
    );
    let mut invalid = BTreeMap::new();
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("invalid   ") {
            let (key, reason) = rest.split_once(" (crawl.json: ").unwrap();
            let (name, version) = key.rsplit_once('@').unwrap();
            invalid.insert((name.to_owned(), version.to_owned()), reason.to_owned());
        }
        assert!(!line.starts_with("failed"), "{line}");
    }
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("Summary: "))
        .unwrap()
        .to_owned();
    (summary, invalid)
}

#[tokio::test(flavor = "multi_thread")]
async fn import_to_publishes_current_entries_and_upgrades_the_others_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let (_, expects) = write_crawl(dir.path());
    let home = tempfile::tempdir().unwrap();
    let api = start_with(home.path(), &["--no-seed", "--admin-token", ADMIN]);
    // Copies of one version are one entry to import (the last one).
    let unique: Vec<&Expect> = expects.iter().filter(|e| !e.duplicate).collect();
    let deleted = |e: &&Expect| e.status == "deleted" && e.defect != Some(Defect::BadMeta);

    // Publishing keeps the current-schema rule: only 2025-12-11 entries go through; every other is refused,
    // saying why and that --upgrade-schema exists.
    let (summary, invalid) = import(dir.path(), &api.base, false);
    let live: Vec<&Expect> = unique.iter().copied().filter(|e| !deleted(e)).collect();
    let current_ok = live
        .iter()
        .filter(|e| e.schema == CURRENT && e.defect.is_none())
        .count();
    let n_deleted = unique.iter().filter(|e| deleted(e)).count();
    assert_eq!(
        summary,
        format!(
            "Summary: {current_ok} imported, {} skipped ({} invalid, 0 exists, {n_deleted} deleted), 0 failed",
            unique.len() - current_ok,
            live.len() - current_ok
        )
    );
    for e in live
        .iter()
        .filter(|e| !(e.schema == CURRENT && e.defect.is_none()))
    {
        let reason = &invalid[&e.key()];
        let says = match e.defect {
            Some(d @ (Defect::BadMeta | Defect::NoSchema | Defect::UnknownSchema)) => {
                d.says().to_owned()
            }
            Some(d) if e.schema == CURRENT => d.says().to_owned(),
            _ => format!(
                "schema version {} is not the current version (2025-12-11)",
                e.schema
            ),
        };
        assert!(reason.contains(&says), "{e:?}: {reason}");
        if e.schema != CURRENT && e.defect.is_none() {
            assert!(reason.contains("--upgrade-schema"), "{reason}");
        }
    }
    assert_eq!(invalid.len(), live.len() - current_ok);

    // --upgrade-schema: `$schema` rewritten where the entry is valid under the current schema — the camelCase
    // versions and what the official registry's migrations left invalid under their own — not for 2025-07-09's
    // snake_case documents.
    let (summary, invalid) = import(dir.path(), &api.base, true);
    let upgradable = |e: &&Expect| {
        e.schema != CURRENT
            && e.schema != "2025-08-01"
            && matches!(
                e.defect,
                None | Some(Defect::OciMigrated | Defect::Camel0709)
            )
            && (e.schema != "2025-07-09" || e.defect == Some(Defect::Camel0709))
    };
    let upgraded = live.iter().filter(|e| upgradable(e)).count();
    let still_invalid = live.len() - current_ok - upgraded;
    assert_eq!(
        summary,
        format!(
            "Summary: {upgraded} imported ({upgraded} with $schema upgraded), {} skipped ({still_invalid} invalid, \
             {current_ok} exists, {n_deleted} deleted), 0 failed",
            unique.len() - upgraded
        )
    );
    assert_eq!(invalid.len(), still_invalid);
    for e in live
        .iter()
        .filter(|e| e.schema == "2025-07-09" && e.defect.is_none())
    {
        let reason = &invalid[&e.key()];
        assert!(
            reason.contains(
                "not valid under the current schema 2025-12-11, $schema left as 2025-07-09: packages[0].registryType"
            ),
            "{reason}"
        );
    }
    // What was published declares the current schema, and is otherwise the entry as it was.
    let got = served(&format!("{}/v0.1", api.base)).await;
    let migrated = live
        .iter()
        .find(|e| e.defect == Some(Defect::OciMigrated))
        .unwrap();
    let doc = &got[&migrated.key()].2["server"];
    assert_eq!(doc["$schema"], schema_url(CURRENT));
    assert!(doc["packages"][0].get("version").is_none(), "{doc}");
    assert_eq!(got.len(), current_ok + upgraded);
}
