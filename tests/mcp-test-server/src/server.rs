//! The MCP server: the tools the end-to-end tests call.

use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ProgressNotificationParam, RequestMetaObject,
    ServerCapabilities, ServerConfig,
};
use rmcp::{Peer, RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;

use crate::instance::Instance;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EchoArgs {
    /// The text to send back.
    pub text: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AddArgs {
    pub a: i64,
    pub b: i64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SleepArgs {
    /// How long to sleep, in milliseconds.
    pub ms: u64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ProgressArgs {
    /// How many progress notifications to send.
    pub steps: u32,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EnvArgs {
    /// The environment variable to read.
    pub name: String,
}

/// One server per MCP session; every session of a process shares the process's [`Instance`].
#[derive(Debug, Clone)]
pub struct TestServer {
    instance: Arc<Instance>,
}

impl TestServer {
    pub fn new(instance: Arc<Instance>) -> Self {
        Self { instance }
    }
}

#[tool_router]
impl TestServer {
    #[tool(description = "Returns the given text")]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }

    #[tool(description = "Returns the sum a + b")]
    fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> Result<String, String> {
        a.checked_add(b)
            .map(|sum| sum.to_string())
            .ok_or_else(|| format!("{a} + {b} overflows"))
    }

    #[tool(
        description = "Identifies this server process: {\"pid\":N,\"instance\":\"random id drawn at start\"}"
    )]
    fn whoami(&self) -> String {
        self.instance.to_json()
    }

    #[tool(description = "Sleeps for ms milliseconds, then returns \"slept <ms>ms\"")]
    async fn sleep(&self, Parameters(SleepArgs { ms }): Parameters<SleepArgs>) -> String {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        format!("slept {ms}ms")
    }

    #[tool(
        description = "Sends `steps` progress notifications for the request's progress token, then returns \"<n> progress notifications sent\" (0 without a token)"
    )]
    async fn progress(
        &self,
        Parameters(ProgressArgs { steps }): Parameters<ProgressArgs>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
    ) -> Result<String, String> {
        let Some(token) = meta.get_progress_token() else {
            return Ok("0 progress notifications sent".to_owned());
        };
        for step in 1..=steps {
            let param = ProgressNotificationParam::new(token.clone(), f64::from(step))
                .with_total(f64::from(steps))
                .with_message(format!("step {step} of {steps}"));
            peer.notify_progress(param)
                .await
                .map_err(|e| format!("sending progress {step}: {e}"))?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(format!("{steps} progress notifications sent"))
    }

    #[tool(
        description = "Returns the value of the environment variable `name`; a tool error when it is unset"
    )]
    fn env(&self, Parameters(EnvArgs { name }): Parameters<EnvArgs>) -> CallToolResult {
        match std::env::var(&name) {
            Ok(value) => CallToolResult::success(vec![ContentBlock::text(value)]),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(format!("{name}: {e}"))]),
        }
    }
}

#[tool_handler]
impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "thv-test-mcp-server",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions("A test server for ToolHive's end-to-end tests")
    }
}
