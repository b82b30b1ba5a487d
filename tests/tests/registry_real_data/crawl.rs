//! The generated crawl: a list response of a few thousand entries over every published schema version, each
//! in the shape its version describes, some with a known defect, and what should become of each.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

pub const OFFICIAL: &str = "io.modelcontextprotocol.registry/official";
pub const CURRENT: &str = "2025-12-11";
const VERSIONS: [&str; 6] = [
    "2025-07-09",
    "2025-09-16",
    "2025-09-29",
    "2025-10-11",
    "2025-10-17",
    "2025-12-11",
];

pub fn schema_url(version: &str) -> String {
    format!("https://static.modelcontextprotocol.io/schemas/{version}/server.schema.json")
}

/// Why an entry is invalid, and how each consumer names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// A 2025-09-29 OCI package whose version the official registry moved into the identifier (its migration
    /// 010): 2025-09-29 requires `version`. Valid under the current schema.
    OciMigrated,
    /// A 2025-07-09 entry re-serialized in camelCase (as a Go model writes it): not 2025-07-09's field names.
    Camel0709,
    ReservedVersion,
    LongDescription,
    BadName,
    UnknownSchema,
    NoSchema,
    /// Registry metadata without `publishedAt`.
    BadMeta,
}

impl Defect {
    /// The rule counted in the seeding summary.
    pub fn rule(self) -> &'static str {
        match self {
            Self::OciMigrated => "#/definitions/Package/required",
            Self::Camel0709 => "#/definitions/Package/",
            Self::ReservedVersion => "reserved-version-string",
            Self::LongDescription => "#/definitions/ServerDetail/properties/description/maxLength",
            Self::BadName => "invalid-server-name",
            Self::UnknownSchema => "schema-version-not-available",
            Self::NoSchema => "schema-field-required",
            Self::BadMeta => "unreadable-entry",
        }
    }

    /// What the reason given for it (sync reports, `import`) says.
    pub fn says(self) -> &'static str {
        match self {
            Self::OciMigrated => {
                "packages[0].version: required field \"packages[0].version\" is missing"
            }
            Self::Camel0709 => "packages[0]",
            Self::ReservedVersion => "version: version string 'latest' is reserved",
            Self::LongDescription => "description must be at most 100 characters long (maxLength)",
            Self::BadName => "name: server name format is invalid",
            Self::UnknownSchema => "schema version 2025-08-01",
            Self::NoSchema => "$schema field is required",
            Self::BadMeta => {
                "_meta[\"io.modelcontextprotocol.registry/official\"].publishedAt: missing"
            }
        }
    }
}

/// One entry of the generated file, and what should become of it.
#[derive(Debug, Clone)]
pub struct Expect {
    pub name: String,
    pub version: String,
    pub schema: &'static str,
    pub status: &'static str,
    pub published: String,
    pub defect: Option<Defect>,
    /// A second copy of the item before it in the file.
    pub duplicate: bool,
    /// The file marks it latest.
    pub file_latest: bool,
}

impl Expect {
    pub fn accepted(&self) -> bool {
        self.defect.is_none() && !self.duplicate
    }
    pub fn key(&self) -> (String, String) {
        (self.name.clone(), self.version.clone())
    }
}

/// The schema version of an entry published on day `day` (days since 2025-08-01), as publishers moved on.
fn era(day: u32) -> &'static str {
    match day {
        0..=45 => "2025-07-09",
        46..=58 => "2025-09-16",
        59..=70 => "2025-09-29",
        71..=76 => "2025-10-11",
        77..=131 => "2025-10-17",
        _ => CURRENT,
    }
}

/// `2025-08-01` plus `day` days and `minute` minutes, with microseconds (RFC 3339, UTC).
fn timestamp(day: u32, minute: u32, micros: u32) -> String {
    const MONTHS: [(u32, u32, u32); 7] = [
        (2025, 8, 31),
        (2025, 9, 30),
        (2025, 10, 31),
        (2025, 11, 30),
        (2025, 12, 31),
        (2026, 1, 31),
        (2026, 2, 28),
    ];
    let mut rest = day;
    for (year, month, days) in MONTHS {
        if rest < days {
            return format!(
                "{year}-{month:02}-{:02}T{:02}:{:02}:00.{micros:06}Z",
                rest + 1,
                minute / 60,
                minute % 60
            );
        }
        rest -= days;
    }
    panic!("day {day} is past the generated range")
}

/// A server.json in the shape its schema version describes. `k` varies the package and remote kinds.
fn document(schema: &'static str, name: &str, version: &str, k: usize) -> Value {
    let slug = name.replace(['/', '.'], "-");
    let mut doc = json!({"$schema": schema_url(schema), "name": name,
        "description": format!("Server {slug} from the crawl"), "version": version,
        "repository": {"url": format!("https://github.com/org{k}/{slug}"), "source": "github"}});
    let remote =
        |kind: &str| json!([{"type": kind, "url": format!("https://{slug}.example.com/{kind}")}]);
    match schema {
        "2025-07-09" => {
            doc["status"] = json!("active");
            doc["website_url"] = json!(format!("https://{slug}.example.com"));
            doc["packages"] = json!([{"registry_type": if k.is_multiple_of(2) { "npm" } else { "pypi" },
                "identifier": slug, "version": version, "runtime_hint": if k.is_multiple_of(2) { "npx" } else { "uvx" },
                "transport": {"type": "stdio"},
                "environment_variables": [{"name": "API_TOKEN", "is_secret": true, "is_required": true}]}]);
        }
        "2025-09-16" => {
            doc["status"] = json!("active");
            doc["packages"] = json!([{"registryType": "npm", "identifier": format!("@org{k}/{slug}"),
                "version": version, "transport": {"type": "stdio"},
                "packageArguments": [{"type": "named", "name": "--port", "default": "8080"}]}]);
        }
        "2025-09-29" if k.is_multiple_of(2) => {
            doc["packages"] = json!([{"registryType": "nuget", "identifier": format!("Org{k}.Server"),
                "version": version, "transport": {"type": "stdio"}}]);
        }
        "2025-09-29" => doc["remotes"] = remote("sse"),
        "2025-10-11" => {
            doc["title"] = json!(format!("Org {k}"));
            doc["packages"] = json!([{"registryType": "oci",
                "identifier": format!("ghcr.io/org{k}/{slug}:{version}"), "transport": {"type": "stdio"}}]);
        }
        "2025-10-17" if k.is_multiple_of(2) => {
            doc["icons"] = json!([{"src": format!("https://{slug}.example.com/icon.png"), "mimeType": "image/png"}]);
            doc["packages"] = json!([{"registryType": "mcpb", "version": version,
                "identifier": format!("https://github.com/org{k}/{slug}/releases/download/v{version}/mcp.mcpb"),
                "fileSha256": "a".repeat(64), "transport": {"type": "stdio"}}]);
        }
        "2025-10-17" => doc["remotes"] = remote("streamable-http"),
        _ => {
            doc["remotes"] = json!([{"type": "streamable-http",
                "url": format!("https://{{tenant}}.{slug}.example.com/mcp"),
                "variables": {"tenant": {"description": "Your tenant", "isRequired": true}}}]);
        }
    }
    doc
}

/// Applies a defect to an entry (its document or its metadata).
fn spoil(defect: Defect, e: &mut Expect, doc: &mut Value, meta: &mut Value) {
    match defect {
        Defect::OciMigrated => {
            doc["packages"] = json!([{"registryType": "oci",
                "identifier": format!("docker.io/crawl/{}:{}", e.name.replace('/', "-"), e.version),
                "transport": {"type": "stdio"}}]);
        }
        Defect::Camel0709 => {
            doc["packages"] = json!([{"registryType": "npm", "identifier": "camel", "version": e.version,
                "transport": {"type": "stdio"}}]);
        }
        Defect::ReservedVersion => {
            e.version = "latest".into();
            doc["version"] = json!("latest");
        }
        Defect::LongDescription => doc["description"] = json!("x".repeat(120)),
        Defect::BadName => {
            let (namespace, server) = e.name.split_once('/').unwrap();
            e.name = format!("{namespace}/-{server}-");
            doc["name"] = json!(e.name);
        }
        Defect::UnknownSchema => {
            e.schema = "2025-08-01";
            *doc = document(CURRENT, &e.name, &e.version, 0);
            doc["$schema"] = json!(schema_url("2025-08-01"));
        }
        Defect::NoSchema => {
            e.schema = "none";
            *doc = document(CURRENT, &e.name, &e.version, 0);
            doc.as_object_mut().unwrap().remove("$schema");
        }
        Defect::BadMeta => {
            meta[OFFICIAL]
                .as_object_mut()
                .unwrap()
                .remove("publishedAt");
        }
    }
}

/// The defect (if any) of the `c`th entry, published in `schema`'s era.
fn defect_for(c: usize, schema: &str) -> Option<Defect> {
    if c % 13 != 5 {
        return None;
    }
    let turn = c / 13;
    Some(match schema {
        "2025-07-09" => Defect::Camel0709,
        "2025-09-29" => Defect::OciMigrated,
        CURRENT => [
            Defect::ReservedVersion,
            Defect::LongDescription,
            Defect::BadName,
        ][turn % 3],
        _ => [Defect::UnknownSchema, Defect::NoSchema, Defect::BadMeta][turn % 3],
    })
}

/// The version the registry's rules make latest among `versions` (all semantic here): the highest that is not
/// deleted, else the highest.
pub fn latest_of<'a>(versions: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> Option<String> {
    let key = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let best = |deleted: bool| {
        versions
            .clone()
            .filter(|(_, s)| (*s == "deleted") == deleted)
            .max_by_key(|(v, _)| key(v))
            .map(|(v, _)| v.to_owned())
    };
    best(false).or_else(|| best(true))
}

/// About `servers` × 3 entries over every schema version, as a list response, and what should become of each.
pub fn generate(servers: usize) -> (Value, Vec<Expect>) {
    let mut expects: Vec<Expect> = Vec::new();
    let mut items: Vec<Value> = Vec::new();
    let mut c = 0;
    for k in 0..servers {
        let name = format!("io.github.org{}/server-{k}", k % 97);
        let versions = 1 + (k * 7) % 5;
        let first_day = ((k * 37) % 180) as u32;
        let mut group: Vec<(Expect, Value, Value)> = Vec::new();
        for j in 0..versions {
            // A backport published last: a lower version than the one before it.
            let version = if k % 10 == 3 && j == versions - 1 && j > 1 {
                "1.0.1".to_owned()
            } else {
                format!("1.{j}.0")
            };
            let day = (first_day + 3 * j as u32).min(185);
            let schema = era(day);
            let status = match (k * 31 + j) % 23 {
                0 => "deleted",
                1 | 12 => "deprecated",
                _ => "active",
            };
            // Microseconds that never end in 0, so that they print with six digits whatever the formatter.
            let micros =
                (k as u32 * 7919 + j as u32 * 104_729) % 999_990 / 10 * 10 + 1 + (j as u32 % 9);
            let published = timestamp(day, (k % 600) as u32, micros);
            let mut e = Expect {
                name: name.clone(),
                version: version.clone(),
                schema,
                status,
                published: published.clone(),
                defect: defect_for(c, schema),
                duplicate: false,
                file_latest: false,
            };
            c += 1;
            let mut doc = document(schema, &name, &version, k);
            let mut official = json!({"status": status, "publishedAt": published, "updatedAt": published,
                                      "statusChangedAt": published, "isLatest": false});
            if status == "deprecated" {
                official["statusMessage"] = json!("superseded");
            }
            let mut meta = json!({OFFICIAL: official});
            if let Some(d) = e.defect {
                spoil(d, &mut e, &mut doc, &mut meta);
            }
            group.push((e, doc, meta));
        }
        // The file's isLatest, as the official registry computed it over what it holds.
        let held = group
            .iter()
            .filter(|(e, _, _)| e.name == name && e.version != "latest")
            .map(|(e, _, _)| (e.version.as_str(), e.status));
        let latest = latest_of(held);
        for (mut e, doc, mut meta) in group {
            if e.name == name && Some(&e.version) == latest.as_ref() {
                e.file_latest = true;
                meta[OFFICIAL]["isLatest"] = json!(true);
            }
            let item = json!({"server": doc, "_meta": meta});
            if (expects.len() + 1) % 97 == 7 {
                items.push(item.clone());
                expects.push(e.clone());
                e.duplicate = true;
            }
            items.push(item);
            expects.push(e);
        }
    }
    let count = items.len();
    (
        json!({"servers": items, "metadata": {"nextCursor": "io.github.org96/server-999:1.0.0", "count": count}}),
        expects,
    )
}

/// What a registry holding the accepted entries serves: (name, version) → (status, isLatest).
pub fn expected_rows(expects: &[Expect]) -> BTreeMap<(String, String), (String, bool)> {
    let accepted: Vec<&Expect> = expects.iter().filter(|e| e.accepted()).collect();
    let mut by_name: BTreeMap<&str, Vec<&Expect>> = BTreeMap::new();
    for e in &accepted {
        by_name.entry(&e.name).or_default().push(e);
    }
    let mut out = BTreeMap::new();
    for (name, versions) in by_name {
        let latest = latest_of(versions.iter().map(|e| (e.version.as_str(), e.status)));
        for e in versions {
            let is_latest = latest.as_deref() == Some(e.version.as_str());
            out.insert(
                (name.to_owned(), e.version.clone()),
                (e.status.to_owned(), is_latest),
            );
        }
    }
    out
}

/// The generated file, written to `dir/crawl.json`, checked to span every schema version and defect.
pub fn write_crawl(dir: &Path) -> (Value, Vec<Expect>) {
    let (file, expects) = generate(1000);
    assert!(
        expects.len() > 2500,
        "a few thousand entries: {}",
        expects.len()
    );
    for v in VERSIONS {
        let n = expects
            .iter()
            .filter(|e| e.schema == v && e.accepted())
            .count();
        assert!(n > 50, "{v}: {n} valid entries");
    }
    for d in [
        Defect::OciMigrated,
        Defect::Camel0709,
        Defect::ReservedVersion,
        Defect::LongDescription,
        Defect::BadName,
        Defect::UnknownSchema,
        Defect::NoSchema,
        Defect::BadMeta,
    ] {
        assert!(expects.iter().any(|e| e.defect == Some(d)), "{d:?}");
    }
    assert!(expects.iter().any(|e| e.duplicate));
    std::fs::write(dir.join("crawl.json"), serde_json::to_vec(&file).unwrap()).unwrap();
    (file, expects)
}

/// How many entries a seed skips per rule.
pub fn expected_skips(expects: &[Expect]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for e in expects {
        let rule = match (e.defect, e.duplicate) {
            (Some(d), _) => d.rule(),
            (None, true) => "duplicate-version",
            (None, false) => continue,
        };
        *out.entry(rule).or_default() += 1;
    }
    out
}
