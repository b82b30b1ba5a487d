//! The Dockerfile of each scheme. Every image is built in two stages: a builder stage (the build environment,
//! network access) and a runtime stage that copies only the installed package. Both stages trust the extra
//! CA certificate when one is given; the runtime stage runs as the non-root user [`APP_UID`] with the
//! package's command as `ENTRYPOINT`, so the workload's `cmd_args` become its arguments.
//!
//! | scheme | builder stage | entrypoint |
//! |---|---|---|
//! | uvx | `python3 -m venv /opt/mcp`, `pip install NAME==VERSION` | `/opt/mcp/bin/NAME` (the console script named like the package, as `uvx NAME` runs) |
//! | npx | `npm install --global --prefix /opt/mcp NAME@VERSION` | the command `npx NAME` runs: the only `bin`, or the one named like the package |
//! | go  | `go install MODULE@VERSION` (`@latest` when none), or `go build` of the local directory | `/app/mcp-server` (static: `CGO_ENABLED=0`) |
//!
//! Package names and versions only appear inside JSON strings (exec-form `RUN` and `ENTRYPOINT`) or single
//! quotes (they hold no quote: [`PackageSource::check`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;
use thv_core::runconfig::{PackageScheme, PackageSource};

use super::tag::is_local_path;
use super::{BaseImages, BuildError};

/// The uid and gid the package runs as.
pub const APP_UID: u32 = 10001;
/// Where uvx and npx packages are installed.
const PREFIX: &str = "/opt/mcp";
/// The extra CA certificate in the build context, and where images keep it.
pub const CA_CONTEXT_PATH: &str = "thv/ca.crt";
const CA_IMAGE_PATH: &str = "/usr/local/share/ca-certificates/thv-extra-ca.crt";
/// The system bundle that `update-ca-certificates` rebuilds.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The npx entrypoint resolver in the build context.
pub const NPM_ENTRYPOINT_CONTEXT_PATH: &str = "thv/npm-entrypoint.js";
pub const NPM_ENTRYPOINT_SCRIPT: &str = include_str!("npm-entrypoint.js");
/// A local Go directory in the build context.
pub const LOCAL_SRC_CONTEXT_PATH: &str = "src";
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a Dockerfile depends on besides the package.
pub struct TemplateInput<'a> {
    pub base_images: &'a BaseImages,
    /// Whether the context holds [`CA_CONTEXT_PATH`].
    pub ca_cert: bool,
    /// Environment of the builder stage only.
    pub build_env: &'a BTreeMap<String, String>,
}

/// The label of the builder stage's images (`KEY=VALUE`).
pub const BUILD_STAGE_LABEL: &str = "dev.toolhive.build-stage=builder";

/// The Dockerfile that builds `pkg` (its version as given: pin it first).
pub fn render(pkg: &PackageSource, input: &TemplateInput<'_>) -> Result<String, BuildError> {
    let env = build_env_lines(input.build_env)?;
    let mut builder = String::new();
    let mut runtime = String::new();
    let (builder_image, runtime_image) = input.base_images.for_scheme(pkg.scheme);
    let ca = if input.ca_cert {
        ca_lines()
    } else {
        String::new()
    };
    // The label marks the builder stage's intermediate images, which hold the build environment, so they can be
    // removed after the build (`super::build_package_image`).
    let _ = writeln!(
        builder,
        "FROM {builder_image} AS builder\nLABEL {BUILD_STAGE_LABEL}\n{ca}{env}"
    );
    let _ = writeln!(runtime, "FROM {runtime_image}\n{ca}{}", user_lines());
    match pkg.scheme {
        PackageScheme::Uvx => uvx(pkg, &mut builder, &mut runtime),
        PackageScheme::Npx => npx(pkg, &mut builder, &mut runtime),
        PackageScheme::Go => go(
            pkg,
            input.build_env.get("GOFLAGS").map(String::as_str),
            &mut builder,
            &mut runtime,
        ),
    }
    let _ = writeln!(runtime, "USER {APP_UID}:{APP_UID}\nWORKDIR /home/app");
    Ok(format!("# Built by thv for {pkg}.\n{builder}\n{runtime}"))
}

fn uvx(pkg: &PackageSource, builder: &mut String, runtime: &mut String) {
    let spec = match &pkg.version {
        Some(v) => format!("{}=={v}", pkg.name),
        None => pkg.name.clone(),
    };
    let command = format!("{PREFIX}/bin/{}", pkg.name);
    let check = format!(
        "test -x '{command}' || {{ echo 'thv: the package installs no command named {name}; its commands:' >&2; \
         ls {PREFIX}/bin >&2; exit 1; }}",
        name = pkg.name
    );
    let _ = writeln!(
        builder,
        "ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore\n\
         RUN {}\nRUN {}\nRUN {}",
        exec(&["python3", "-m", "venv", PREFIX]),
        exec(&[&format!("{PREFIX}/bin/pip"), "install", &spec]),
        exec(&["/bin/sh", "-c", &check]),
    );
    let _ = writeln!(
        runtime,
        "COPY --from=builder {PREFIX} {PREFIX}\n\
         ENV PATH={PREFIX}/bin:{PATH} HOME=/home/app PYTHONUNBUFFERED=1\n\
         ENTRYPOINT {}",
        exec(&[&command])
    );
}

fn npx(pkg: &PackageSource, builder: &mut String, runtime: &mut String) {
    let spec = match &pkg.version {
        Some(v) => format!("{}@{v}", pkg.name),
        None => pkg.name.clone(),
    };
    let _ = writeln!(
        builder,
        "ENV NODE_ENV=production NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false\n\
         COPY {NPM_ENTRYPOINT_CONTEXT_PATH} /thv/npm-entrypoint.js\n\
         RUN {}\nRUN {}",
        exec(&["npm", "install", "--global", "--prefix", PREFIX, &spec]),
        exec(&["node", "/thv/npm-entrypoint.js", PREFIX, &pkg.name]),
    );
    let _ = writeln!(
        runtime,
        "COPY --from=builder {PREFIX} {PREFIX}\n\
         ENV PATH={PREFIX}/bin:{PATH} HOME=/home/app NODE_ENV=production\n\
         ENTRYPOINT {}",
        exec(&[&format!("{PREFIX}/thv-entrypoint")])
    );
}

/// `user_goflags`: the build environment's `GOFLAGS`, kept after the template's own `-trimpath`.
fn go(pkg: &PackageSource, user_goflags: Option<&str>, builder: &mut String, runtime: &mut String) {
    let goflags = match user_goflags.map(str::trim).filter(|f| !f.is_empty()) {
        Some(flags) => quote(&format!("-trimpath {flags}")),
        None => "-trimpath".to_owned(),
    };
    let _ = writeln!(
        builder,
        "ENV CGO_ENABLED=0 GOOS=linux GOFLAGS={goflags} GOPATH=/go GOCACHE=/tmp/go-build GOBIN=/out"
    );
    if is_local_path(pkg) {
        let build = "mkdir -p /app && { [ -f go.mod ] || go mod init thv.local/mcp-server; } \
                     && go build -o /app/mcp-server .";
        let _ = writeln!(
            builder,
            "COPY {LOCAL_SRC_CONTEXT_PATH} /src\nWORKDIR /src\nRUN {}",
            exec(&["/bin/sh", "-c", build])
        );
    } else {
        let version = pkg.version.as_deref().unwrap_or("latest");
        let module = format!("{}@{version}", pkg.name);
        let pick = "set -- /out/*; if [ \"$#\" -ne 1 ] || [ ! -f \"$1\" ]; then \
                    echo \"thv: expected one command from go install, found: $*\" >&2; exit 1; fi; \
                    mkdir -p /app && mv \"$1\" /app/mcp-server";
        let _ = writeln!(
            builder,
            "RUN {}\nRUN {}",
            exec(&["go", "install", &module]),
            exec(&["/bin/sh", "-c", pick])
        );
    }
    let _ = writeln!(
        runtime,
        "COPY --from=builder /app/mcp-server /app/mcp-server\n\
         ENV PATH={PATH} HOME=/home/app\n\
         ENTRYPOINT {}",
        exec(&["/app/mcp-server"])
    );
}

/// Installs the extra CA into the system bundle (`update-ca-certificates` when the image has it, else appended
/// to the bundle) and points every tool at it.
fn ca_lines() -> String {
    let install = format!(
        "if command -v update-ca-certificates >/dev/null 2>&1; then \
         out=$(update-ca-certificates 2>&1) || {{ echo \"$out\" >&2; exit 1; }}; \
         else mkdir -p /etc/ssl/certs && cat {CA_IMAGE_PATH} >> {CA_BUNDLE}; fi"
    );
    format!(
        "COPY {CA_CONTEXT_PATH} {CA_IMAGE_PATH}\n\
         RUN {}\n\
         ENV SSL_CERT_FILE={CA_BUNDLE} REQUESTS_CA_BUNDLE={CA_BUNDLE} PIP_CERT={CA_BUNDLE} \
         CURL_CA_BUNDLE={CA_BUNDLE} GIT_SSL_CAINFO={CA_BUNDLE} NODE_EXTRA_CA_CERTS={CA_IMAGE_PATH} \
         UV_NATIVE_TLS=true\n",
        exec(&["/bin/sh", "-c", &install])
    )
}

/// The non-root user `app` ([`APP_UID`]), written into passwd and group directly (no useradd in minimal
/// images).
fn user_lines() -> String {
    let script = format!(
        "grep -q '^app:' /etc/passwd || echo 'app:x:{APP_UID}:{APP_UID}:thv:/home/app:/usr/sbin/nologin' \
         >> /etc/passwd; grep -q '^app:' /etc/group || echo 'app:x:{APP_UID}:' >> /etc/group; \
         mkdir -p /home/app && chown {APP_UID}:{APP_UID} /home/app"
    );
    format!("RUN {}\n", exec(&["/bin/sh", "-c", &script]))
}

/// `ENV NAME="value"` lines; the name must be an env var name and the value free of control characters.
fn build_env_lines(env: &BTreeMap<String, String>) -> Result<String, BuildError> {
    let mut out = String::new();
    for (name, value) in env {
        if let Some(reason) = super::env::build_env_name_error(name) {
            return Err(BuildError::BuildEnv {
                name: name.clone(),
                reason,
            });
        }
        if value.chars().any(char::is_control) {
            return Err(BuildError::BuildEnv {
                name: name.clone(),
                reason: "the value contains a control character (newline, tab, …)".into(),
            });
        }
        let _ = writeln!(out, "ENV {name}={}", quote(value));
    }
    Ok(out)
}

/// A Dockerfile `ENV` value in double quotes (`\\`, `"` and `$` escaped).
fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// An exec-form JSON array.
fn exec(args: &[&str]) -> String {
    let items: Vec<String> = args
        .iter()
        .map(|a| Value::String((*a).to_owned()).to_string())
        .collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_for(s: &str, ca: bool, env: &[(&str, &str)]) -> Result<String, BuildError> {
        let pkg = PackageSource::parse(s).unwrap().unwrap();
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        render(
            &pkg,
            &TemplateInput {
                base_images: &BaseImages::default(),
                ca_cert: ca,
                build_env: &env,
            },
        )
    }

    #[test]
    fn uvx_template() {
        let d = render_for("uvx://mcp-server-time@2025.9.25", false, &[]).unwrap();
        assert!(
            d.contains("FROM localhost/thv-base-python:bookworm AS builder"),
            "{d}"
        );
        assert!(d.contains(r#"RUN ["/opt/mcp/bin/pip", "install", "mcp-server-time==2025.9.25"]"#));
        assert!(d.contains(r#"ENTRYPOINT ["/opt/mcp/bin/mcp-server-time"]"#));
        assert!(d.contains("USER 10001:10001"));
        assert!(!d.contains("SSL_CERT_FILE") && !d.contains(CA_CONTEXT_PATH));
        // The user is made, and the entrypoint set, in the last stage.
        let last = d.rsplit("\nFROM ").next().unwrap();
        assert!(last.contains("app:x:10001") && last.contains("ENTRYPOINT"));
    }

    #[test]
    fn npx_template_with_ca() {
        let d = render_for(
            "npx://@modelcontextprotocol/server-everything@1.0.0",
            true,
            &[],
        )
        .unwrap();
        assert!(d.contains(
            r#"RUN ["npm", "install", "--global", "--prefix", "/opt/mcp", "@modelcontextprotocol/server-everything@1.0.0"]"#
        ));
        assert!(d.contains(r#"ENTRYPOINT ["/opt/mcp/thv-entrypoint"]"#));
        // The CA is trusted in both stages.
        assert_eq!(d.matches("COPY thv/ca.crt").count(), 2, "{d}");
        assert_eq!(d.matches("NODE_EXTRA_CA_CERTS=").count(), 2);
        for var in [
            "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE",
            "PIP_CERT",
            "UV_NATIVE_TLS",
        ] {
            assert!(d.contains(var), "{var}");
        }
    }

    #[test]
    fn go_templates() {
        let d = render_for("go://github.com/x/srv@v1.2.0", false, &[]).unwrap();
        assert!(
            d.contains(r#"RUN ["go", "install", "github.com/x/srv@v1.2.0"]"#),
            "{d}"
        );
        assert!(d.contains("FROM localhost/thv-base-debian:bookworm\n"));
        assert!(d.contains(r#"ENTRYPOINT ["/app/mcp-server"]"#));
        let d = render_for("go://github.com/x/srv", false, &[]).unwrap();
        assert!(d.contains("github.com/x/srv@latest"));
        let d = render_for("go://./cmd/srv", false, &[]).unwrap();
        assert!(d.contains("COPY src /src") && d.contains("go build -o /app/mcp-server ."));
        assert!(!d.contains("go install"));
    }

    #[test]
    fn go_builds_keep_the_users_goflags_after_trimpath() {
        let d = render_for(
            "go://github.com/x/srv@v1.2.0",
            false,
            &[("GOFLAGS", "-mod=mod"), ("GOPROXY", "https://goproxy.corp")],
        )
        .unwrap();
        assert!(
            d.contains(r#"GOFLAGS="-trimpath -mod=mod" GOPATH=/go"#),
            "{d}"
        );
        assert!(d.contains(r#"ENV GOPROXY="https://goproxy.corp""#), "{d}");
        let d = render_for("go://github.com/x/srv@v1.2.0", false, &[]).unwrap();
        assert!(d.contains("GOFLAGS=-trimpath GOPATH=/go"), "{d}");
        let e = render_for("go://github.com/x/srv@v1.2.0", false, &[("GOBIN", "/x")]).unwrap_err();
        assert!(e.to_string().contains("set by the build"), "{e}");
    }

    #[test]
    fn build_env_is_quoted_and_checked() {
        let d = render_for(
            "uvx://x",
            false,
            &[("PIP_INDEX_URL", r#"https://u:p$w"d\@mirror/simple"#)],
        )
        .unwrap();
        assert!(
            d.contains(r#"ENV PIP_INDEX_URL="https://u:p\$w\"d\\@mirror/simple""#),
            "{d}"
        );
        // Only in the builder stage.
        assert!(
            !d.rsplit("\nFROM ")
                .next()
                .unwrap()
                .contains("PIP_INDEX_URL")
        );
        for (k, v) in [("1BAD", "x"), ("A B", "x"), ("OK", "line\nRUN rm -rf /")] {
            let e = render_for("uvx://x", false, &[(k, v)]).unwrap_err();
            assert!(matches!(e, BuildError::BuildEnv { .. }), "{k}: {e}");
            assert!(e.to_string().contains("build_env"), "{e}");
        }
    }

    #[test]
    fn exec_form_is_json() {
        assert_eq!(exec(&["a b", "c\"d"]), r#"["a b", "c\"d"]"#);
    }
}
