//! The forms a signature policy is configured in (see [`super`] for what they mean): trusted keys (`PATH`,
//! `PATH=PATTERN` or `{path, names}`), keyless signers and the `signature_policy` table, and the name patterns
//! they bind keys and signers to.

use std::path::PathBuf;

use super::super::{SignatureError, keyless};
use super::PolicyMode;
use crate::filter::{check_name_pattern, pattern_matches};

/// A trusted public key as configured: its PEM file and the name patterns it may sign (`None`: every name).
/// Written as a path alone or as `{path, names}` (see the module documentation); serialized back the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub path: PathBuf,
    pub names: Option<Vec<String>>,
}

impl From<PathBuf> for TrustedKey {
    fn from(path: PathBuf) -> Self {
        Self { path, names: None }
    }
}

/// A `--trusted-key` value that is not `PATH` or `PATH=PATTERN`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustedKeyError {
    #[error("'{0}': expected PATH or PATH=PATTERN")]
    NoPath(String),
    #[error(
        "'{0}': the key's path contains '='; write it as '{0}=*' (trusted for every name) or '{0}=PATTERN'"
    )]
    PathWithEquals(String),
}

impl std::str::FromStr for TrustedKey {
    type Err = TrustedKeyError;
    /// The command-line form: `PATH` or `PATH=PATTERN`, split at the last `=` (patterns hold no `=`).
    fn from_str(value: &str) -> Result<Self, TrustedKeyError> {
        let Some((path, pattern)) = value.rsplit_once('=') else {
            return Ok(PathBuf::from(value).into());
        };
        if path.is_empty() {
            return Err(TrustedKeyError::NoPath(value.to_owned()));
        }
        if std::path::Path::new(value).exists() {
            return Err(TrustedKeyError::PathWithEquals(value.to_owned()));
        }
        Ok(Self {
            path: path.into(),
            names: Some(vec![pattern.to_owned()]),
        })
    }
}

impl std::fmt::Display for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        match &self.names {
            Some(names) => write!(f, " (for {})", names.join(", ")),
            None => Ok(()),
        }
    }
}

/// The `{path, names}` form.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyTable {
    path: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    names: Option<Vec<String>>,
}

impl serde::Serialize for TrustedKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.names {
            None => self.path.serialize(s),
            Some(names) => KeyTable {
                path: self.path.clone(),
                names: Some(names.clone()),
            }
            .serialize(s),
        }
    }
}

impl<'de> serde::Deserialize<'de> for TrustedKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TrustedKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a public key's path, or a table {path, names}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TrustedKey, E> {
                Ok(PathBuf::from(v).into())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<TrustedKey, A::Error> {
                let t: KeyTable = serde::Deserialize::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(TrustedKey {
                    path: t.path,
                    names: t.names,
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A keyless signer as configured: the certificate identity and OIDC issuer, and the name patterns it may sign
/// (`None`: every name).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedSigner {
    pub identity: String,
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
}

impl From<keyless::ExpectedSigner> for TrustedSigner {
    fn from(s: keyless::ExpectedSigner) -> Self {
        Self {
            identity: s.identity,
            issuer: s.issuer,
            names: None,
        }
    }
}

impl std::fmt::Display for TrustedSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.identity, self.issuer)?;
        match &self.names {
            Some(names) => write!(f, " (for {})", names.join(", ")),
            None => Ok(()),
        }
    }
}

/// A signature policy as configuration files write it (`thv-registry-api`'s `signature_policy` and each
/// sync source's, `thv`'s `[signatures]`): `mode` (`policy` in thv's file), `trusted_keys`, `trusted_root`,
/// `signers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    #[serde(default, alias = "policy")]
    pub mode: PolicyMode,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_keys: Vec<TrustedKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signers: Vec<TrustedSigner>,
}

/// The names a key or signer may sign: `None` is every name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Names(pub(super) Option<Vec<String>>);

impl Names {
    /// Checks the patterns (errors prefixed by `field`).
    pub(super) fn checked(
        names: &Option<Vec<String>>,
        field: &str,
        errors: &mut Vec<String>,
    ) -> Self {
        if let Some(list) = names {
            if list.is_empty() {
                errors.push(format!(
                    "{field}: names is empty (leave names out to trust it for every name)"
                ));
            }
            for p in list {
                if let Err(e) = check_name_pattern(p) {
                    errors.push(format!("{field}.names: {e}"));
                }
            }
        }
        Self(names.clone())
    }

    /// Both lists together (every name if either is).
    pub(super) fn merge(&mut self, other: Self) {
        match (&mut self.0, other.0) {
            (Some(mine), Some(theirs)) => {
                for p in theirs {
                    if !mine.contains(&p) {
                        mine.push(p);
                    }
                }
            }
            (mine, _) => *mine = None,
        }
    }

    pub(super) fn allow(&self, name: Option<&str>) -> bool {
        match &self.0 {
            None => true,
            Some(patterns) => name.is_some_and(|n| patterns.iter().any(|p| pattern_matches(p, n))),
        }
    }

    /// The refusal of a valid signature by `signer`, not bound to the entry's name.
    pub(super) fn refusal(&self, signer: &str, name: Option<&str>) -> SignatureError {
        SignatureError::NotTrustedForName {
            signer: signer.to_owned(),
            patterns: self.0.as_deref().unwrap_or_default().join(", "),
            name: name.unwrap_or("an entry without a name").to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command-line form: `PATH` or `PATH=PATTERN` split at the last `=`; a path holding `=` alone is refused
    /// with the way to write it.
    #[test]
    fn command_line_keys() {
        let k: TrustedKey = "cosign.pub".parse().unwrap();
        assert_eq!(k, TrustedKey::from(PathBuf::from("cosign.pub")));
        assert_eq!(k.to_string(), "cosign.pub");
        let k: TrustedKey = "keys/team-a.pub=com.example.a/*".parse().unwrap();
        assert_eq!(k.path, PathBuf::from("keys/team-a.pub"));
        assert_eq!(k.names, Some(vec!["com.example.a/*".to_owned()]));
        assert_eq!(k.to_string(), "keys/team-a.pub (for com.example.a/*)");
        let k: TrustedKey = "a=b.pub=*".parse().unwrap();
        assert_eq!(
            (k.path.to_str().unwrap(), k.names.unwrap()),
            ("a=b.pub", vec!["*".to_owned()])
        );
        // An empty pattern parses, and is refused when the policy loads.
        let k: TrustedKey = "team-a.pub=".parse().unwrap();
        assert_eq!(k.names, Some(vec![String::new()]));
        assert!("=com.example.a/*".parse::<TrustedKey>().is_err());

        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a=b.pub");
        std::fs::write(&odd, "").unwrap();
        let err = odd
            .to_str()
            .unwrap()
            .parse::<TrustedKey>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("contains '='") && err.contains("a=b.pub=*"),
            "{err}"
        );
    }
}
