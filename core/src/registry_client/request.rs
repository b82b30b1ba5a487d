//! Sending a request, reading its answer within the size cap, and turning failures into [`RegistryClientError`]s.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::error::error_message;
use super::{REDACTED, RegistryClient, RegistryClientError};
use crate::output::error_chain;

/// Whether a request needs the bearer token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Auth {
    Optional,
    Required,
}

impl RegistryClient {
    /// Sends a request and decodes a 2xx JSON answer; any other answer becomes the matching [`RegistryClientError`].
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        auth: Auth,
        what: Option<&str>,
    ) -> Result<T, RegistryClientError> {
        let (status, bytes) = self
            .execute(method.clone(), url.clone(), body, auth, "application/json")
            .await?;
        if !status.is_success() {
            return Err(self.status_error(status, &bytes, &method, &url, what));
        }
        serde_json::from_slice(&bytes).map_err(|e| RegistryClientError::Decode {
            url: url.to_string(),
            message: self.scrub(format!("{e} (HTTP {})", status.as_u16())),
        })
    }

    /// Sends a request and reads the whole body (within the size cap); only transport failures are errors here.
    pub(super) async fn execute(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        auth: Auth,
        accept: &'static str,
    ) -> Result<(StatusCode, Vec<u8>), RegistryClientError> {
        if auth == Auth::Required && self.token.is_none() {
            return Err(RegistryClientError::Unauthorized(format!(
                "{method} {url} needs a registry token, and none is configured"
            )));
        }
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .header(ACCEPT, accept);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.header(CONTENT_TYPE, "application/json").body(body);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(&method, &url, e))?;
        let status = resp.status();
        let too_large = || RegistryClientError::Decode {
            url: url.to_string(),
            message: format!(
                "the response body is larger than {} bytes",
                self.max_response_bytes
            ),
        };
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_response_bytes as u64)
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.transport_error(&method, &url, e))?
        {
            if bytes.len() + chunk.len() > self.max_response_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, bytes))
    }

    fn transport_error(
        &self,
        method: &Method,
        url: &Url,
        e: reqwest::Error,
    ) -> RegistryClientError {
        let kind = if e.is_timeout() {
            format!("timed out after {}", humanize(self.timeout))
        } else if e.is_connect() {
            "cannot connect".to_string()
        } else {
            "no answer".to_string()
        };
        let detail = error_chain(&e.without_url());
        RegistryClientError::Transport(self.scrub(format!("{method} {url}: {kind}: {detail}")))
    }

    pub(super) fn status_error(
        &self,
        status: StatusCode,
        body: &[u8],
        method: &Method,
        url: &Url,
        what: Option<&str>,
    ) -> RegistryClientError {
        let message = self.scrub(error_message(status, body));
        match status {
            StatusCode::UNAUTHORIZED => RegistryClientError::Unauthorized(message),
            StatusCode::FORBIDDEN => RegistryClientError::Forbidden(message),
            StatusCode::NOT_FOUND => RegistryClientError::NotFound(self.scrub(match what {
                Some(what) => format!("{what} ({method} {url}): {message}"),
                None => format!("{method} {url}: {message}"),
            })),
            _ => RegistryClientError::Http {
                status: status.as_u16(),
                message,
            },
        }
    }

    /// Replaces every occurrence of the token.
    fn scrub(&self, text: String) -> String {
        match &self.token {
            Some(token) if text.contains(token.as_str()) => text.replace(token.as_str(), REDACTED),
            _ => text,
        }
    }
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry_client::url::Seg;

    #[test]
    fn status_errors_map_to_variants_and_never_carry_the_token() {
        let client = RegistryClient::builder("http://registry.test")
            .token("s3cr3t-token")
            .build()
            .unwrap();
        let url = client.api_url(&[Seg::Lit("publish")]).unwrap();
        let e = client.status_error(
            StatusCode::FORBIDDEN,
            br#"{"error":"no permission for s3cr3t-token"}"#,
            &Method::POST,
            &url,
            None,
        );
        assert!(
            matches!(&e, RegistryClientError::Forbidden(m) if m == "no permission for [REDACTED]")
        );
        let problem = br#"{"title":"Unauthorized","status":401,"detail":"Invalid or expired Registry JWT token"}"#;
        let e = client.status_error(StatusCode::UNAUTHORIZED, problem, &Method::POST, &url, None);
        assert!(
            matches!(&e, RegistryClientError::Unauthorized(m) if m == "Invalid or expired Registry JWT token")
        );
        let e = client.status_error(
            StatusCode::NOT_FOUND,
            br#"{"title":"Not Found","status":404,"detail":"Server not found"}"#,
            &Method::GET,
            &url,
            Some("server \"a/b\""),
        );
        assert!(e.is_not_found());
        assert!(e.to_string().contains("server \"a/b\""), "{e}");
        assert!(e.to_string().contains("Server not found"), "{e}");
        let e = client.status_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"title":"Unprocessable Entity","status":422,"detail":"validation failed"}"#,
            &Method::GET,
            &url,
            None,
        );
        assert!(
            matches!(&e, RegistryClientError::Http { status: 422, message } if message == "validation failed")
        );
        let debug = format!("{client:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains(REDACTED));
        let builder = RegistryClient::builder("http://x").token("s3cr3t-token");
        assert!(!format!("{builder:?}").contains("s3cr3t"));
    }
}
