//! The proxy's middleware chain: tower layers around the proxy's router (stdio bridge or transparent proxy),
//! configured by the RunConfig's `middleware_configs` (`[{type, parameters}]`) plus its `tools_filter` and
//! `tools_override`, built (and every configuration checked) when the proxy starts.
//!
//! The order, outermost first — each layer sees what the ones before it learned about the request, through the
//! [`RequestContext`] the first one creates:
//!
//! 1. context (always): the request's shared [`RequestContext`];
//! 2. `mcp-parser` (always when a chain is configured): the JSON-RPC messages of a POST, parsed once (so that
//!    metrics and audit name the method even of a request that authentication refuses);
//! 3. `telemetry` ([`metrics`], [`tracing_otlp`]): Prometheus metrics on their own address, OTLP traces;
//! 4. `audit` ([`audit`]): one NDJSON event per request, written when its response begins;
//! 5. `auth` ([`auth`]): the caller's [`Identity`] from an OIDC token (401 otherwise), or anonymous;
//! 6. `tool-filter` ([`tools`]): only the listed tools, under their overridden names;
//! 7. `authorization` ([`authz`]): Cedar policies over calls, and list results filtered per caller.
//!
//! `GET /health` passes every layer untouched.

pub mod audit;
pub mod auth;
pub mod authz;
pub mod mcp;
pub mod metrics;
pub mod spec;
pub mod tools;
pub mod tracing_otlp;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use thv_core::runconfig::{MiddlewareConfig, ToolOverride};

use self::mcp::McpRequest;
pub use self::spec::{MiddlewareError, MiddlewareSpec, TYPES};

/// Who is calling.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The token's `sub`, or `anonymous`.
    pub subject: String,
    /// Shared: the same token's claims serve every request that carries it.
    pub claims: Arc<Map<String, Value>>,
}

impl Identity {
    pub fn anonymous() -> Self {
        Self {
            subject: "anonymous".into(),
            claims: Arc::default(),
        }
    }

    pub fn from_claims(claims: impl Into<Arc<Map<String, Value>>>) -> Self {
        let claims = claims.into();
        Self {
            subject: claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
            claims,
        }
    }

    /// `name`, `preferred_username` or `email`, when the token has one.
    pub fn display_name(&self) -> Option<String> {
        ["name", "preferred_username", "email"]
            .iter()
            .find_map(|k| self.claims.get(*k).and_then(Value::as_str))
            .map(str::to_string)
    }
}

/// What the layers learn about one request, shared between them.
#[derive(Debug, Default)]
pub struct RequestContext {
    pub identity: OnceLock<Identity>,
    mcp: Mutex<Option<Arc<McpRequest>>>,
    denied: Mutex<Option<String>>,
}

impl RequestContext {
    /// The request's JSON-RPC messages (as the layers so far left them).
    pub fn mcp(&self) -> Option<Arc<McpRequest>> {
        self.mcp.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_mcp(&self, request: McpRequest) {
        *self.mcp.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(request));
    }

    /// Records that a layer refused the request, and why.
    pub fn deny(&self, reason: &str) {
        self.denied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| reason.to_string());
    }

    pub fn denied(&self) -> Option<String> {
        self.denied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A request's outcome as audit and traces report it: `denied` (a layer refused it, or 401/403), `error` (5xx),
/// `failure` (another 4xx, or a JSON-RPC error answer), `success`.
pub fn outcome(
    ctx: Option<&RequestContext>,
    status: StatusCode,
    jsonrpc_error: bool,
) -> &'static str {
    if ctx.and_then(RequestContext::denied).is_some()
        || status == StatusCode::UNAUTHORIZED
        || status == StatusCode::FORBIDDEN
    {
        "denied"
    } else if status.is_server_error() {
        "error"
    } else if status.is_client_error() || jsonrpc_error {
        "failure"
    } else {
        "success"
    }
}

/// What the chain needs to know about the proxy.
#[derive(Debug, Clone)]
pub struct ChainSettings {
    /// The workload's name (audit component, metrics label).
    pub workload: String,
    /// The server's transport (`stdio`, `sse`, `streamable-http`), for audit.
    pub transport: String,
    /// Clients speak the SSE transport (refusals are the POST's answer).
    pub sse_clients: bool,
    /// The request body limit.
    pub body_limit: usize,
}

/// A configured chain; [`Chain::apply`] puts it around a router.
#[derive(Clone, Default)]
pub struct Chain {
    telemetry: Option<(Arc<metrics::Metrics>, SocketAddr)>,
    audit: Option<Arc<audit::Audit>>,
    auth: Option<Arc<auth::Auth>>,
    tools: Option<Arc<tools::ToolFilter>>,
    authz: Option<Arc<authz::Authz>>,
    body_limit: usize,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("telemetry", &self.telemetry.as_ref().map(|t| t.1))
            .field("audit", &self.audit.is_some())
            .field("auth", &self.auth.as_ref().map(|a| !a.is_anonymous()))
            .field("tool_filter", &self.tools.is_some())
            .field("authorization", &self.authz.is_some())
            .finish()
    }
}

impl Chain {
    /// Builds the chain from a RunConfig's middleware entries ([`MiddlewareSpec::parse_all`]) and its
    /// `tools_filter` and `tools_override`: an invalid configuration is an error here, before the proxy serves
    /// anything.
    pub fn from_run_config(
        configs: &[MiddlewareConfig],
        tools_filter: &[String],
        tools_override: &std::collections::BTreeMap<String, ToolOverride>,
        settings: &ChainSettings,
    ) -> Result<Self, MiddlewareError> {
        let specs = MiddlewareSpec::parse_all(configs)?;
        Self::build(&specs, tools_filter, tools_override, settings)
    }

    /// Builds the chain, checking every setting (files named in them are read now, the audit log opened).
    pub fn build(
        specs: &[MiddlewareSpec],
        tools_filter: &[String],
        tools_override: &std::collections::BTreeMap<String, ToolOverride>,
        settings: &ChainSettings,
    ) -> Result<Self, MiddlewareError> {
        let mut chain = Self {
            body_limit: settings.body_limit,
            ..Self::default()
        };
        let mut tool_params = tools::ToolFilterParams {
            tools: tools_filter.to_vec(),
            overrides: tools_override.clone(),
        };
        for (index, spec) in specs.iter().enumerate() {
            chain
                .add(spec, settings, &mut tool_params)
                .map_err(|e| e.at(index, spec.type_name()))?;
        }
        if !tool_params.tools.is_empty() || !tool_params.overrides.is_empty() {
            chain.tools = Some(Arc::new(tools::ToolFilter::new(
                tool_params,
                settings.sse_clients,
            )?));
        }
        Ok(chain)
    }

    /// One middleware into the chain (a tool filter's settings are joined into `tools`).
    fn add(
        &mut self,
        spec: &MiddlewareSpec,
        settings: &ChainSettings,
        tools: &mut tools::ToolFilterParams,
    ) -> Result<(), MiddlewareError> {
        match spec {
            MiddlewareSpec::Auth(p) => self.auth = Some(Arc::new(auth::Auth::from_params(p)?)),
            MiddlewareSpec::Authorization(p) => {
                let authz = authz::Authz::from_params(p, settings.sse_clients)?;
                self.authz = Some(Arc::new(authz));
            }
            MiddlewareSpec::Audit(p) => {
                let audit = audit::Audit::from_params(p, &settings.workload, &settings.transport)?;
                self.audit = Some(Arc::new(audit));
            }
            MiddlewareSpec::ToolFilter(p) => {
                tools.tools.extend(p.tools.iter().cloned());
                tools
                    .overrides
                    .extend(p.overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            MiddlewareSpec::Telemetry(p) => {
                let addr = p.metrics_address.as_deref().unwrap_or("127.0.0.1:0");
                let addr: SocketAddr =
                    addr.parse()
                        .map_err(|source| MiddlewareError::MetricsAddress {
                            address: addr.to_owned(),
                            source,
                        })?;
                let mut metrics = metrics::Metrics::new(&settings.workload);
                metrics.traces = tracing_otlp::Traces::from_params(p, &settings.workload)?;
                self.telemetry = Some((Arc::new(metrics), addr));
            }
            MiddlewareSpec::McpParser => {}
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.telemetry.is_none()
            && self.audit.is_none()
            && self.auth.is_none()
            && self.tools.is_none()
            && self.authz.is_none()
    }

    /// Starts what runs beside the proxy (the metrics endpoint); returns its address.
    pub async fn start(&mut self) -> std::io::Result<Option<SocketAddr>> {
        match &mut self.telemetry {
            Some((m, addr)) => {
                *addr = metrics::serve(m.clone(), *addr).await?;
                Ok(Some(*addr))
            }
            None => Ok(None),
        }
    }

    /// `router` inside the chain's layers, in the documented order.
    pub fn apply(&self, router: Router) -> Router {
        if self.is_empty() {
            return router;
        }
        let mut r = router;
        // Innermost first.
        if let Some(a) = &self.authz {
            r = r.layer(from_fn_with_state(a.clone(), authz::authorize));
        }
        if let Some(t) = &self.tools {
            r = r.layer(from_fn_with_state(t.clone(), tools::filter_tools));
        }
        if let Some(a) = &self.auth {
            r = r.layer(from_fn_with_state(a.clone(), auth::authenticate));
        }
        if let Some(a) = &self.audit {
            r = r.layer(from_fn_with_state(a.clone(), audit::audit));
        }
        if let Some((m, _)) = &self.telemetry {
            r = r.layer(from_fn_with_state(m.clone(), metrics::measure));
        }
        r.layer(from_fn_with_state(self.body_limit, parse_mcp))
            .layer(from_fn(context))
    }
}

/// The outermost layer: the request's [`RequestContext`].
async fn context(mut req: Request, next: Next) -> Response {
    req.extensions_mut()
        .insert(Arc::new(RequestContext::default()));
    next.run(req).await
}

/// `mcp-parser`: reads a POST body (up to the limit) and records its JSON-RPC messages.
async fn parse_mcp(
    axum::extract::State(limit): axum::extract::State<usize>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(ctx) = req.extensions().get::<Arc<RequestContext>>().cloned() else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                axum::Json(mcp::error_message(
                    &Value::Null,
                    -32600,
                    "request body too large",
                )),
            )
                .into_response();
        }
    };
    if let Some(parsed) = McpRequest::parse(&bytes) {
        ctx.set_mcp(parsed);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
