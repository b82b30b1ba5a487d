//! `lint.toml`, `--enable` and `--disable`: each rule's level; `--list-rules`.

use super::*;

/// `lint.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConfigFile {
    #[serde(default)]
    rules: BTreeMap<String, String>,
    #[serde(default)]
    enable: Vec<String>,
    #[serde(default)]
    disable: Vec<String>,
    min_description_length: Option<usize>,
}

/// The effective settings: each rule's severity (`None`: off).
#[derive(Debug, Clone)]
pub struct Config {
    pub severity: HashMap<&'static str, Option<Severity>>,
    pub min_description_length: usize,
}

fn find_rule(id: &str, from: &str) -> anyhow::Result<&'static Rule> {
    RULES.iter().find(|r| r.id == id).with_context(|| {
        format!("{from}: unknown lint rule `{id}` (`thv-registry lint --list-rules` lists them)")
    })
}

fn parse_level(s: &str) -> Option<Option<Severity>> {
    match s.to_ascii_lowercase().as_str() {
        "error" => Some(Some(E)),
        "warning" | "warn" => Some(Some(W)),
        "info" => Some(Some(I)),
        "off" => Some(None),
        _ => None,
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            severity: RULES.iter().map(|r| (r.id, r.default)).collect(),
            min_description_length: MIN_DESCRIPTION_LENGTH,
        }
    }
}

impl Config {
    /// Defaults, then the config file, then `--enable`, then `--disable`.
    pub fn load(
        path: Option<&PathBuf>,
        enable: &[String],
        disable: &[String],
    ) -> anyhow::Result<Self> {
        let mut cfg = Self::default();
        if let Some(path) = path {
            let name = path.display().to_string();
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
            let file: ConfigFile =
                toml::from_str(&text).with_context(|| format!("{name}: invalid lint config"))?;
            for (id, level) in &file.rules {
                let r = find_rule(id, &name)?;
                let Some(sev) = parse_level(level) else {
                    bail!(
                        "{name}: rule `{id}`: severity `{level}` is not error, warning, info or off"
                    );
                };
                cfg.severity.insert(r.id, sev);
            }
            for id in &file.enable {
                cfg.enable(find_rule(id, &name)?);
            }
            for id in &file.disable {
                cfg.severity.insert(find_rule(id, &name)?.id, None);
            }
            if let Some(n) = file.min_description_length {
                cfg.min_description_length = n;
            }
        }
        for id in enable {
            cfg.enable(find_rule(id, "--enable")?);
        }
        for id in disable {
            cfg.severity.insert(find_rule(id, "--disable")?.id, None);
        }
        Ok(cfg)
    }

    fn enable(&mut self, r: &'static Rule) {
        let current = self.severity.get(r.id).copied().flatten();
        self.severity
            .insert(r.id, Some(current.unwrap_or(r.natural)));
    }

    pub fn level(&self, id: &str) -> Option<Severity> {
        self.severity.get(id).copied().flatten()
    }
}

/// One rule as `--list-rules --format json` prints it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleInfo {
    id: &'static str,
    severity: &'static str,
    default_severity: &'static str,
    description: &'static str,
}

fn level_name(s: Option<Severity>) -> &'static str {
    s.map_or("off", severity_name)
}

pub(super) fn list_rules(cfg: &Config, format: OutputFormat) -> anyhow::Result<()> {
    let infos: Vec<RuleInfo> = RULES
        .iter()
        .map(|r| RuleInfo {
            id: r.id,
            severity: level_name(cfg.level(r.id)),
            default_severity: level_name(r.default),
            description: r.description,
        })
        .collect();
    match format {
        OutputFormat::Json => print_stdout(&(serde_json::to_string_pretty(&infos)? + "\n"))?,
        OutputFormat::Text => {
            let rows: Vec<Vec<String>> = infos
                .iter()
                .map(|i| vec![i.id.into(), i.severity.into(), i.description.into()])
                .collect();
            print_stdout(&table(&["RULE", "SEVERITY", "DESCRIPTION"], &rows))?;
        }
    }
    Ok(())
}
