//! What `thv run ARG` names, and the RunConfig it resolves to.
//!
//! | ARG | source |
//! |---|---|
//! | `https://…`, `http://…` | a remote MCP server (no container) |
//! | `uvx://pkg[@ver]`, `npx://pkg[@ver]`, `go://module[@ver]`, `go://./dir` | a package built into an image |
//! | a registry name (`time`, `io.github.x/time`) | the registry entry |
//! | an OCI reference (`ghcr.io/x/y:1`, `localhost/img`) | that image |
//!
//! A name is looked up in the registry first; when it is not there and is a valid image reference with a
//! registry, a path or a tag (`mcp/fetch`, `img:1`), it is an image. A bare word that is not in the registry
//! is an error with close names suggested (a bare image is written out: `docker.io/library/NAME`).
//!
//! Images, packages and URLs are resolved by the same rules as registry entries
//! ([`thv_core::runconfig::resolve_registry_entry`]): the argument is described as a one-package (or
//! one-remote) server.json, so every `thv run` flag means the same thing whatever the source.

use anyhow::{Context, bail};
use serde_json::json;
use thv_core::image_ref::ImageRef;
use thv_core::runconfig::{
    PackageScheme, PackageSource, Resolution, ResolveOptions, TransportType,
    resolve_registry_entry, sanitize_name,
};
use thv_core::server::ServerJson;
use thv_core::signature::{SignaturePolicy, Verdict};

use crate::registry::RegistrySource;

/// What the argument named.
#[derive(Debug, Clone, PartialEq)]
pub enum RunSource {
    Remote(url::Url),
    Package(PackageSource),
    Image(String),
    Registry(String),
}

/// Classifies the argument (without looking anything up).
pub fn classify(arg: &str) -> anyhow::Result<RunSource> {
    if arg.trim().is_empty() {
        bail!(
            "nothing to run: give a registry name, an image, a package (uvx://, npx://, go://) or a URL"
        );
    }
    if let Some((scheme, _)) = arg.split_once("://") {
        return match scheme {
            "http" | "https" => {
                let u = url::Url::parse(arg).with_context(|| format!("invalid URL '{arg}'"))?;
                if u.host_str().is_none_or(str::is_empty) {
                    bail!("invalid URL '{arg}': it has no host");
                }
                Ok(RunSource::Remote(u))
            }
            "uvx" | "npx" | "go" => PackageSource::parse(arg)
                .map_err(|e| anyhow::anyhow!(e))?
                .map(RunSource::Package)
                .context("not a package reference"),
            other => bail!(
                "unknown scheme '{other}://' in '{arg}': use uvx://, npx://, go://, http:// or https://"
            ),
        };
    }
    // Registry names have no ':' or '@': with one, it is an image.
    if arg.contains(':') || arg.contains('@') {
        ImageRef::parse(arg).map_err(|e| anyhow::anyhow!(e))?;
        return Ok(RunSource::Image(arg.to_owned()));
    }
    Ok(RunSource::Registry(arg.to_owned()))
}

/// Resolves the argument into a RunConfig.
pub async fn resolve(
    arg: &str,
    registry: &RegistrySource,
    opts: &ResolveOptions,
    signatures: &SignaturePolicy,
) -> anyhow::Result<Resolution> {
    match classify(arg)? {
        RunSource::Registry(name) => match registry.find(&name).await {
            Ok(found) => {
                check_signature(&found.server, signatures).await?;
                let mut opts = opts.clone();
                opts.registry_url = found.registry_url;
                opts.registry_api_url = found.registry_api_url;
                Ok(resolve_registry_entry(&found.server, &opts)?)
            }
            // Not in the registry: a name with a path is an image (`mcp/fetch`, `localhost/img`).
            Err(e) if name.contains('/') => match ImageRef::parse(&name) {
                Ok(_) => resolve_image(&name, opts),
                Err(why) => Err(anyhow::anyhow!(
                    "{e:#}; and it is not an image reference either: {why}"
                )),
            },
            Err(e) => Err(anyhow::anyhow!(
                "{e:#}\n(to run an image, give its full reference, e.g. docker.io/library/{name}:latest)"
            )),
        },
        RunSource::Image(image) => resolve_image(&image, opts),
        RunSource::Package(pkg) => resolve_package(&pkg, opts),
        RunSource::Remote(url) => resolve_remote(&url, opts),
    }
}

/// The signature policy on a registry entry: refused under `enforce` unless signed by a trusted key (before
/// anything starts), a warning under `warn`.
async fn check_signature(server: &ServerJson, policy: &SignaturePolicy) -> anyhow::Result<()> {
    let value = serde_json::to_value(server).context("cannot read the registry entry")?;
    let what = format!("{}@{}", server.name, server.version);
    match policy.check(&value).await {
        Ok(Verdict::NotChecked) => Ok(()),
        Ok(Verdict::Verified { key }) => {
            thv_core::errln!("{what}: signature verified (key {key})");
            Ok(())
        }
        Ok(Verdict::Failed(e)) => {
            thv_core::errln!(
                "warning: {what}: signature not verified: {e} (signature policy: warn)"
            );
            Ok(())
        }
        Err(e) => bail!(
            "refusing to run {what}: {e} (signature policy: enforce; `thv config get-signature-policy`)"
        ),
    }
}

fn transport_or(opts: &ResolveOptions, default: TransportType) -> TransportType {
    opts.transport.unwrap_or(default)
}

/// A package's transport block: stdio, or HTTP on the target port (default 8080).
fn package_transport(opts: &ResolveOptions) -> serde_json::Value {
    let t = transport_or(opts, TransportType::Stdio);
    if t.is_http() {
        let port = opts.target_port.unwrap_or(8080);
        let path = if t == TransportType::Sse {
            "sse"
        } else {
            "mcp"
        };
        json!({"type": t.as_str(), "url": format!("http://localhost:{port}/{path}")})
    } else {
        json!({"type": "stdio"})
    }
}

fn resolve_described(
    server: serde_json::Value,
    opts: &ResolveOptions,
) -> anyhow::Result<Resolution> {
    let server: ServerJson =
        serde_json::from_value(server).context("cannot describe the server")?;
    let mut r = resolve_registry_entry(&server, opts)?;
    r.config.registry_server_name = None;
    r.config.registry_server_version = None;
    Ok(r)
}

fn resolve_image(image: &str, opts: &ResolveOptions) -> anyhow::Result<Resolution> {
    let parsed = ImageRef::parse(image).map_err(|e| anyhow::anyhow!(e))?;
    let base = parsed.repository.rsplit('/').next().unwrap_or("server");
    resolve_described(
        json!({
            "name": format!("local/{}", sanitize_name(base)),
            "description": format!("the image {image}"),
            "version": "0.0.0",
            "packages": [{"registryType": "oci", "identifier": image, "transport": package_transport(opts)}]
        }),
        opts,
    )
}

fn resolve_package(pkg: &PackageSource, opts: &ResolveOptions) -> anyhow::Result<Resolution> {
    let base = pkg
        .name
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("server")
        .trim_start_matches('@');
    let base = if base.is_empty() || base == "." {
        "server"
    } else {
        base
    };
    // Described as an OCI package (the image is built later), then given its package source.
    let mut r = resolve_described(
        json!({
            "name": format!("local/{}", sanitize_name(base)),
            "description": format!("the package {pkg}"),
            "version": "0.0.0",
            "packages": [{"registryType": "oci", "identifier": "localhost/pending-build:latest", "transport": package_transport(opts)}]
        }),
        opts,
    )?;
    r.config.image = None;
    r.config.package = Some(pkg.clone());
    if pkg.scheme == PackageScheme::Go && pkg.name.starts_with('.') {
        // A local directory: resolved against the current directory now, so the RunConfig is self-contained.
        let abs = std::fs::canonicalize(&pkg.name)
            .with_context(|| format!("go://{}: the directory does not exist", pkg.name))?;
        if !abs.is_dir() {
            bail!("go://{}: not a directory", pkg.name);
        }
    }
    Ok(r)
}

fn resolve_remote(url: &url::Url, opts: &ResolveOptions) -> anyhow::Result<Resolution> {
    let t = transport_or(opts, TransportType::StreamableHttp);
    if !t.is_http() {
        bail!("invalid --transport: a remote server speaks sse or streamable-http, not {t}");
    }
    let host = url.host_str().unwrap_or("remote");
    resolve_described(
        json!({
            "name": format!("local/{}", sanitize_name(host)),
            "description": format!("the remote server {url}"),
            "version": "0.0.0",
            "remotes": [{"type": t.as_str(), "url": url.as_str()}]
        }),
        opts,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert!(matches!(
            classify("https://x.example/mcp").unwrap(),
            RunSource::Remote(_)
        ));
        assert!(matches!(
            classify("uvx://mcp-server-time@1.0").unwrap(),
            RunSource::Package(_)
        ));
        assert!(matches!(
            classify("npx://@modelcontextprotocol/server-everything").unwrap(),
            RunSource::Package(_)
        ));
        assert!(matches!(
            classify("go://./dir").unwrap(),
            RunSource::Package(_)
        ));
        assert_eq!(
            classify("time").unwrap(),
            RunSource::Registry("time".into())
        );
        assert_eq!(
            classify("io.github.x/time").unwrap(),
            RunSource::Registry("io.github.x/time".into())
        );
        assert_eq!(
            classify("mcp/fetch").unwrap(),
            RunSource::Registry("mcp/fetch".into())
        );
        assert_eq!(
            classify("ghcr.io/x/y:1").unwrap(),
            RunSource::Image("ghcr.io/x/y:1".into())
        );
        assert_eq!(
            classify("localhost/img").unwrap(),
            RunSource::Registry("localhost/img".into())
        );
        for bad in [
            "ftp://x",
            "pip://x",
            "ghcr.io/X/Y:1",
            "localhost/a b:1",
            "img@sha256:12",
            "uvx://a b",
            "https://",
            "",
        ] {
            assert!(classify(bad).is_err(), "{bad:?}");
        }
    }
}
