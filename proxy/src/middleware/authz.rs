//! `authorization`: Cedar policies decide which tools, prompts and resources each caller may use.
//!
//! The request Cedar evaluates, as ToolHive's `cedarv1` authorizer builds it:
//! - principal `Client::"<sub>"`, with each token claim as an attribute `claim_<name>` (strings, numbers,
//!   booleans and lists of them);
//! - action `Action::"call_tool"` (`tools/call`), `Action::"get_prompt"` (`prompts/get`),
//!   `Action::"read_resource"` (`resources/read`);
//! - resource `Tool::"<name>"`, `Prompt::"<name>"` or `Resource::"<uri>"`, with each argument as an attribute
//!   `arg_<name>` (also in the context, as `context.arg_<name>`).
//!
//! Other methods (initialize, ping, notifications, ...) pass. `tools/list`, `prompts/list` and `resources/list`
//! pass too, and their results are filtered to what the caller may use. A denial is a JSON-RPC error
//! (`-32003`), never a dropped connection.
//!
//! Configuration (`--authz-config FILE`, JSON or YAML; the middleware's parameters are
//! `{"config_data": <the same>}` or `{"config_path": FILE}`):
//! `{"version": "1.0", "type": "cedarv1", "cedar": {"policies": ["permit(...);", ...], "entities_json": "[...]"}}`.
//! Policies and entities are parsed when the proxy starts: an invalid file stops it with the parse error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, RestrictedExpression,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::mcp::{
    FORBIDDEN, Feature, McpMessage, MessageMap, map_response, may_carry_lists, refuse, result_list,
};
use super::{Identity, RequestContext};

/// The `authorization` middleware's parameters: the configuration inline (`config_data`) or a file's path
/// (`config_path`, read when the proxy starts).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuthzParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthzConfig {
    pub version: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub cedar: CedarConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CedarConfig {
    pub policies: Vec<String>,
    /// A JSON array of Cedar entities, as a string (ToolHive's format) or inline.
    #[serde(default)]
    pub entities_json: Option<Value>,
}

/// An authorization configuration that cannot be used, or a request Cedar cannot evaluate.
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    #[error("parameters need config_data or config_path")]
    NoConfiguration,
    #[error("invalid configuration: {0}")]
    Format(String),
    #[error("{field}: '{value}' is not supported ({supported})")]
    Unsupported {
        field: &'static str,
        value: String,
        supported: &'static str,
    },
    #[error("cedar.policies: at least one policy is needed (everything else is denied)")]
    NoPolicies,
    /// A policy or entity Cedar refused; `field` names it (`cedar.policies[2]`).
    #[error("{field}: {reason}")]
    Cedar { field: String, reason: String },
    #[error("authorization config {}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: Box<AuthzError>,
    },
    /// A request that cannot be put to Cedar (it is denied).
    #[error("the request cannot be evaluated: {0}")]
    Evaluation(String),
}

impl AuthzError {
    fn cedar(field: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Cedar {
            field: field.into(),
            reason: reason.to_string(),
        }
    }
}

/// Reads an authorization configuration file (JSON, or YAML by extension) and checks it.
pub fn read_config(path: &Path) -> Result<Value, AuthzError> {
    let in_file = |e: AuthzError| AuthzError::File {
        path: path.to_owned(),
        source: Box::new(e),
    };
    let text = thv_core::files::read_config_text(path)
        .map_err(|e| in_file(AuthzError::Format(e.to_string())))?;
    let yaml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    let value: Result<Value, String> = if yaml {
        serde_yaml_ng::from_str(&text).map_err(|e| e.to_string())
    } else {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    };
    let value = value.map_err(|e| in_file(AuthzError::Format(e)))?;
    Authz::from_config_value(&value, false).map_err(in_file)?;
    Ok(value)
}

/// The layer's state: the parsed policies and static entities.
pub struct Authz {
    policies: PolicySet,
    /// The configuration's static entities, parsed once.
    entities: Vec<Entity>,
    authorizer: Authorizer,
    sse_transport: bool,
    types: Types,
}

/// Entity type names and action ids, parsed once.
struct Types {
    client: EntityTypeName,
    tool: EntityTypeName,
    prompt: EntityTypeName,
    resource: EntityTypeName,
    call_tool: EntityUid,
    get_prompt: EntityUid,
    read_resource: EntityUid,
}

impl Types {
    fn new() -> Self {
        let name = |n: &str| EntityTypeName::from_str(n).expect("a valid entity type name");
        let action = |a: &str| EntityUid::from_type_name_and_id(name("Action"), EntityId::new(a));
        Self {
            client: name("Client"),
            tool: name("Tool"),
            prompt: name("Prompt"),
            resource: name("Resource"),
            call_tool: action("call_tool"),
            get_prompt: action("get_prompt"),
            read_resource: action("read_resource"),
        }
    }
}

impl Authz {
    /// From the middleware parameters: `{"config_data": {...}}` or `{"config_path": "..."}`.
    pub fn from_params(params: &AuthzParams, sse_transport: bool) -> Result<Self, AuthzError> {
        if let Some(data) = &params.config_data {
            return Self::from_config_value(data, sse_transport);
        }
        if let Some(path) = &params.config_path {
            let value = read_config(path)?;
            return Self::from_config_value(&value, sse_transport);
        }
        Err(AuthzError::NoConfiguration)
    }

    fn from_config_value(value: &Value, sse_transport: bool) -> Result<Self, AuthzError> {
        let config =
            AuthzConfig::deserialize(value).map_err(|e| AuthzError::Format(e.to_string()))?;
        if config.version != "1.0" {
            return Err(AuthzError::Unsupported {
                field: "version",
                value: config.version,
                supported: "1.0",
            });
        }
        if config.kind != "cedarv1" {
            return Err(AuthzError::Unsupported {
                field: "type",
                value: config.kind,
                supported: "cedarv1",
            });
        }
        if config.cedar.policies.is_empty() {
            return Err(AuthzError::NoPolicies);
        }
        let mut text = String::new();
        for (i, p) in config.cedar.policies.iter().enumerate() {
            if let Err(e) = p.parse::<PolicySet>() {
                return Err(AuthzError::cedar(format!("cedar.policies[{i}]"), e));
            }
            text.push_str(p);
            text.push('\n');
        }
        let policies: PolicySet = text
            .parse()
            .map_err(|e| AuthzError::cedar("cedar.policies", e))?;
        const ENTITIES: &str = "cedar.entities_json";
        let entities = match config.cedar.entities_json {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) if s.trim().is_empty() => Vec::new(),
            Some(Value::String(s)) => serde_json::from_str::<Vec<Value>>(&s)
                .map_err(|e| AuthzError::cedar(ENTITIES, format_args!("not a JSON array: {e}")))?,
            Some(Value::Array(a)) => a,
            Some(other) => {
                return Err(AuthzError::cedar(
                    ENTITIES,
                    format_args!("expected an array, found {other}"),
                ));
            }
        };
        let entities: Vec<Entity> = Entities::from_json_value(Value::Array(entities), None)
            .map_err(|e| AuthzError::cedar(ENTITIES, e))?
            .iter()
            .cloned()
            .collect();
        Ok(Self {
            policies,
            entities,
            authorizer: Authorizer::new(),
            sse_transport,
            types: Types::new(),
        })
    }

    /// Whether `identity` may do what `message` asks (messages without a target pass).
    pub fn allows(&self, identity: &Identity, message: &McpMessage) -> Result<bool, AuthzError> {
        let Some((feature, name)) = message.target() else {
            return Ok(true);
        };
        self.decide(identity, feature, name, message.arguments())
    }

    fn decide(
        &self,
        identity: &Identity,
        feature: Feature,
        name: &str,
        arguments: Option<&Map<String, Value>>,
    ) -> Result<bool, AuthzError> {
        let evaluation = |e: &dyn std::fmt::Display| AuthzError::Evaluation(e.to_string());
        let t = &self.types;
        let (action, kind) = match feature {
            Feature::Tool => (&t.call_tool, &t.tool),
            Feature::Prompt => (&t.get_prompt, &t.prompt),
            Feature::Resource => (&t.read_resource, &t.resource),
        };
        let args: HashMap<String, RestrictedExpression> = arguments
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| cedar_value(v).map(|v| (format!("arg_{k}"), v)))
            .collect();
        let claims: HashMap<String, RestrictedExpression> = identity
            .claims
            .iter()
            .filter_map(|(k, v)| cedar_value(v).map(|v| (format!("claim_{k}"), v)))
            .collect();
        let principal =
            EntityUid::from_type_name_and_id(t.client.clone(), EntityId::new(&identity.subject));
        let resource = EntityUid::from_type_name_and_id(kind.clone(), EntityId::new(name));
        let mut entities = self.entities.clone();
        entities.push(
            Entity::new(principal.clone(), claims, HashSet::new()).map_err(|e| evaluation(&e))?,
        );
        entities.push(
            Entity::new(resource.clone(), args.clone(), HashSet::new())
                .map_err(|e| evaluation(&e))?,
        );
        let entities = Entities::from_entities(entities, None).map_err(|e| evaluation(&e))?;
        let request = cedar_policy::Request::new(
            principal,
            action.clone(),
            resource,
            Context::from_pairs(args).map_err(|e| evaluation(&e))?,
            None,
        )
        .map_err(|e| evaluation(&e))?;
        let answer = self
            .authorizer
            .is_authorized(&request, &self.policies, &entities);
        Ok(answer.decision() == Decision::Allow)
    }

    /// Keeps the entries of a list result the caller may use.
    fn filter_list(&self, identity: &Identity, message: &mut Value) -> bool {
        let mut changed = false;
        for (key, feature, field) in [
            ("tools", Feature::Tool, "name"),
            ("prompts", Feature::Prompt, "name"),
            ("resources", Feature::Resource, "uri"),
        ] {
            if let Some(list) = result_list(message, key) {
                list.retain(|entry| {
                    entry
                        .get(field)
                        .and_then(Value::as_str)
                        .is_some_and(|n| self.decide(identity, feature, n, None).unwrap_or(false))
                });
                changed = true;
            }
        }
        changed
    }
}

/// A JSON value as a Cedar attribute: strings, integers, booleans, and lists of them (others are left out).
fn cedar_value(v: &Value) -> Option<RestrictedExpression> {
    match v {
        Value::String(s) => Some(RestrictedExpression::new_string(s.clone())),
        Value::Bool(b) => Some(RestrictedExpression::new_bool(*b)),
        Value::Number(n) => n.as_i64().map(RestrictedExpression::new_long),
        Value::Array(items) => Some(RestrictedExpression::new_set(
            items.iter().filter_map(cedar_value),
        )),
        _ => None,
    }
}

/// The middleware.
pub async fn authorize(State(authz): State<Arc<Authz>>, req: Request, next: Next) -> Response {
    let Some(ctx) = req.extensions().get::<Arc<RequestContext>>().cloned() else {
        return next.run(req).await;
    };
    let identity = req
        .extensions()
        .get::<Identity>()
        .cloned()
        .unwrap_or_else(Identity::anonymous);
    if let Some(mcp) = ctx.mcp() {
        let verdict = |m: &McpMessage| match authz.allows(&identity, m) {
            Ok(true) => None,
            Ok(false) => {
                let (_, name) = m.target().unwrap_or((Feature::Tool, "?"));
                Some((
                    FORBIDDEN,
                    format!("Forbidden: {} may not use {name}", identity.subject),
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, "authorization could not be evaluated: denied");
                Some((
                    FORBIDDEN,
                    "Forbidden: the request could not be authorized".to_string(),
                ))
            }
        };
        if let Some(reason) = mcp.messages.iter().find_map(&verdict) {
            ctx.deny(&reason.1);
            return refuse(&mcp, authz.sse_transport, verdict);
        }
    }
    let resp = next.run(req).await;
    if !may_carry_lists(ctx.mcp().as_deref(), &resp) {
        return resp;
    }
    let map: MessageMap = Arc::new(move |m: &mut Value| authz.filter_list(&identity, m));
    map_response(resp, map).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn authz(policies: &[&str]) -> Authz {
        Authz::from_config_value(
            &json!({"version": "1.0", "type": "cedarv1", "cedar": {"policies": policies, "entities_json": "[]"}}),
            false,
        )
        .unwrap()
    }

    fn call(tool: &str, args: Value) -> McpMessage {
        McpRequest::parse(
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":tool,"arguments":args}})
                .to_string()
                .as_bytes(),
        )
        .unwrap()
        .messages
        .remove(0)
    }

    use super::super::mcp::McpRequest;

    #[test]
    fn claims_and_arguments_decide() {
        let a = authz(&[
            r#"permit(principal, action == Action::"call_tool", resource == Tool::"echo");"#,
            r#"permit(principal, action == Action::"call_tool", resource == Tool::"add") when { principal.claim_roles.contains("admin") };"#,
            r#"forbid(principal, action, resource) when { resource has arg_text && resource.arg_text == "forbidden" };"#,
        ]);
        let alice = Identity::from_claims(
            json!({"sub": "alice", "roles": ["admin"]})
                .as_object()
                .unwrap()
                .clone(),
        );
        let bob = Identity::from_claims(
            json!({"sub": "bob", "roles": ["dev"]})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert!(
            a.allows(&alice, &call("echo", json!({"text": "hi"})))
                .unwrap()
        );
        assert!(
            !a.allows(&alice, &call("echo", json!({"text": "forbidden"})))
                .unwrap()
        );
        assert!(
            a.allows(&alice, &call("add", json!({"a": 1, "b": 2})))
                .unwrap()
        );
        assert!(!a.allows(&bob, &call("add", json!({"a": 1}))).unwrap());
        assert!(!a.allows(&bob, &call("other", json!({}))).unwrap());
        let mut list = json!({"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo"},{"name":"add"},{"name":"other"}]}});
        assert!(a.filter_list(&bob, &mut list));
        assert_eq!(list["result"]["tools"], json!([{"name":"echo"}]));
    }

    #[test]
    fn bad_configurations_are_refused_with_the_reason() {
        let bad = |v: Value| {
            Authz::from_config_value(&v, false)
                .err()
                .unwrap()
                .to_string()
        };
        assert!(bad(json!({"version":"1.0","type":"cedarv1","cedar":{"policies":["permit(principal, action"]}})).starts_with("cedar.policies[0]:"));
        assert!(bad(json!({"version":"2.0","type":"cedarv1","cedar":{"policies":["permit(principal,action,resource);"]}})).starts_with("version:"));
        assert!(bad(json!({"version":"1.0","type":"opa","cedar":{"policies":["permit(principal,action,resource);"]}})).starts_with("type:"));
        assert!(
            bad(json!({"version":"1.0","type":"cedarv1","cedar":{"policies":[]}}))
                .contains("at least one")
        );
        assert!(bad(json!({"version":"1.0","type":"cedarv1","cedar":{"policies":["permit(principal,action,resource);"],"entities_json":"{"}})).starts_with("cedar.entities_json"));
    }
}
