//! [`SyncError`]: why a sync failed, told twice — in full (its `Display`: URLs, the upstream's own message, git's
//! message) for administrators and the log, and as a short [`Reason`] (a status code and a generic description,
//! never a URL or an upstream body) for anyone reading `GET /v1/sources` without administrator rights.
//!
//! The store keeps one text per failed sync: [`SyncError::stored`] writes the reason first, then [`SEPARATOR`],
//! then the detail; [`public_error`] shows only a reason it recognises as one of its own, so a text stored by an
//! older version (or anything else) is never shown to the public.

use std::fmt;
use std::net::IpAddr;

/// Between the public reason and the detail in a stored error.
pub const SEPARATOR: &str = " — ";

/// What anonymous readers see of an error whose reason is not recognised.
pub const UNKNOWN_REASON: &str = "the last sync failed (administrators see why)";

/// Why a sync failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SyncError {
    /// The upstream answered a status other than 2xx; `message` is what its body says.
    #[error("GET {url}: HTTP {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    /// No complete answer: DNS, connection, TLS, a timeout, a reset while reading.
    #[error("GET {url}: {message}")]
    Transport { url: String, message: String },
    /// A redirect to another origin (scheme, host or port), which is never followed.
    #[error(
        "source '{source_name}': {from} redirected to another origin, {to}; only redirects within the same origin are followed (configure the URL it redirects to)"
    )]
    Redirect {
        source_name: String,
        from: String,
        to: String,
    },
    /// A destination whose address is not public, for a source not allowed to reach such addresses.
    #[error(
        "source '{source_name}': refused to connect to {address} ({kind}{resolved}): sources reach only public addresses unless their configuration sets allow_private_addresses = true"
    )]
    NotPublic {
        source_name: String,
        address: IpAddr,
        kind: &'static str,
        /// `, which <host> resolves to` when the address came from DNS.
        resolved: String,
    },
    /// The content is not what the source promises (not JSON, not a registry, a pager that would not end).
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    /// The content is larger than the cap.
    #[error("{origin}: {message}")]
    TooLarge { origin: String, message: String },
    /// `git` failed.
    #[error("{origin}: {message}")]
    Git { origin: String, message: String },
    /// The git server answered a redirect, which git sources never follow.
    #[error(
        "fetching {repository}: the repository answered {answer}; git sources follow no redirect (set git.repository to the URL it redirects to)"
    )]
    GitRedirect { repository: String, answer: String },
    /// The registry file is not in the repository at the fetched commit.
    #[error("{origin}: {message}")]
    GitPath { origin: String, message: String },
    /// The Kubernetes API refused the read or did not answer (a configmap source).
    #[error("{origin}: {message}")]
    Kubernetes { origin: String, message: String },
    /// The Kubernetes API refused to list or did not list ToolHive's resources (a kubernetes source).
    #[error("{origin}: {message}")]
    Cluster { origin: String, message: String },
    /// A local registry file could not be read.
    #[error("cannot read {path}: {message}")]
    File { path: String, message: String },
    /// A setting of the source could not be used (a password file, a CA certificate).
    #[error("{0}")]
    Config(String),
    /// This server failed: the database, a spool file.
    #[error("{0}")]
    Internal(String),
}

/// The public side of a [`SyncError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Status(u16),
    Transport,
    Redirect,
    NotPublic,
    Invalid,
    TooLarge,
    Git,
    GitRedirect,
    GitPath,
    File,
    Kubernetes,
    Cluster,
    Config,
    Internal,
}

impl Reason {
    const FIXED: [Reason; 13] = [
        Self::Transport,
        Self::Redirect,
        Self::NotPublic,
        Self::Invalid,
        Self::TooLarge,
        Self::Git,
        Self::GitRedirect,
        Self::GitPath,
        Self::File,
        Self::Kubernetes,
        Self::Cluster,
        Self::Config,
        Self::Internal,
    ];
    const STATUS_PREFIX: &str = "the upstream answered HTTP ";

    /// The reason whose text is exactly `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(code) = text.strip_prefix(Self::STATUS_PREFIX) {
            return code
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=999).contains(c) && code.len() == 3)
                .map(Self::Status);
        }
        Self::FIXED.into_iter().find(|r| r.to_string() == text)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Status(code) => return write!(f, "{}{code}", Self::STATUS_PREFIX),
            Self::Transport => "no answer from the upstream",
            Self::Redirect => "the upstream redirected to another origin (refused)",
            Self::NotPublic => "the upstream's address is not public (refused)",
            Self::Invalid => "the source's content is not a valid registry",
            Self::TooLarge => "the source's content is too large",
            Self::Git => "git could not fetch the repository",
            Self::GitRedirect => "the git repository redirected (refused)",
            Self::GitPath => "the registry file is not in the repository",
            Self::File => "the registry file could not be read",
            Self::Kubernetes => "the registry file could not be read from its ConfigMap",
            Self::Cluster => "the resources could not be listed from the Kubernetes API",
            Self::Config => "a setting of the source could not be used",
            Self::Internal => "an internal error (see the server's log)",
        };
        f.write_str(text)
    }
}

impl SyncError {
    pub fn reason(&self) -> Reason {
        match self {
            Self::Status { status, .. } => Reason::Status(*status),
            Self::Transport { .. } => Reason::Transport,
            Self::Redirect { .. } => Reason::Redirect,
            Self::NotPublic { .. } => Reason::NotPublic,
            Self::Invalid { .. } => Reason::Invalid,
            Self::TooLarge { .. } => Reason::TooLarge,
            Self::Git { .. } => Reason::Git,
            Self::GitRedirect { .. } => Reason::GitRedirect,
            Self::GitPath { .. } => Reason::GitPath,
            Self::File { .. } => Reason::File,
            Self::Kubernetes { .. } => Reason::Kubernetes,
            Self::Cluster { .. } => Reason::Cluster,
            Self::Config(_) => Reason::Config,
            Self::Internal(_) => Reason::Internal,
        }
    }

    /// The text the store records: the public reason, [`SEPARATOR`], the detail.
    pub fn stored(&self) -> String {
        format!("{}{SEPARATOR}{self}", self.reason())
    }

    pub fn internal(e: impl fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<crate::store::StoreError> for SyncError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

/// What anonymous readers see of a stored error: its reason, when it is one of ours.
pub fn public_error(stored: &str) -> String {
    stored
        .split_once(SEPARATOR)
        .and_then(|(reason, _)| Reason::parse(reason))
        .map_or_else(|| UNKNOWN_REASON.to_string(), |r| r.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_side_is_only_a_recognised_reason() {
        let e = SyncError::Status {
            url: "https://h/x?token=s3cr3t".into(),
            status: 503,
            message: "db password hunter2".into(),
        };
        let stored = e.stored();
        assert!(stored.contains("s3cr3t") && stored.contains("hunter2"));
        assert_eq!(public_error(&stored), "the upstream answered HTTP 503");
        for reason in Reason::FIXED {
            assert_eq!(Reason::parse(&reason.to_string()), Some(reason));
        }
        // Texts from before, or not ours: nothing of them.
        for other in [
            "upstream https://h/x?token=s3cr3t: registry answered HTTP 500: hunter2",
            "GET https://h/?a=b — the upstream answered HTTP 500",
            "the upstream answered HTTP 5000 — x",
            "the upstream answered HTTP +50 — x",
            "",
        ] {
            assert_eq!(public_error(other), UNKNOWN_REASON, "{other}");
        }
    }
}
