//! Public keys of signers, transparency logs, CT logs and timestamp authorities (a DER SubjectPublicKeyInfo, as
//! trusted roots, certificates and `cosign.pub` carry them), and the signature checks made with them:
//! ECDSA (P-256, P-384, P-521; ASN.1 DER signatures), Ed25519 and RSA (PKCS #1 v1.5, PSS), over a message or over
//! its digest (sigstore message signatures are made over the artifact's SHA-256 digest).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};
use thiserror::Error;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode, DecodePem, Encode};
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};

use aws_lc_rs::signature as sig;

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
/// The digest algorithm identifiers (NIST).
pub const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// Why a key was not read or a signature did not verify with it.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("not a public key: {0}")]
    Malformed(String),
    #[error("unsupported public key algorithm {0}")]
    Unsupported(String),
    #[error("unsupported signature algorithm {0}")]
    UnsupportedSignature(String),
    #[error(
        "an Ed25519 signature cannot be checked against a digest alone: the artifact itself is needed"
    )]
    DigestOnly,
    #[error("the signature does not verify")]
    BadSignature,
}

/// The algorithm of a public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
    Ed25519,
    Rsa,
}

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgorithm {
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The algorithm of a digest algorithm identifier.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            ID_SHA256 => Some(Self::Sha256),
            ID_SHA384 => Some(Self::Sha384),
            ID_SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    fn aws(self) -> &'static aws_lc_rs::digest::Algorithm {
        match self {
            Self::Sha256 => &aws_lc_rs::digest::SHA256,
            Self::Sha384 => &aws_lc_rs::digest::SHA384,
            Self::Sha512 => &aws_lc_rs::digest::SHA512,
        }
    }
}

/// A public key: its DER SubjectPublicKeyInfo and algorithm.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    der: Vec<u8>,
    algorithm: KeyAlgorithm,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({:?}, {})", self.algorithm, self.hint())
    }
}

impl PublicKey {
    /// A key from its DER SubjectPublicKeyInfo.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        let oid = spki.algorithm.oid;
        let algorithm = match oid {
            ID_EC_PUBLIC_KEY => {
                let curve: ObjectIdentifier = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as().ok())
                    .ok_or_else(|| KeyError::Malformed("an EC key without its curve".into()))?;
                match curve {
                    SECP256R1 => KeyAlgorithm::EcdsaP256,
                    SECP384R1 => KeyAlgorithm::EcdsaP384,
                    SECP521R1 => KeyAlgorithm::EcdsaP521,
                    other => return Err(KeyError::Unsupported(format!("EC curve {other}"))),
                }
            }
            ID_ED25519 => KeyAlgorithm::Ed25519,
            RSA_ENCRYPTION => KeyAlgorithm::Rsa,
            other => return Err(KeyError::Unsupported(other.to_string())),
        };
        Ok(Self {
            der: der.to_vec(),
            algorithm,
        })
    }

    /// A key from PEM (`-----BEGIN PUBLIC KEY-----`, as `cosign.pub`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        const BEGIN: &[u8] = b"-----BEGIN PUBLIC KEY-----";
        if !pem.windows(BEGIN.len()).any(|w| w == BEGIN) {
            return Err(KeyError::Malformed(
                "no -----BEGIN PUBLIC KEY----- block".into(),
            ));
        }
        let spki = SubjectPublicKeyInfoOwned::from_pem(pem)
            .map_err(|e| KeyError::Malformed(format!("its PEM block does not read ({e})")))?;
        let der = spki
            .to_der()
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        Self::from_der(&der)
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The key hint sigstore bundles carry: base64 of SHA-256 of the DER form (names the key, proves nothing).
    pub fn hint(&self) -> String {
        B64.encode(Sha256::digest(&self.der))
    }

    /// The digest a signature by this key is made with when nothing else says (sigstore's key details).
    pub fn default_hash(&self) -> HashAlgorithm {
        match self.algorithm {
            KeyAlgorithm::EcdsaP384 => HashAlgorithm::Sha384,
            KeyAlgorithm::EcdsaP521 => HashAlgorithm::Sha512,
            _ => HashAlgorithm::Sha256,
        }
    }

    fn verifier(&self, hash: HashAlgorithm) -> &'static dyn sig::VerificationAlgorithm {
        use HashAlgorithm::*;
        match (self.algorithm, hash) {
            (KeyAlgorithm::EcdsaP256, Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
            (KeyAlgorithm::EcdsaP256, Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
            (KeyAlgorithm::EcdsaP256, Sha512) => &sig::ECDSA_P256_SHA512_ASN1,
            (KeyAlgorithm::EcdsaP384, Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
            (KeyAlgorithm::EcdsaP384, Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
            (KeyAlgorithm::EcdsaP384, Sha512) => &sig::ECDSA_P384_SHA512_ASN1,
            (KeyAlgorithm::EcdsaP521, Sha256) => &sig::ECDSA_P521_SHA256_ASN1,
            (KeyAlgorithm::EcdsaP521, Sha384) => &sig::ECDSA_P521_SHA384_ASN1,
            (KeyAlgorithm::EcdsaP521, Sha512) => &sig::ECDSA_P521_SHA512_ASN1,
            (KeyAlgorithm::Ed25519, _) => &sig::ED25519,
            (KeyAlgorithm::Rsa, Sha256) => &sig::RSA_PKCS1_2048_8192_SHA256,
            (KeyAlgorithm::Rsa, Sha384) => &sig::RSA_PKCS1_2048_8192_SHA384,
            (KeyAlgorithm::Rsa, Sha512) => &sig::RSA_PKCS1_2048_8192_SHA512,
        }
    }

    /// Checks `signature` over `message` (hashed with `hash`; Ed25519 signs the message itself).
    pub fn verify(
        &self,
        message: &[u8],
        signature: &[u8],
        hash: HashAlgorithm,
    ) -> Result<(), KeyError> {
        let verified = sig::UnparsedPublicKey::new(self.verifier(hash), &self.der)
            .verify(message, signature)
            .is_ok();
        // RSA keys may sign with PSS rather than PKCS #1 v1.5.
        let pss = || {
            let alg: &'static dyn sig::VerificationAlgorithm = match hash {
                HashAlgorithm::Sha256 => &sig::RSA_PSS_2048_8192_SHA256,
                HashAlgorithm::Sha384 => &sig::RSA_PSS_2048_8192_SHA384,
                HashAlgorithm::Sha512 => &sig::RSA_PSS_2048_8192_SHA512,
            };
            sig::UnparsedPublicKey::new(alg, &self.der)
                .verify(message, signature)
                .is_ok()
        };
        if verified || (self.algorithm == KeyAlgorithm::Rsa && pss()) {
            Ok(())
        } else {
            Err(KeyError::BadSignature)
        }
    }

    /// Checks `signature` over a message of which only the `digest` (made with `hash`) is known.
    pub fn verify_digest(
        &self,
        digest: &[u8],
        signature: &[u8],
        hash: HashAlgorithm,
    ) -> Result<(), KeyError> {
        if self.algorithm == KeyAlgorithm::Ed25519 {
            return Err(KeyError::DigestOnly);
        }
        let digest = aws_lc_rs::digest::Digest::import_less_safe(digest, hash.aws())
            .map_err(|_| KeyError::BadSignature)?;
        sig::UnparsedPublicKey::new(self.verifier(hash), &self.der)
            .verify_digest(&digest, signature)
            .map_err(|_| KeyError::BadSignature)
    }

    /// Checks a signature made with the X.509/CMS signature algorithm `oid` (ECDSA or RSA with a SHA-2 digest,
    /// Ed25519); `digest_hint` is the digest for algorithm identifiers that name the key type only.
    pub fn verify_with_algorithm(
        &self,
        oid: &ObjectIdentifier,
        digest_hint: Option<HashAlgorithm>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), KeyError> {
        let hash = match *oid {
            ECDSA_WITH_SHA256 | SHA256_WITH_RSA => HashAlgorithm::Sha256,
            ECDSA_WITH_SHA384 | SHA384_WITH_RSA => HashAlgorithm::Sha384,
            ECDSA_WITH_SHA512 | SHA512_WITH_RSA => HashAlgorithm::Sha512,
            ID_ED25519 | ID_EC_PUBLIC_KEY | RSA_ENCRYPTION => {
                digest_hint.unwrap_or(self.default_hash())
            }
            other => return Err(KeyError::UnsupportedSignature(other.to_string())),
        };
        self.verify(message, signature, hash)
    }
}

/// The key of a certificate (its SubjectPublicKeyInfo).
pub fn certificate_key(cert: &x509_cert::Certificate) -> Result<PublicKey, KeyError> {
    let der = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| KeyError::Malformed(e.to_string()))?;
    PublicKey::from_der(&der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair};

    #[test]
    fn ecdsa_and_ed25519_keys_verify_messages_and_digests() {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        use aws_lc_rs::encoding::AsDer;
        let der = pair.public_key().as_der().unwrap();
        let key = PublicKey::from_der(der.as_ref()).unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256);
        let signature = pair.sign(&rng, b"hello").unwrap();
        key.verify(b"hello", signature.as_ref(), HashAlgorithm::Sha256)
            .unwrap();
        key.verify_digest(
            &Sha256::digest(b"hello"),
            signature.as_ref(),
            HashAlgorithm::Sha256,
        )
        .unwrap();
        assert_eq!(
            key.verify(b"hellO", signature.as_ref(), HashAlgorithm::Sha256),
            Err(KeyError::BadSignature)
        );

        let ed = Ed25519KeyPair::generate().unwrap();
        let ed_der = ed.public_key().as_der().unwrap();
        let ed_key = PublicKey::from_der(ed_der.as_ref()).unwrap();
        let ed_sig = ed.sign(b"note");
        ed_key
            .verify(b"note", ed_sig.as_ref(), HashAlgorithm::Sha256)
            .unwrap();
        assert_eq!(
            ed_key.verify_digest(&[0; 32], ed_sig.as_ref(), HashAlgorithm::Sha256),
            Err(KeyError::DigestOnly)
        );
        assert!(matches!(
            PublicKey::from_der(b"junk"),
            Err(KeyError::Malformed(_))
        ));
    }
}
