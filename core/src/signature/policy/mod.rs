//! Signature policies: what a registry's publish and edit, its sync sources and `thv run NAME` do with an entry's
//! signature, and whom they trust.
//!
//! # Whom a policy trusts, for which names
//!
//! A trusted public key is configured as a path — trusted for every name — or bound to name patterns:
//!
//! ```toml
//! trusted_keys = ["release.pub", { path = "team-a.pub", names = ["com.example.team-a/*", "com.example.shared"] }]
//! signers = [{ identity = "ci@example.com", issuer = "https://issuer.example.com", names = ["com.example.ci/*"] }]
//! ```
//!
//! (YAML: the same keys; a list item is a path or a `{path, names}` map.) On command lines a key is `PATH` (every
//! name) or `PATH=PATTERN`, split at the last `=` ([`TrustedKey`]'s `FromStr`); a key given several times is
//! trusted for all its patterns together (a path alone, or `PATH=*`, for every name). A path holding `=` is
//! written `PATH=*` or `PATH=PATTERN`; given alone it is refused, saying so.
//!
//! Patterns follow the registry's rule ([`crate::filter::pattern_matches`]: `*`, `prefix*` case-sensitive, or an
//! exact name). An entry verifies by a key (or a keyless signer) only when its `name` matches one of that key's
//! patterns; a valid signature by a key not bound to the name is [`SignatureError::NotTrustedForName`] —
//! refused under `enforce`, reported under `warn`. Empty pattern lists, empty patterns, patterns with `*`
//! anywhere but at the end, unreadable keys are refused when the policy loads, naming the setting
//! (`trusted_keys[i] (PATH)`, `signers[i] (IDENTITY)`).

mod config;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use config::Names;
pub use config::{PolicyConfig, TrustedKey, TrustedSigner};

use super::{
    PublicKey, SignatureError, bundle_from_value, bundle_key_hint, embedded_bundle, is_keyless,
    keyless, read_public_key, verify_with_key,
};

/// What a signature policy does with an entry (`thv run`'s `--signature-policy`, a registry's
/// `signature_policy.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyMode {
    /// Signatures are not looked at.
    #[default]
    Off,
    /// A missing or bad signature is reported, the entry is used.
    Warn,
    /// A missing or bad signature refuses the entry.
    Enforce,
}

/// A signature policy name that is none of [`PolicyMode`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a signature policy (off, warn, enforce)")]
pub struct UnknownPolicyMode(pub String);

impl std::str::FromStr for PolicyMode {
    type Err = UnknownPolicyMode;
    fn from_str(s: &str) -> Result<Self, UnknownPolicyMode> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Ok(Self::Off),
            "warn" => Ok(Self::Warn),
            "enforce" => Ok(Self::Enforce),
            _ => Err(UnknownPolicyMode(s.to_owned())),
        }
    }
}

/// What is wrong with a signature policy's configuration: every problem found, each naming its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.join("; "))]
pub struct PolicyConfigError {
    pub problems: Vec<String>,
}

impl std::fmt::Display for PolicyMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::Warn => "warn",
            Self::Enforce => "enforce",
        })
    }
}

/// A loaded public key: its name (the path as configured), the key and its names.
#[derive(Clone)]
struct Key {
    name: String,
    key: PublicKey,
    names: Names,
}

#[derive(Clone, Debug)]
struct Signer {
    expected: keyless::ExpectedSigner,
    names: Names,
}

/// A signature policy: its mode, the public keys entries may be signed with, and for keyless bundles the
/// trusted root (`trusted_root.json`) and the signers (certificate identity and issuer) accepted — each for the
/// names it is bound to.
#[derive(Clone, Default)]
pub struct SignaturePolicy {
    pub mode: PolicyMode,
    keys: Arc<Vec<Key>>,
    trusted_root: Option<Arc<keyless::KeylessTrust>>,
    signers: Vec<Signer>,
}

impl PolicyConfig {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The policy, its keys and trusted root read and its name patterns checked (every problem is named in the
    /// error). An enforcing or warning policy needs at least one key or one keyless signer (signers need the
    /// trusted root).
    pub fn load(&self) -> Result<SignaturePolicy, PolicyConfigError> {
        let mut errors = Vec::new();
        let trusted_root = match self
            .trusted_root
            .as_deref()
            .map(keyless::KeylessTrust::from_file)
        {
            Some(Ok(t)) => Some(Arc::new(t)),
            Some(Err(e)) => {
                errors.push(format!("trusted_root: {e}"));
                None
            }
            None => None,
        };
        if !self.signers.is_empty() && self.trusted_root.is_none() {
            errors.push("keyless signers need a trusted root (trusted_root.json)".to_owned());
        }
        let keys = self.load_keys(&mut errors);
        let signers = self
            .signers
            .iter()
            .enumerate()
            .map(|(i, s)| Signer {
                expected: keyless::ExpectedSigner {
                    identity: s.identity.clone(),
                    issuer: s.issuer.clone(),
                },
                names: Names::checked(
                    &s.names,
                    &format!("signers[{i}] ({})", s.identity),
                    &mut errors,
                ),
            })
            .collect();
        if self.mode != PolicyMode::Off && self.trusted_keys.is_empty() && self.signers.is_empty() {
            errors.push(format!(
                "the signature policy '{}' needs at least one trusted key or keyless signer",
                self.mode
            ));
        }
        if errors.is_empty() {
            Ok(SignaturePolicy {
                mode: self.mode,
                keys: Arc::new(keys),
                trusted_root,
                signers,
            })
        } else {
            Err(PolicyConfigError { problems: errors })
        }
    }

    /// The keys, each file read once: a file listed again adds its patterns to the first listing's.
    fn load_keys(&self, errors: &mut Vec<String>) -> Vec<Key> {
        let mut keys: Vec<Key> = Vec::new();
        for (i, k) in self.trusted_keys.iter().enumerate() {
            let name = k.path.display().to_string();
            let field = format!("trusted_keys[{i}] ({name})");
            let names = Names::checked(&k.names, &field, errors);
            if let Some(known) = keys.iter_mut().find(|known| known.name == name) {
                known.names.merge(names);
                continue;
            }
            let key = std::fs::read(&k.path)
                .map_err(|e| e.to_string())
                .and_then(|pem| read_public_key(&pem).map_err(|e| e.to_string()));
            match key {
                Ok(key) => keys.push(Key { name, key, names }),
                Err(e) => errors.push(format!("{field}: {e}")),
            }
        }
        keys
    }
}

impl std::fmt::Debug for SignaturePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignaturePolicy")
            .field("mode", &self.mode)
            .field(
                "keys",
                &self
                    .keys
                    .iter()
                    .map(|k| (k.name.as_str(), &k.names.0))
                    .collect::<Vec<_>>(),
            )
            .field("signers", &self.signers)
            .finish()
    }
}

/// The outcome of [`SignaturePolicy::evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The policy is off.
    NotChecked,
    /// Signed by the named trusted key (or keyless signer), which is trusted for the entry's name.
    Verified { key: String },
    /// Missing, bad, untrusted or signed by a key not trusted for the name: the reason.
    Failed(SignatureError),
}

impl SignaturePolicy {
    /// A policy with the public keys (PEM files) only, each trusted for every name (see [`PolicyConfig::load`]).
    pub fn load(mode: PolicyMode, key_files: &[PathBuf]) -> Result<Self, PolicyConfigError> {
        PolicyConfig {
            mode,
            trusted_keys: key_files.iter().cloned().map(TrustedKey::from).collect(),
            ..Default::default()
        }
        .load()
    }

    /// A policy from trust material already read (a mirror bundle carries it): named keys and keyless signers,
    /// each trusted for every name, and the trusted root the signers are verified against.
    pub fn from_trust(
        mode: PolicyMode,
        keys: Vec<(String, PublicKey)>,
        trusted_root: Option<Arc<keyless::KeylessTrust>>,
        signers: Vec<keyless::ExpectedSigner>,
    ) -> Self {
        Self {
            mode,
            keys: Arc::new(
                keys.into_iter()
                    .map(|(name, key)| Key {
                        name,
                        key,
                        names: Names(None),
                    })
                    .collect(),
            ),
            trusted_root,
            signers: signers
                .into_iter()
                .map(|expected| Signer {
                    expected,
                    names: Names(None),
                })
                .collect(),
        }
    }

    /// Checks an entry's signature: `bundle` when given, else the one in its `_meta`. The signer must be trusted
    /// for the entry's `name`.
    pub async fn evaluate(&self, server: &Value, bundle: Option<&Value>) -> Verdict {
        if self.mode == PolicyMode::Off {
            return Verdict::NotChecked;
        }
        let Some(b) = bundle.or_else(|| embedded_bundle(server)) else {
            return Verdict::Failed(SignatureError::Missing);
        };
        let b = match bundle_from_value(b) {
            Ok(b) => b,
            Err(e) => return Verdict::Failed(e),
        };
        let name = server.get("name").and_then(Value::as_str);
        if !is_keyless(&b) {
            return self.evaluate_keys(server, &b, name);
        }
        let Some(root) = &self.trusted_root else {
            return Verdict::Failed(SignatureError::Keyless(
                "the bundle is keyless (a certificate), but no trusted root is configured".into(),
            ));
        };
        let mut last = SignatureError::Keyless("no keyless signer is trusted".into());
        let mut unbound = None;
        for signer in &self.signers {
            match keyless::verify_entry(server, &b, root, &signer.expected).await {
                Ok(()) => {
                    let who = format!("{} ({})", signer.expected.identity, signer.expected.issuer);
                    if signer.names.allow(name) {
                        return Verdict::Verified { key: who };
                    }
                    unbound.get_or_insert_with(|| signer.names.refusal(&who, name));
                }
                Err(e) => last = e,
            }
        }
        Verdict::Failed(unbound.unwrap_or(last))
    }

    /// A key-signed bundle: verified by the first key it verifies with that is trusted for the name. A digest
    /// mismatch is reported as such; a signature only keys bound to other names verify is
    /// [`SignatureError::NotTrustedForName`]. A signature no key verifies is
    /// [`SignatureError::BadSignature`] naming the key the bundle's hint names, or the only trusted key (the
    /// signature was changed, or made over other bytes); else [`SignatureError::UntrustedKey`].
    fn evaluate_keys(&self, server: &Value, b: &super::Bundle, name: Option<&str>) -> Verdict {
        let mut unbound = None;
        for k in self.keys.iter() {
            match verify_with_key(server, b, &k.key, &k.name) {
                Ok(()) if k.names.allow(name) => {
                    return Verdict::Verified {
                        key: k.name.clone(),
                    };
                }
                Ok(()) => {
                    unbound.get_or_insert_with(|| k.names.refusal(&k.name, name));
                }
                Err(SignatureError::BadSignature { .. }) => continue,
                Err(e) => return Verdict::Failed(e),
            }
        }
        if let Some(refusal) = unbound {
            return Verdict::Failed(refusal);
        }
        let hint = bundle_key_hint(b);
        let named = self
            .keys
            .iter()
            .find(|k| !hint.is_empty() && k.key.hint() == hint);
        let meant = match (named, self.keys.as_slice()) {
            (Some(k), _) => Some(k),
            (None, [only]) if hint.is_empty() || hint == only.key.hint() => Some(only),
            _ => None,
        };
        Verdict::Failed(match meant {
            Some(k) => SignatureError::BadSignature {
                key: k.name.clone(),
            },
            None => SignatureError::UntrustedKey(
                self.keys
                    .iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        })
    }

    /// [`SignaturePolicy::evaluate`] of the entry's own signature, then the mode: `Err` only when enforcing and
    /// the check failed; a warning policy's failure comes back as `Ok(Verdict::Failed(reason))`.
    pub async fn check(&self, server: &Value) -> Result<Verdict, SignatureError> {
        match self.evaluate(server, None).await {
            Verdict::Failed(e) if self.mode == PolicyMode::Enforce => Err(e),
            verdict => Ok(verdict),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SIGNATURE_META, generate_key_pair, sign_with_key};
    use super::*;
    use serde_json::json;

    fn entry() -> Value {
        json!({
            "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
            "name": "io.github.example/weather", "description": "Weather forecasts", "version": "1.2.0",
            "_meta": {"io.modelcontextprotocol.registry/official": {"status": "active"}}
        })
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn policies() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate_key_pair().unwrap();
        let pub_path = dir.path().join("cosign.pub");
        std::fs::write(&pub_path, key.public_key_to_pem().unwrap()).unwrap();
        let mut signed = entry();
        signed["_meta"][SIGNATURE_META] =
            serde_json::to_value(sign_with_key(&entry(), &key).unwrap()).unwrap();

        let enforce =
            SignaturePolicy::load(PolicyMode::Enforce, std::slice::from_ref(&pub_path)).unwrap();
        assert!(matches!(
            block_on(enforce.evaluate(&signed, None)),
            Verdict::Verified { .. }
        ));
        assert_eq!(
            block_on(enforce.check(&entry())).unwrap_err(),
            SignatureError::Missing
        );
        let mut changed = signed.clone();
        changed["version"] = json!("1.2.1");
        assert!(matches!(
            block_on(enforce.check(&changed)).unwrap_err(),
            SignatureError::DigestMismatch { .. }
        ));
        let warn = SignaturePolicy::load(PolicyMode::Warn, &[pub_path]).unwrap();
        assert_eq!(
            block_on(warn.check(&entry())).unwrap(),
            Verdict::Failed(SignatureError::Missing)
        );
        let off = SignaturePolicy::default();
        assert_eq!(block_on(off.evaluate(&entry(), None)), Verdict::NotChecked);

        let err = SignaturePolicy::load(PolicyMode::Enforce, &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least one trusted key"), "{err}");
        let err = SignaturePolicy::load(PolicyMode::Warn, &[dir.path().join("nope.pub")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope.pub"), "{err}");
        assert_eq!(
            "Enforce".parse::<PolicyMode>().unwrap(),
            PolicyMode::Enforce
        );
        assert!("strict".parse::<PolicyMode>().is_err());
    }

    /// A corrupted signature is "does not verify with K" when the bundle's key hint names K, or K is the only
    /// key (and no hint says otherwise) — not "signed by none of the trusted keys", which stays for a signature by
    /// a key that is not trusted.
    #[test]
    fn a_corrupted_signature_names_the_key_it_fails_with() {
        let dir = tempfile::tempdir().unwrap();
        let write = |file: &str| {
            let key = generate_key_pair().unwrap();
            let path = dir.path().join(file);
            std::fs::write(&path, key.public_key_to_pem().unwrap()).unwrap();
            (key, path)
        };
        let (signer, signer_pub) = write("signer.pub");
        let (_, other_pub) = write("other.pub");
        let (stranger, _) = write("stranger.pub");
        let corrupt = |key: &super::super::SigStoreKeyPair| {
            let mut e = entry();
            let mut b = sign_with_key(&e, key).unwrap();
            if let Some(super::super::bundle::Content::MessageSignature(m)) = &mut b.content {
                let last = m.signature.len() - 1;
                m.signature[last] ^= 0xff;
            }
            e["_meta"][SIGNATURE_META] = serde_json::to_value(b).unwrap();
            e
        };
        let bad = corrupt(&signer);
        let only =
            SignaturePolicy::load(PolicyMode::Enforce, std::slice::from_ref(&signer_pub)).unwrap();
        assert_eq!(
            block_on(only.check(&bad)).unwrap_err(),
            SignatureError::BadSignature {
                key: signer_pub.display().to_string()
            }
        );
        // Several keys: the hint names the signer's.
        let both = SignaturePolicy::load(
            PolicyMode::Enforce,
            &[other_pub.clone(), signer_pub.clone()],
        )
        .unwrap();
        let err = block_on(both.check(&bad)).unwrap_err();
        assert_eq!(
            err,
            SignatureError::BadSignature {
                key: signer_pub.display().to_string()
            }
        );
        assert!(
            err.to_string().contains("does not verify with the key"),
            "{err}"
        );
        // Without a hint, two keys: none is named.
        let mut unhinted = bad.clone();
        unhinted["_meta"][SIGNATURE_META]["verificationMaterial"]["publicKey"]["hint"] = json!("");
        assert!(matches!(
            block_on(both.check(&unhinted)).unwrap_err(),
            SignatureError::UntrustedKey(_)
        ));
        // A stranger's signature (valid or corrupted) is signed by none of the trusted keys, even with one key.
        for e in [corrupt(&stranger), {
            let mut e = entry();
            e["_meta"][SIGNATURE_META] =
                serde_json::to_value(sign_with_key(&entry(), &stranger).unwrap()).unwrap();
            e
        }] {
            let err = block_on(only.check(&e)).unwrap_err();
            assert!(matches!(err, SignatureError::UntrustedKey(_)), "{err}");
            assert!(
                err.to_string().contains("none of the trusted keys"),
                "{err}"
            );
        }
    }

    /// A keyless bundle goes the keyless way: refused without a trusted root, and refused (naming why) when it
    /// signs something else than the entry.
    #[test]
    fn keyless_bundles_in_policies() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("trusted_root.json");
        std::fs::write(&root, keyless::PUBLIC_GOOD_TRUSTED_ROOT).unwrap();
        let npm: Value = serde_json::from_str(include_str!(
            "../../../tests/data/sigstore/npm_slsa_bundle_v03.json"
        ))
        .unwrap();
        assert!(is_keyless(&bundle_from_value(&npm).unwrap()));
        let mut e = entry();
        e["_meta"][SIGNATURE_META] = npm;
        let key = generate_key_pair().unwrap();
        let pub_path = dir.path().join("cosign.pub");
        std::fs::write(&pub_path, key.public_key_to_pem().unwrap()).unwrap();
        let keys_only = SignaturePolicy::load(PolicyMode::Enforce, &[pub_path]).unwrap();
        match block_on(keys_only.evaluate(&e, None)) {
            Verdict::Failed(SignatureError::Keyless(m)) => {
                assert!(m.contains("no trusted root"), "{m}")
            }
            v => panic!("{v:?}"),
        }
        let trust = PolicyConfig {
            mode: PolicyMode::Enforce,
            trusted_keys: Vec::new(),
            trusted_root: Some(root),
            signers: vec![TrustedSigner {
                identity: "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main".into(),
                issuer: "https://token.actions.githubusercontent.com".into(),
                names: None,
            }],
        };
        let keyless_policy = trust.load().unwrap();
        // The signer is the expected one, but its in-toto statement is about a tarball, not this entry.
        match block_on(keyless_policy.evaluate(&e, None)) {
            Verdict::Failed(SignatureError::Verify(super::super::VerifyError::Statement(m))) => {
                assert!(
                    m.contains("no subject of the in-toto statement is the artifact"),
                    "{m}"
                )
            }
            v => panic!("{v:?}"),
        }
        let err = PolicyConfig {
            trusted_root: None,
            ..trust
        }
        .load()
        .unwrap_err()
        .to_string();
        assert!(err.contains("need a trusted root"), "{err}");
    }

    /// A keyless signer's `names` are checked at load; the verdict of a key listed twice names both bindings.
    #[test]
    fn signers_and_merged_bindings() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate_key_pair().unwrap();
        let pub_path = dir.path().join("team.pub");
        std::fs::write(&pub_path, key.public_key_to_pem().unwrap()).unwrap();
        let bound = |p: &str| TrustedKey {
            path: pub_path.clone(),
            names: Some(vec![p.to_owned()]),
        };
        let policy = PolicyConfig {
            mode: PolicyMode::Enforce,
            trusted_keys: vec![bound("a.b/*"), bound("c.d/x"), bound("a.b/*")],
            ..Default::default()
        }
        .load()
        .unwrap();
        let mut e = entry();
        e["_meta"][SIGNATURE_META] =
            serde_json::to_value(sign_with_key(&e, &key).unwrap()).unwrap();
        let err = block_on(policy.check(&e)).unwrap_err();
        assert_eq!(
            err,
            SignatureError::NotTrustedForName {
                signer: pub_path.display().to_string(),
                patterns: "a.b/*, c.d/x".into(),
                name: "io.github.example/weather".into(),
            }
        );
        // Listed again for every name: every name.
        let policy = PolicyConfig {
            mode: PolicyMode::Enforce,
            trusted_keys: vec![bound("a.b/*"), pub_path.clone().into()],
            ..Default::default()
        }
        .load()
        .unwrap();
        assert!(block_on(policy.check(&e)).is_ok());
        // An entry without a name is signed by no bound key.
        let mut e = entry();
        e.as_object_mut().unwrap().remove("name");
        e["_meta"][SIGNATURE_META] =
            serde_json::to_value(sign_with_key(&e, &key).unwrap()).unwrap();
        let policy = PolicyConfig {
            mode: PolicyMode::Enforce,
            trusted_keys: vec![bound("*")],
            ..Default::default()
        }
        .load()
        .unwrap();
        assert!(
            block_on(policy.check(&e))
                .unwrap_err()
                .to_string()
                .contains("an entry without a name")
        );

        let signer = TrustedSigner {
            identity: "ci@example.com".into(),
            issuer: "https://issuer.example.com".into(),
            names: Some(Vec::new()),
        };
        assert_eq!(
            signer.to_string(),
            "ci@example.com (https://issuer.example.com) (for )"
        );
        let err = PolicyConfig {
            mode: PolicyMode::Enforce,
            signers: vec![signer],
            ..Default::default()
        }
        .load()
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("signers[0] (ci@example.com): names is empty")
                && err.contains("keyless signers need a trusted root"),
            "{err}"
        );
    }
}
