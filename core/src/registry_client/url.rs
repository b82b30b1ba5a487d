//! API URLs: the base URL and prefix, and server names and versions percent-encoded as path segments.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

use super::{RegistryClient, RegistryClientError};

/// Characters percent-encoded in a path segment: everything except RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One path segment of an API URL.
pub(super) enum Seg<'a> {
    /// Sent as is.
    Lit(&'a str),
    /// A server name or version: percent-encoded.
    Enc(&'a str),
}

impl RegistryClient {
    /// `{base}{prefix}/seg/seg...`, names and versions percent-encoded.
    pub(super) fn api_url(&self, segments: &[Seg<'_>]) -> Result<Url, RegistryClientError> {
        let mut path = format!(
            "{}{}",
            self.base.path().trim_end_matches('/'),
            self.api_prefix
        );
        for seg in segments {
            path.push('/');
            match seg {
                Seg::Lit(s) => path.push_str(s),
                Seg::Enc(s) => path.push_str(&encode_segment(s)?),
            }
        }
        let mut url = self.base.clone();
        url.set_path(&path);
        Ok(url)
    }

    pub(super) fn version_url(
        &self,
        name: &str,
        version: &str,
        tail: Option<&'static str>,
    ) -> Result<Url, RegistryClientError> {
        let mut segs = vec![
            Seg::Lit("servers"),
            Seg::Enc(name),
            Seg::Lit("versions"),
            Seg::Enc(version),
        ];
        if let Some(t) = tail {
            segs.push(Seg::Lit(t));
        }
        self.api_url(&segs)
    }

    /// `{base}/file`, outside the API prefix.
    pub(super) fn root_url(&self, file: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!(
            "{}/{file}",
            self.base.path().trim_end_matches('/')
        ));
        url
    }
}

/// Percent-encodes a server name or version as one path segment (`/` → `%2F`, `+` → `%2B`).
fn encode_segment(s: &str) -> Result<String, RegistryClientError> {
    if s.is_empty() {
        return Err(RegistryClientError::InvalidArgument(
            "a server name or version must not be empty".into(),
        ));
    }
    if s == "." || s == ".." {
        return Err(RegistryClientError::InvalidArgument(format!(
            "{s:?} cannot be a server name or version (it is a relative path segment)"
        )));
    }
    Ok(utf8_percent_encode(s, SEGMENT).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_base_path_and_encode_segments() {
        for base in [
            "http://host/registry/prod",
            "http://host/registry/prod/",
            " http://host/registry/prod// ",
        ] {
            let c = RegistryClient::new(base).unwrap();
            assert_eq!(c.base_url(), "http://host/registry/prod");
            let url = c
                .version_url("io.github.x/my-server", "1.0.0+build.5", Some("status"))
                .unwrap();
            assert_eq!(
                url.as_str(),
                "http://host/registry/prod/v0.1/servers/io.github.x%2Fmy-server/versions/1.0.0%2Bbuild.5/status"
            );
            assert_eq!(
                c.root_url("openapi.yaml").as_str(),
                "http://host/registry/prod/openapi.yaml"
            );
        }
        let c = RegistryClient::builder("https://host")
            .api_prefix("v0/")
            .build()
            .unwrap();
        assert_eq!(c.api_prefix(), "/v0");
        assert_eq!(
            c.api_url(&[Seg::Lit("servers")]).unwrap().as_str(),
            "https://host/v0/servers"
        );
        assert_eq!(
            c.root_url("openapi.json").as_str(),
            "https://host/openapi.json"
        );
        assert!(matches!(
            c.version_url("a/b", "..", None),
            Err(RegistryClientError::InvalidArgument(_))
        ));
        assert!(matches!(
            c.version_url("", "1", None),
            Err(RegistryClientError::InvalidArgument(_))
        ));
        assert_eq!(encode_segment("a b%c?#é").unwrap(), "a%20b%25c%3F%23%C3%A9");
    }
}
