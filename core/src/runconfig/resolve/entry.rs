//! A registry entry and the user's options resolved into a RunConfig, step by step (see the module above for the
//! rules).

use super::*;

/// [`resolve_registry_entry`] without the warnings (they are also reflected in the RunConfig where it matters:
/// `sensitive_env_vars`, `isolate_network`).
pub fn from_registry_entry(
    server: &ServerJson,
    opts: &ResolveOptions,
) -> Result<RunConfig, ResolveError> {
    resolve_registry_entry(server, opts).map(|r| r.config)
}

/// Resolves a registry entry and the user's options into a validated RunConfig, with warnings. See the module
/// documentation for the rules; each step below fills in its part of the RunConfig.
pub fn resolve_registry_entry(
    server: &ServerJson,
    opts: &ResolveOptions,
) -> Result<Resolution, ResolveError> {
    let source = choose_source(server)?;
    let (pkg, ext_key, declared_transport) = match &source {
        Source::Oci(p) | Source::Package(p, _) => (
            Some(*p),
            Some(p.identifier.as_str()),
            p.transport.transport_type.as_str(),
        ),
        Source::Remote(r) => (None, r.url.as_deref(), r.transport_type.as_str()),
    };
    let ext = extension(server, ext_key)?;
    let mut r = Resolving {
        server,
        opts,
        pkg,
        ext: &ext,
        remote: matches!(source, Source::Remote(_)),
        warnings: Vec::new(),
    };
    if ext.is_deprecated() {
        r.warnings.push(ResolveWarning::Deprecated {
            server: server.name.clone(),
        });
    }
    let provenance = match source {
        Source::Oci(_) => ext.provenance.clone(),
        _ => None,
    };
    let mut cfg = r.identity_and_transport(&source, declared_transport)?;
    r.ports_and_hosts(&mut cfg)?;
    r.env_and_secrets(&mut cfg)?;
    r.arguments(&mut cfg)?;
    r.permissions(&mut cfg)?;
    r.group_labels_and_tools(&mut cfg)?;
    if !r.remote {
        cfg.apply_transport_env();
        cfg.apply_standard_labels();
    }
    cfg.validate().map_err(|reason| ResolveError::Invalid {
        server: server.name.clone(),
        reason,
    })?;
    Ok(Resolution {
        config: cfg,
        warnings: r.warnings,
        provenance,
    })
}

/// What the steps of [`resolve_registry_entry`] read, and the warnings they add.
struct Resolving<'a> {
    server: &'a ServerJson,
    opts: &'a ResolveOptions,
    /// The package the entry runs from (an image, or an npm or PyPI package); `None` for a remote.
    pkg: Option<&'a Package>,
    ext: &'a ServerExtensions,
    remote: bool,
    warnings: Vec<ResolveWarning>,
}

impl Resolving<'_> {
    /// The container (or remote) name, the transport, the registry coordinates, the image, package or remote
    /// URL, and the proxy mode of a stdio server.
    fn identity_and_transport(
        &mut self,
        source: &Source<'_>,
        declared_transport: &str,
    ) -> Result<RunConfig, ResolveError> {
        let name = match &self.opts.name {
            Some(n) => {
                if let Some(e) = name_error(n) {
                    return Err(option_error("--name", e));
                }
                n.clone()
            }
            None => sanitize_name(short_name(&self.server.name)),
        };
        let transport = match self.opts.transport {
            Some(t) => t,
            None => parse_transport(self.server, declared_transport)?,
        };
        let mut cfg = RunConfig::new(name, transport);
        cfg.registry_server_name = Some(self.server.name.to_owned());
        cfg.registry_server_version = Some(self.server.version.clone()).filter(|v| !v.is_empty());
        cfg.registry_url = self.opts.registry_url.clone();
        cfg.registry_api_url = self.opts.registry_api_url.clone();
        cfg.created_at = Some(self.opts.created_at.unwrap_or_else(Utc::now));
        match source {
            Source::Oci(p) => cfg.image = Some(p.identifier.clone()),
            Source::Package(p, scheme) => {
                let pkg = package_source(&self.server.name, p, *scheme)?;
                cfg.package = Some(pkg);
            }
            Source::Remote(r) => {
                let url = r.url.clone().unwrap_or_default();
                if url.is_empty() || url.contains('{') {
                    return Err(ResolveError::Unsupported {
                        server: self.server.name.to_owned(),
                        reason: format!(
                            "its remote URL '{url}' is missing or has template variables, which are not supported"
                        ),
                    });
                }
                if !cfg.transport.is_http() {
                    return Err(ResolveError::Unsupported {
                        server: self.server.name.to_owned(),
                        reason: "a remote server speaks sse or streamable-http, not stdio".into(),
                    });
                }
                cfg.remote_url = Some(url);
                cfg.container_name = None;
            }
        }
        if transport == TransportType::Stdio {
            cfg.proxy_mode = Some(self.opts.proxy_mode.unwrap_or_default());
        } else {
            cfg.proxy_mode = None;
            if let Some(m) = self.opts.proxy_mode {
                self.warnings.push(ResolveWarning::OptionIgnored {
                    option: format!("--proxy-mode {m}"),
                    reason: format!("it applies to stdio servers; this one speaks {transport}"),
                });
            }
        }
        Ok(cfg)
    }

    /// The proxy's port and host, and an HTTP server's port and host in its container.
    fn ports_and_hosts(&mut self, cfg: &mut RunConfig) -> Result<(), ResolveError> {
        if self.opts.proxy_port == Some(0) || self.opts.target_port == Some(0) {
            return Err(option_error("port", "0 is not a port (1–65535)"));
        }
        if let Some(h) = &self.opts.host {
            if let Some(e) = host_error(h) {
                return Err(option_error("--host", e));
            }
            cfg.host = h.clone();
        }
        cfg.port = self.opts.proxy_port.or(self.ext.proxy_port);
        if cfg.transport.is_http() && !self.remote {
            cfg.target_port = self
                .opts
                .target_port
                .or_else(|| {
                    self.pkg
                        .and_then(|p| p.transport.url.as_deref())
                        .and_then(url_port)
                })
                .or(self.ext.target_port);
            let th = self
                .opts
                .target_host
                .as_deref()
                .unwrap_or(DEFAULT_TARGET_HOST);
            if let Some(e) = host_error(th) {
                return Err(option_error("--target-host", e));
            }
            cfg.target_host = Some(th.to_owned());
        } else {
            for (set, option) in [
                (self.opts.target_port.is_some(), "--target-port"),
                (self.opts.target_host.is_some(), "--target-host"),
            ] {
                if set {
                    self.warnings.push(ResolveWarning::OptionIgnored {
                        option: option.into(),
                        reason: if self.remote {
                            "a remote server has no container".into()
                        } else {
                            "a stdio server listens on no port".into()
                        },
                    });
                }
            }
        }
        Ok(())
    }

    /// The declared env vars (defaults, required ones missing), the user's `-e` values and secrets.
    fn env_and_secrets(&mut self, cfg: &mut RunConfig) -> Result<(), ResolveError> {
        let mut secret_targets = BTreeSet::new();
        for s in &self.opts.secrets {
            s.check()
                .map_err(|e| option_error("--secret", format!("'{s}': {e}")))?;
            if !secret_targets.insert(s.target.clone()) {
                return Err(option_error(
                    "--secret",
                    format!("{} is the target of two secrets", s.target),
                ));
            }
        }
        for k in self.opts.env.keys() {
            if let Some(e) = env_name_error(k) {
                return Err(option_error("-e", e));
            }
        }
        let declared = declared_env(self.pkg, self.ext);
        let mut missing = Vec::new();
        for var in &declared {
            if secret_targets.contains(&var.name) {
                continue;
            }
            if self.opts.env.contains_key(&var.name) {
                if var.is_secret() {
                    self.warnings.push(ResolveWarning::SecretGivenInPlain {
                        name: var.name.clone(),
                    });
                    cfg.sensitive_env_vars.push(var.name.clone());
                }
            } else if let Some(d) = var.default.as_ref().filter(|d| !d.is_empty()) {
                cfg.env_vars.insert(var.name.clone(), d.clone());
            } else if var.is_required() {
                missing.push(MissingEnv {
                    name: var.name.clone(),
                    secret: var.is_secret(),
                    description: var.description.clone(),
                });
            }
        }
        if !missing.is_empty() {
            return Err(ResolveError::MissingRequiredEnv {
                server: self.server.name.to_owned(),
                missing,
            });
        }
        for (k, v) in &self.opts.env {
            if secret_targets.contains(k) {
                self.warnings
                    .push(ResolveWarning::EnvOverriddenBySecret { name: k.clone() });
            } else {
                cfg.env_vars.insert(k.clone(), v.clone());
            }
        }
        cfg.secrets = self.opts.secrets.clone();
        Ok(())
    }

    /// The command arguments: the user's, else the package's, else the extension's.
    fn arguments(&mut self, cfg: &mut RunConfig) -> Result<(), ResolveError> {
        cfg.cmd_args = if !self.opts.args.is_empty() {
            self.opts.args.clone()
        } else {
            let from_package = match self.pkg {
                Some(p) => package_args(self.server, p)?,
                None => Vec::new(),
            };
            if from_package.is_empty() {
                self.ext.args.clone().unwrap_or_default()
            } else {
                from_package
            }
        };
        Ok(())
    }

    /// The permission profile and the privileges granted, network isolation, volumes.
    fn permissions(&mut self, cfg: &mut RunConfig) -> Result<(), ResolveError> {
        if self.remote {
            cfg.isolate_network = false;
            for (set, option) in [
                (
                    self.opts.permission_profile.is_some(),
                    "--permission-profile",
                ),
                (!self.opts.grants.is_empty(), "--grant"),
                (self.opts.isolate_network == Some(true), "--isolate-network"),
                (!self.opts.volumes.is_empty(), "-v/--volume"),
            ] {
                if set {
                    self.warnings.push(ResolveWarning::OptionIgnored {
                        option: option.into(),
                        reason: "a remote server runs no container".into(),
                    });
                }
            }
        } else {
            let entry = format!("registry entry '{}'", self.server.name);
            let profile = match &self.opts.permission_profile {
                Some(p) => {
                    cfg.permission_profile_name_or_path = Some(p.clone());
                    check_grants(&entry, &[], &self.opts.grants, &mut self.warnings)?;
                    PermissionProfile::load(p)?
                }
                None => match &self.ext.permissions {
                    Some(p) => {
                        p.validate()?;
                        check_grants(
                            &entry,
                            &p.privileges()?,
                            &self.opts.grants,
                            &mut self.warnings,
                        )?;
                        p.clone()
                    }
                    None => {
                        check_grants(&entry, &[], &self.opts.grants, &mut self.warnings)?;
                        cfg.permission_profile_name_or_path = Some("network".into());
                        PermissionProfile::network()
                    }
                },
            };
            cfg.isolate_network = match profile.network_mode() {
                Some(mode) if !is_bridge_mode(mode) => {
                    if self.opts.isolate_network == Some(true) {
                        return Err(option_error(
                            "--isolate-network",
                            format!(
                                "network isolation needs bridge networking, but the permission profile's network mode is '{mode}'"
                            ),
                        ));
                    }
                    if mode != "none" && self.opts.isolate_network.is_none() {
                        self.warnings.push(ResolveWarning::NetworkIsolationDropped {
                            mode: mode.to_owned(),
                        });
                    }
                    false
                }
                _ => self.opts.isolate_network.unwrap_or(true),
            };
            cfg.permission_profile = Some(profile);
            for v in &self.opts.volumes {
                parse_volume(v).map_err(|e| option_error("-v/--volume", e.to_string()))?;
            }
            cfg.volumes = self.opts.volumes.clone();
        }
        Ok(())
    }

    /// The group, labels, the tool filter and overrides, and the session TTL.
    fn group_labels_and_tools(&mut self, cfg: &mut RunConfig) -> Result<(), ResolveError> {
        if let Some(g) = &self.opts.group {
            cfg.group = Some(g.clone());
        }
        for (k, v) in &self.opts.labels {
            if k.starts_with(labels::RESERVED_PREFIX) {
                return Err(option_error(
                    "--label",
                    format!("'{k}': labels starting with 'toolhive' are reserved"),
                ));
            }
            cfg.container_labels.insert(k.clone(), v.clone());
        }
        cfg.registry_tools = self.ext.tools.clone().unwrap_or_default();
        if !cfg.registry_tools.is_empty()
            && let Some(t) = self
                .opts
                .tools_filter
                .iter()
                .find(|t| !cfg.registry_tools.contains(t))
        {
            return Err(ResolveError::UnknownTool {
                server: self.server.name.to_owned(),
                tool: t.clone(),
                available: cfg.registry_tools.clone(),
            });
        }
        cfg.tools_filter = self.opts.tools_filter.clone();
        cfg.tools_override = self.opts.tools_override.clone();
        cfg.session_ttl = self.opts.session_ttl;
        Ok(())
    }
}
