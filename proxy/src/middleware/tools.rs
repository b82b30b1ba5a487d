//! `tool-filter` (with `tool-override`): clients see and call only the listed tools, under their overridden names
//! and descriptions — in `tools/list` results and in `tools/call` requests (mapped back to the server's names),
//! consistently. A call of a tool that is filtered out, or of a server name hidden behind an override, is answered
//! as MCP answers an unknown tool (JSON-RPC `-32602`), without reaching the server.
//!
//! Parameters: `{"tools": ["a", "b"], "overrides": {"server_name": {"name": "client_name", "description": "..."}}}`
//! (the RunConfig's `tools_filter` and `tools_override` are this middleware's parameters when set). The filter
//! names the tools as clients see them: a renamed tool by its new name, as ToolHive's filter does.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use thv_core::runconfig::ToolOverride;

use super::RequestContext;
use super::mcp::{INVALID_PARAMS, MessageMap, map_response, may_carry_lists, refuse, result_list};

/// The `tool-filter` middleware's parameters (joined with the RunConfig's `tools_filter` and `tools_override`).
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolFilterParams {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, ToolOverride>,
}

/// Tool overrides that cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum ToolFilterError {
    #[error("tool-filter: overrides.{tool}.name is empty")]
    EmptyName { tool: String },
    #[error("tool-filter: overrides.{tool}.name '{name}' is also the new name of '{previous}'")]
    NameTaken {
        tool: String,
        name: String,
        previous: String,
    },
}

/// The layer's state.
#[derive(Debug, Default)]
pub struct ToolFilter {
    /// Server names allowed (empty: all).
    allowed: Vec<String>,
    /// Server name → override.
    overrides: BTreeMap<String, ToolOverride>,
    /// Client name → server name, for overridden names.
    to_server: HashMap<String, String>,
    sse_transport: bool,
}

impl ToolFilter {
    pub fn new(params: ToolFilterParams, sse_transport: bool) -> Result<Self, ToolFilterError> {
        let mut to_server = HashMap::new();
        for (server_name, o) in &params.overrides {
            if let Some(client_name) = &o.name {
                if client_name.is_empty() {
                    return Err(ToolFilterError::EmptyName {
                        tool: server_name.clone(),
                    });
                }
                if let Some(previous) = to_server.insert(client_name.clone(), server_name.clone()) {
                    return Err(ToolFilterError::NameTaken {
                        tool: server_name.clone(),
                        name: client_name.clone(),
                        previous,
                    });
                }
            }
        }
        Ok(Self {
            allowed: params.tools,
            overrides: params.overrides,
            to_server,
            sse_transport,
        })
    }

    /// The server's name for a tool name a client used; `None` when the client cannot call it.
    fn server_name<'a>(&'a self, client_name: &'a str) -> Option<&'a str> {
        let server_name = match self.to_server.get(client_name) {
            Some(s) => s.as_str(),
            // A server name hidden behind an override is not callable under it.
            None if self
                .overrides
                .get(client_name)
                .is_some_and(|o| o.name.is_some()) =>
            {
                return None;
            }
            None => client_name,
        };
        self.allows(client_name).then_some(server_name)
    }

    /// Whether the filter lets clients see and call the tool they know as `client_name`.
    fn allows(&self, client_name: &str) -> bool {
        self.allowed.is_empty() || self.allowed.iter().any(|a| a == client_name)
    }

    /// Whether a server tool keeps a name that an override gives another tool: a client calling that name
    /// reaches the renamed tool, so this one is not listed (it was listed twice under one name, and could not
    /// be called).
    fn shadowed(&self, server_name: &str) -> bool {
        self.to_server
            .get(server_name)
            .is_some_and(|renamed| renamed != server_name)
            && self
                .overrides
                .get(server_name)
                .is_none_or(|o| o.name.is_none())
    }

    /// Filters and renames a `tools/list` result.
    fn map_list(&self, message: &mut Value) -> bool {
        let Some(tools) = result_list(message, "tools") else {
            return false;
        };
        tools.retain(|t| {
            let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
            let client_name = self
                .overrides
                .get(name)
                .and_then(|o| o.name.as_deref())
                .unwrap_or(name);
            self.allows(client_name) && !self.shadowed(name)
        });
        for tool in tools.iter_mut() {
            let name = tool
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if let Some(o) = self.overrides.get(&name) {
                if let Some(n) = &o.name {
                    tool["name"] = Value::String(n.clone());
                }
                if let Some(d) = &o.description {
                    tool["description"] = Value::String(d.clone());
                }
            }
        }
        true
    }
}

/// The middleware.
pub async fn filter_tools(
    State(filter): State<Arc<ToolFilter>>,
    mut req: Request,
    next: Next,
) -> Response {
    let ctx = req.extensions().get::<Arc<RequestContext>>().cloned();
    if let Some(ctx) = &ctx
        && let Some(mcp) = ctx.mcp()
    {
        let calls: Vec<&str> = mcp
            .messages
            .iter()
            .filter(|m| m.method.as_deref() == Some("tools/call"))
            .filter_map(|m| m.params.as_ref()?.get("name")?.as_str())
            .collect();
        if let Some(refused) = calls.iter().find(|n| filter.server_name(n).is_none()) {
            ctx.deny(&format!("tool '{refused}' is not exposed"));
            return refuse(&mcp, filter.sse_transport, |m| {
                let name = m.params.as_ref()?.get("name")?.as_str()?;
                (m.method.as_deref() == Some("tools/call") && filter.server_name(name).is_none())
                    .then(|| (INVALID_PARAMS, format!("Unknown tool: {name}")))
            });
        }
        let renamed = calls.iter().any(|n| filter.server_name(n) != Some(*n));
        if renamed {
            let mapped = mcp.map(|m| {
                if m.get("method").and_then(Value::as_str) == Some("tools/call")
                    && let Some(name) = m.pointer("/params/name").and_then(Value::as_str)
                    && let Some(server) = filter.server_name(name)
                {
                    m["params"]["name"] = Value::String(server.to_string());
                }
            });
            let bytes = serde_json::to_vec(&mapped.body).unwrap_or_default();
            ctx.set_mcp(mapped);
            req.headers_mut().remove(axum::http::header::CONTENT_LENGTH);
            let (parts, _) = req.into_parts();
            req = Request::from_parts(parts, Body::from(bytes));
        }
    }
    let resp = next.run(req).await;
    if !may_carry_lists(ctx.as_ref().and_then(|c| c.mcp()).as_deref(), &resp) {
        return resp;
    }
    let f = filter.clone();
    let map: MessageMap = Arc::new(move |m: &mut Value| f.map_list(m));
    map_response(resp, map).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "echo".to_string(),
            ToolOverride {
                name: Some("say".into()),
                description: Some("Says it".into()),
            },
        );
        let f = ToolFilter::new(
            ToolFilterParams {
                tools: vec!["say".into(), "add".into()],
                overrides,
            },
            false,
        )
        .unwrap();
        assert_eq!(f.server_name("say"), Some("echo"));
        assert_eq!(f.server_name("echo"), None, "hidden behind its override");
        assert_eq!(f.server_name("add"), Some("add"));
        assert_eq!(f.server_name("secret"), None);
        let mut list = serde_json::json!({"jsonrpc":"2.0","id":1,"result":{"tools":[
            {"name":"echo","description":"Echoes"},{"name":"add"},{"name":"secret"}]}});
        assert!(f.map_list(&mut list));
        assert_eq!(
            list["result"]["tools"],
            serde_json::json!([{"name":"say","description":"Says it"},{"name":"add"}])
        );
    }

    /// The filter names tools as clients see them, as ToolHive's does: a renamed tool by its new name; its server
    /// name lets nothing through (it filtered by the server's names, so a ToolHive RunConfig listed nothing).
    #[test]
    fn the_filter_names_tools_as_clients_see_them() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "add".to_string(),
            ToolOverride {
                name: Some("sum".into()),
                description: None,
            },
        );
        let filter = |tools: &[&str]| {
            ToolFilter::new(
                ToolFilterParams {
                    tools: tools.iter().map(|t| t.to_string()).collect(),
                    overrides: overrides.clone(),
                },
                false,
            )
            .unwrap()
        };
        let list = || serde_json::json!({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"},{"name":"add"}]}});
        let by_client_name = filter(&["echo", "sum"]);
        let mut l = list();
        assert!(by_client_name.map_list(&mut l));
        assert_eq!(
            l["result"]["tools"],
            serde_json::json!([{"name":"echo"},{"name":"sum"}])
        );
        assert_eq!(by_client_name.server_name("sum"), Some("add"));
        let by_server_name = filter(&["echo", "add"]);
        let mut l = list();
        assert!(by_server_name.map_list(&mut l));
        assert_eq!(l["result"]["tools"], serde_json::json!([{"name":"echo"}]));
        assert_eq!(by_server_name.server_name("sum"), None);
        assert_eq!(by_server_name.server_name("add"), None);
    }

    /// A rename onto the name of another tool of the server: the client sees one tool under that name, the one
    /// its calls reach.
    #[test]
    fn a_rename_onto_another_tools_name_shadows_it() {
        let mut overrides = BTreeMap::new();
        let rename = |to: &str| ToolOverride {
            name: Some(to.into()),
            description: None,
        };
        overrides.insert("echo".to_string(), rename("add"));
        let f = ToolFilter::new(
            ToolFilterParams {
                tools: vec![],
                overrides: overrides.clone(),
            },
            false,
        )
        .unwrap();
        let mut list = serde_json::json!({"jsonrpc":"2.0","id":1,"result":{"tools":[
            {"name":"echo"},{"name":"add"},{"name":"other"}]}});
        assert!(f.map_list(&mut list));
        assert_eq!(
            list["result"]["tools"],
            serde_json::json!([{"name":"add"},{"name":"other"}])
        );
        assert_eq!(f.server_name("add"), Some("echo"));
        // Both renamed (a swap): both listed, each under the other's name.
        overrides.insert("add".to_string(), rename("echo"));
        let f = ToolFilter::new(
            ToolFilterParams {
                tools: vec![],
                overrides,
            },
            false,
        )
        .unwrap();
        let mut list = serde_json::json!({"jsonrpc":"2.0","id":1,"result":{"tools":[
            {"name":"echo"},{"name":"add"}]}});
        assert!(f.map_list(&mut list));
        assert_eq!(
            list["result"]["tools"],
            serde_json::json!([{"name":"add"},{"name":"echo"}])
        );
        assert_eq!(f.server_name("add"), Some("echo"));
        assert_eq!(f.server_name("echo"), Some("add"));
    }
}
