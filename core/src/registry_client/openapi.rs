//! The registry's OpenAPI `info` and ToolHive's compatibility check, with the line-based extraction of `info` from
//! a YAML document.

use reqwest::Method;
use serde_json::Value;

use super::request::Auth;
use super::{RegistryClient, RegistryClientError};

/// The `info.version` ToolHive requires of a registry's OpenAPI document.
pub const OPENAPI_REQUIRED_VERSION: &str = "1.0.0";
/// What ToolHive requires `info.description` of a registry's OpenAPI document to contain.
pub const OPENAPI_REQUIRED_DESCRIPTION: &str = "https://github.com/modelcontextprotocol/registry";

/// What a registry's OpenAPI document says about itself (`info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenApiInfo {
    /// The document's URL (`{base}/openapi.json` or `{base}/openapi.yaml`).
    pub url: String,
    pub title: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
}

impl OpenApiInfo {
    /// Why ToolHive would refuse this registry as an `api` source, or `None` when it passes: `info.version` must be
    /// [`OPENAPI_REQUIRED_VERSION`] and `info.description` must contain [`OPENAPI_REQUIRED_DESCRIPTION`].
    pub fn incompatibility(&self) -> Option<String> {
        if self.version.as_deref() != Some(OPENAPI_REQUIRED_VERSION) {
            return Some(format!(
                "info.version is {}, expected \"{OPENAPI_REQUIRED_VERSION}\"",
                self.version
                    .as_deref()
                    .map_or("missing".to_string(), |v| format!("{v:?}"))
            ));
        }
        if !self
            .description
            .as_deref()
            .is_some_and(|d| d.contains(OPENAPI_REQUIRED_DESCRIPTION))
        {
            return Some(format!(
                "info.description does not mention {OPENAPI_REQUIRED_DESCRIPTION}"
            ));
        }
        None
    }

    /// True when [`incompatibility`](Self::incompatibility) finds nothing.
    pub fn is_toolhive_compatible(&self) -> bool {
        self.incompatibility().is_none()
    }
}

impl RegistryClient {
    /// Fetches the registry's OpenAPI `info`: `{base}/openapi.json` first, then `{base}/openapi.yaml` when the JSON
    /// document is missing or unreadable. Only `info.title`, `info.version` and `info.description` are read (the
    /// YAML by a small line-based extraction, which handles plain, quoted, multi-line and block scalars).
    pub async fn fetch_openapi(&self) -> Result<OpenApiInfo, RegistryClientError> {
        let json_url = self.root_url("openapi.json");
        let (status, body) = self
            .execute(
                Method::GET,
                json_url.clone(),
                None,
                Auth::Optional,
                "application/json",
            )
            .await?;
        let json_failure = if status.is_success() {
            match serde_json::from_slice::<Value>(&body) {
                Ok(doc) if doc.get("info").is_some_and(Value::is_object) => {
                    return Ok(info_from_json(json_url.as_str(), &doc));
                }
                Ok(_) => "it has no info object".to_string(),
                Err(e) => format!("it is not JSON: {e}"),
            }
        } else {
            format!("HTTP {}", status.as_u16())
        };
        let yaml_url = self.root_url("openapi.yaml");
        let (status, body) = self
            .execute(
                Method::GET,
                yaml_url.clone(),
                None,
                Auth::Optional,
                "application/yaml, text/yaml;q=0.9, */*;q=0.8",
            )
            .await?;
        if !status.is_success() {
            let what = format!("OpenAPI document ({json_url}: {json_failure}; {yaml_url})");
            return Err(self.status_error(status, &body, &Method::GET, &yaml_url, Some(&what)));
        }
        let text = String::from_utf8_lossy(&body);
        let info = if text.trim_start().starts_with('{') {
            serde_json::from_str::<Value>(&text)
                .map(|doc| info_from_json(yaml_url.as_str(), &doc))
                .map_err(|e| RegistryClientError::Decode {
                    url: yaml_url.to_string(),
                    message: format!("not JSON nor YAML: {e}"),
                })?
        } else {
            let fields = yaml_info(&text).ok_or_else(|| RegistryClientError::Decode {
                url: yaml_url.to_string(),
                message: format!(
                    "no top-level info mapping found (and {json_url} failed: {json_failure})"
                ),
            })?;
            OpenApiInfo {
                url: yaml_url.to_string(),
                title: fields.title,
                version: fields.version,
                description: fields.description,
            }
        };
        Ok(info)
    }

    /// [`fetch_openapi`](Self::fetch_openapi), then ToolHive's compatibility rule
    /// ([`OpenApiInfo::incompatibility`]): [`RegistryClientError::Incompatible`] when it fails.
    pub async fn check_openapi(&self) -> Result<OpenApiInfo, RegistryClientError> {
        let info = self.fetch_openapi().await?;
        match info.incompatibility() {
            None => Ok(info),
            Some(message) => Err(RegistryClientError::Incompatible {
                url: info.url,
                message,
            }),
        }
    }
}

fn info_from_json(url: &str, doc: &Value) -> OpenApiInfo {
    let info = &doc["info"];
    let field = |key: &str| match &info[key] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    OpenApiInfo {
        url: url.to_string(),
        title: field("title"),
        version: field("version"),
        description: field("description"),
    }
}

/// `info.title`, `info.version` and `info.description` of a YAML OpenAPI document.
#[derive(Debug, Default, PartialEq, Eq)]
struct InfoFields {
    title: Option<String>,
    version: Option<String>,
    description: Option<String>,
}

/// Extracts three scalars of the top-level `info` mapping of a YAML document, line by line: no YAML library is
/// needed for that. Handles plain (also multi-line), single- and double-quoted and block (`|`, `>`) scalars, and
/// comments. `None` when there is no top-level `info:` block mapping.
fn yaml_info(text: &str) -> Option<InfoFields> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| {
        split_key(l).is_some_and(|(key, rest)| key == "info" && is_blank_or_comment(rest))
    })?;
    let mut fields = InfoFields::default();
    let mut child_indent = None;
    let mut i = start + 1;
    while i < lines.len() {
        let line = lines[i];
        let content = line.trim_start_matches(' ');
        if is_blank_or_comment(content) {
            i += 1;
            continue;
        }
        let indent = line.len() - content.len();
        if indent == 0 {
            break;
        }
        if indent == *child_indent.get_or_insert(indent)
            && let Some((key, rest)) = split_key(content)
            && matches!(key.as_str(), "title" | "version" | "description")
        {
            let (value, next) = yaml_scalar(&lines, i, indent, rest);
            match key.as_str() {
                "title" => fields.title = value,
                "version" => fields.version = value,
                _ => fields.description = value,
            }
            i = next.max(i + 1);
            continue;
        }
        i += 1;
    }
    Some(fields)
}

fn is_blank_or_comment(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || t.starts_with('#')
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// `key: rest` at the start of `content` (indentation already removed; the key may be quoted).
fn split_key(content: &str) -> Option<(String, &str)> {
    let (key, after) = match content.chars().next()? {
        q @ ('"' | '\'') => {
            let end = content[1..].find(q)? + 1;
            (content[1..end].to_string(), &content[end + 1..])
        }
        _ => {
            let colon = content
                .match_indices(':')
                .find(|(i, _)| matches!(content[i + 1..].chars().next(), None | Some(' ' | '\t')))?
                .0;
            (content[..colon].trim_end().to_string(), &content[colon..])
        }
    };
    let rest = after.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some((key, rest.trim_start()))
}

/// The scalar that starts after `key:` on line `i` (whose key is at `indent`), and the index of the first line after
/// it.
fn yaml_scalar(lines: &[&str], i: usize, indent: usize, rest: &str) -> (Option<String>, usize) {
    match rest.chars().next() {
        Some('"') => quoted_scalar(lines, i, &rest[1..], '"'),
        Some('\'') => quoted_scalar(lines, i, &rest[1..], '\''),
        Some('|' | '>') => block_scalar(lines, i, indent, rest),
        _ => plain_scalar(lines, i, indent, rest),
    }
}

/// The text of a plain scalar's line: up to a ` #` comment, trimmed.
fn strip_comment(s: &str) -> &str {
    let end = s
        .match_indices('#')
        .find(|(i, _)| *i == 0 || s[..*i].ends_with([' ', '\t']))
        .map_or(s.len(), |(i, _)| i);
    s[..end].trim()
}

/// A plain scalar, folded over the more-indented lines that follow.
fn plain_scalar(lines: &[&str], i: usize, indent: usize, rest: &str) -> (Option<String>, usize) {
    let mut value = strip_comment(rest).to_string();
    let mut pending_newlines = 0;
    let mut j = i + 1;
    while j < lines.len() {
        let line = lines[j];
        if line.trim().is_empty() {
            pending_newlines += 1;
            j += 1;
            continue;
        }
        if indent_of(line) <= indent || line.trim_start().starts_with('#') {
            break;
        }
        let text = strip_comment(line.trim());
        if value.is_empty() {
            value = text.to_string();
        } else if pending_newlines > 0 {
            value.push_str(&"\n".repeat(pending_newlines));
            value.push_str(text);
        } else {
            value.push(' ');
            value.push_str(text);
        }
        pending_newlines = 0;
        j += 1;
    }
    let next = j - pending_newlines;
    ((!value.is_empty()).then_some(value), next.max(i + 1))
}

/// A quoted scalar starting after its opening quote on line `i`, possibly over several lines (folded: a line break
/// is a space, an empty line a newline).
fn quoted_scalar(lines: &[&str], i: usize, first: &str, quote: char) -> (Option<String>, usize) {
    let mut out = String::new();
    let mut j = i;
    let mut segment = first;
    loop {
        let mut chars = segment.char_indices().peekable();
        let mut escaped_break = false;
        while let Some((pos, c)) = chars.next() {
            if c == quote {
                if quote == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                return (Some(out), j + 1);
            }
            if quote == '"' && c == '\\' {
                match chars.next() {
                    None => {
                        escaped_break = true;
                        break;
                    }
                    Some((_, e)) => match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '0' => out.push('\0'),
                        ' ' => out.push(' '),
                        '/' => out.push('/'),
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        'x' | 'u' | 'U' => {
                            let len = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let start = pos + 2;
                            let hex = segment.get(start..start + len).unwrap_or("");
                            match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                                Some(ch) if hex.len() == len => {
                                    out.push(ch);
                                    for _ in 0..len {
                                        chars.next();
                                    }
                                }
                                _ => {
                                    out.push('\\');
                                    out.push(e);
                                }
                            }
                        }
                        other => {
                            out.push('\\');
                            out.push(other);
                        }
                    },
                }
                continue;
            }
            out.push(c);
        }
        // The line ended inside the quotes: fold into the next non-empty line.
        if !escaped_break {
            let trimmed = out.trim_end_matches([' ', '\t']).len();
            out.truncate(trimmed);
        }
        j += 1;
        let mut empty = 0;
        while j < lines.len() && lines[j].trim().is_empty() {
            empty += 1;
            j += 1;
        }
        if j >= lines.len() {
            return (None, j);
        }
        if empty > 0 {
            out.push_str(&"\n".repeat(empty));
        } else if !escaped_break {
            out.push(' ');
        }
        segment = lines[j].trim_start_matches([' ', '\t']);
    }
}

/// A block scalar (`|` literal, `>` folded; chomping `-`/`+`, an optional indentation digit).
fn block_scalar(lines: &[&str], i: usize, indent: usize, header: &str) -> (Option<String>, usize) {
    let header = strip_comment(header);
    let literal = header.starts_with('|');
    let chomp = if header.contains('-') {
        '-'
    } else if header.contains('+') {
        '+'
    } else {
        ' '
    };
    let explicit = header
        .chars()
        .find_map(|c| c.to_digit(10))
        .map(|d| indent + d as usize);
    let mut j = i + 1;
    let mut block_indent = explicit;
    let mut body: Vec<&str> = Vec::new();
    while j < lines.len() {
        let line = lines[j];
        if line.trim().is_empty() {
            body.push("");
            j += 1;
            continue;
        }
        let ind = indent_of(line);
        let bi = *block_indent.get_or_insert(ind);
        if ind <= indent || ind < bi {
            break;
        }
        body.push(&line[bi..]);
        j += 1;
    }
    // Trailing empty lines belong to the scalar only for chomping, not to the document structure.
    let trailing = body.iter().rev().take_while(|l| l.is_empty()).count();
    let next = j - trailing;
    let content = &body[..body.len() - trailing];
    let mut value = if literal {
        content.join("\n")
    } else {
        let mut folded = String::new();
        let mut prev_more_indented = false;
        for (k, line) in content.iter().enumerate() {
            let more_indented = line.starts_with([' ', '\t']);
            if k > 0 {
                // Each empty line is a newline; the break before it is dropped, as is the break after
                // it (unless the next line is more indented); other breaks fold into spaces.
                if line.is_empty() {
                    folded.push('\n');
                } else if content[k - 1].is_empty() {
                    if more_indented {
                        folded.push('\n');
                    }
                } else if more_indented || prev_more_indented {
                    folded.push('\n');
                } else {
                    folded.push(' ');
                }
            }
            folded.push_str(line);
            prev_more_indented = more_indented;
        }
        folded
    };
    match chomp {
        '-' => {}
        '+' => value.push_str(&"\n".repeat(trailing + 1)),
        _ if !content.is_empty() => value.push('\n'),
        _ => {}
    }
    (Some(value), next.max(i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_info_reads_every_scalar_style() {
        let ours = "openapi: 3.1.0\ninfo:\n  title: ToolHive MCP Registry API\n  description: An implementation of the MCP Registry API (https://github.com/modelcontextprotocol/registry), served under /v0.\n  version: 1.0.0\npaths:\n  /v0.1/health:\n    get:\n      description: not this one\n";
        let f = yaml_info(ours).unwrap();
        assert_eq!(f.version.as_deref(), Some("1.0.0"));
        assert_eq!(f.title.as_deref(), Some("ToolHive MCP Registry API"));
        assert!(
            f.description
                .unwrap()
                .contains(OPENAPI_REQUIRED_DESCRIPTION)
        );

        let styles = "\u{feff}# comment\r\ninfo: # the info\r\n    title: 'It''s a registry'\r\n    version: \"1.0.0\" # quoted\r\n    contact:\r\n      version: nested\r\n    description: >-\r\n      A registry\r\n      following\r\n\r\n      https://github.com/modelcontextprotocol/registry\r\nservers: []\r\n";
        let f = yaml_info(styles).unwrap();
        assert_eq!(f.title.as_deref(), Some("It's a registry"));
        assert_eq!(f.version.as_deref(), Some("1.0.0"));
        assert_eq!(
            f.description.as_deref(),
            Some("A registry following\nhttps://github.com/modelcontextprotocol/registry")
        );

        let multi = "info:\n  description: \"Spec of\n    https://github.com/modelcontextprotocol/registry \\u00e9\\\n    t\\u00e9\"\n  version: 1.0.0\n  title: plain\n    continued # c\n";
        let f = yaml_info(multi).unwrap();
        assert_eq!(
            f.description.as_deref(),
            Some("Spec of https://github.com/modelcontextprotocol/registry été")
        );
        assert_eq!(f.version.as_deref(), Some("1.0.0"));
        assert_eq!(f.title.as_deref(), Some("plain continued"));

        let literal = "info:\n  description: |\n    line one\n      indented\n    line two\n\n  version: '2025-12-01'\n";
        let f = yaml_info(literal).unwrap();
        assert_eq!(
            f.description.as_deref(),
            Some("line one\n  indented\nline two\n")
        );
        assert_eq!(f.version.as_deref(), Some("2025-12-01"));

        assert_eq!(yaml_info("openapi: 3.1.0\npaths: {}\n"), None);
        assert_eq!(yaml_info("info:\n"), Some(InfoFields::default()));
    }

    #[test]
    fn openapi_compatibility_is_toolhive_rule() {
        let mut info = OpenApiInfo {
            url: "u".into(),
            title: None,
            version: Some("1.0.0".into()),
            description: Some(format!("see {OPENAPI_REQUIRED_DESCRIPTION}")),
        };
        assert!(info.is_toolhive_compatible());
        info.version = Some("2025-12-01".into());
        assert!(info.incompatibility().unwrap().contains("2025-12-01"));
        info.version = Some("1.0.0".into());
        info.description = Some("a registry".into());
        assert!(info.incompatibility().unwrap().contains("description"));
    }
}
