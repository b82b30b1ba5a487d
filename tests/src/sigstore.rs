//! A private Sigstore made by the tests: a CA standing in for Fulcio (leaf certificates with the signer's SAN,
//! the OIDC issuer and other Fulcio extensions, and an embedded SCT from a test CT log) and a transparency-log
//! key standing in for Rekor (one-entry logs: inclusion proof, signed checkpoint, signed entry timestamp), all
//! published in a `trusted_root.json`. It signs registry entries (sigstore bundles) and images (cosign's
//! tag-stored signature layers).
//!
//! It also runs what current Sigstore clients use: a Rekor v2 log ([`rekor2`]: an Ed25519 signed-note
//! checkpoint, `hashedrekord`/`dsse` 0.0.2 entries, no signed entry timestamp) and a timestamp authority
//! ([`tsa`]: RFC 3161 timestamps over the bundle's signature), both in the `trusted_root.json`
//! ([`TestSigstore::trusted_root_value`] can be changed before use, e.g. a validity range).

pub mod rekor2;
pub mod tsa;

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber, date_time_ymd,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sigstore::crypto::{SigStoreSigner, SigningScheme};
use thv_core::signature::tlog::{leaf_hash, node_hash};

use rekor2::Rekor2;
use tsa::TimestampAuthority;

/// Fulcio's OIDC issuer extensions: v1 (raw string) and v2 (DER UTF8String).
const OID_ISSUER_V1: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 1];
const OID_ISSUER_V2: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 8];
/// Fulcio's RunnerEnvironment, SourceRepositoryURI and SourceRepositoryRef extensions (DER UTF8Strings).
pub const OID_RUNNER_ENVIRONMENT: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 11];
pub const OID_SOURCE_REPOSITORY_URI: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 12];
pub const OID_SOURCE_REPOSITORY_REF: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 14];
/// RFC 6962 embedded SCT list.
const OID_SCT_LIST: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];
/// 2026-06-01T00:00:00Z: within a leaf's validity (2026-06-01 .. 2026-06-02).
pub const SIGNED_AT: i64 = 1_780_272_000;
/// The v0.3 bundle media type, and its other spelling (sigstore-python, cosign 3).
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
pub const BUNDLE_V03_ALT: &str = "application/vnd.dev.sigstore.bundle+json;version=0.3";

/// Who a leaf certificate is for.
pub enum Subject<'a> {
    Email(&'a str),
    Uri(&'a str),
}

/// A signer's leaf certificate (DER) and key.
pub struct Leaf {
    pub cert_der: Vec<u8>,
    pub key: KeyPair,
}

impl Leaf {
    /// Signs `data` (ECDSA P-256, SHA-256, ASN.1) with the leaf's key.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        sign_p256(&self.key, data)
    }
}

/// Signs `data` with an ECDSA P-256 key (SHA-256, ASN.1).
pub fn sign_p256(key: &KeyPair, data: &[u8]) -> Vec<u8> {
    sigstore::crypto::signing_key::SigStoreKeyPair::from_der(&key.serialize_der())
        .unwrap()
        .to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1)
        .unwrap()
        .sign(data)
        .unwrap()
}

/// One entry logged in the test Rekor.
pub struct LogEntry {
    pub body: Vec<u8>,
    kind: String,
    version: String,
    pub integrated_time: i64,
    log_id: Vec<u8>,
    set: Vec<u8>,
    root: [u8; 32],
    checkpoint: String,
    index: u64,
    size: u64,
    hashes: Vec<[u8; 32]>,
}

impl LogEntry {
    /// The entry as a bundle's `tlogEntries[]` item (with its inclusion proof).
    pub fn bundle_entry(&self) -> Value {
        let hashes: Vec<String> = self.hashes.iter().map(|h| B64.encode(h)).collect();
        json!({"logIndex": self.index.to_string(), "logId": {"keyId": B64.encode(&self.log_id)},
               "kindVersion": {"kind": self.kind, "version": self.version},
               "integratedTime": self.integrated_time.to_string(),
               "inclusionPromise": {"signedEntryTimestamp": B64.encode(&self.set)},
               "inclusionProof": {"logIndex": self.index.to_string(), "rootHash": B64.encode(self.root),
                                  "treeSize": self.size.to_string(), "hashes": hashes,
                                  "checkpoint": {"envelope": self.checkpoint}},
               "canonicalizedBody": B64.encode(&self.body)})
    }

    /// The entry as cosign's `dev.sigstore.cosign/bundle` layer annotation.
    pub fn cosign_annotation(&self) -> String {
        json!({"SignedEntryTimestamp": B64.encode(&self.set),
               "Payload": {"body": B64.encode(&self.body), "integratedTime": self.integrated_time,
                           "logIndex": self.index, "logID": hex::encode(&self.log_id)}})
        .to_string()
    }
}

pub struct TestSigstore {
    ca_key: KeyPair,
    ca_params: CertificateParams,
    ca_der: Vec<u8>,
    ct: SigStoreSigner,
    rekor: SigStoreSigner,
    /// The Rekor v2 log (`rekor2.test`).
    pub rekor2: Rekor2,
    /// The timestamp authority (`https://test-tsa.test`).
    pub tsa: TimestampAuthority,
}

impl Default for TestSigstore {
    fn default() -> Self {
        Self::new()
    }
}

impl TestSigstore {
    pub fn new() -> Self {
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "test fulcio");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.not_before = date_time_ymd(2025, 1, 1);
        ca_params.not_after = date_time_ymd(2030, 1, 1);
        let ca_der = ca_params.self_signed(&ca_key).unwrap().der().to_vec();
        Self {
            ca_key,
            ca_params,
            ca_der,
            ct: signer(),
            rekor: signer(),
            rekor2: Rekor2::new("rekor2.test"),
            tsa: TimestampAuthority::new("test tsa"),
        }
    }

    fn log_description(key: &SigStoreSigner, url: &str) -> Value {
        let der = public_der(key);
        json!({"baseUrl": url, "hashAlgorithm": "SHA2_256",
               "publicKey": {"rawBytes": B64.encode(&der), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                             "validFor": {"start": "2025-01-01T00:00:00Z"}},
               "logId": {"keyId": B64.encode(Sha256::digest(&der))}})
    }

    /// The `trusted_root.json` of this Sigstore.
    pub fn trusted_root(&self) -> Vec<u8> {
        self.trusted_root_value().to_string().into_bytes()
    }

    /// The `trusted_root.json` of this Sigstore as JSON: `tlogs` the Rekor v1 log then the v2 one,
    /// `timestampAuthorities` the one authority, each valid from 2025-01-01.
    pub fn trusted_root_value(&self) -> Value {
        let since = json!({"start": "2025-01-01T00:00:00Z"});
        json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [Self::log_description(&self.rekor, "https://rekor.test"),
                      self.rekor2.description(since.clone())],
            "certificateAuthorities": [{
                "subject": {"organization": "test", "commonName": "test fulcio"},
                "uri": "https://fulcio.test",
                "certChain": {"certificates": [{"rawBytes": B64.encode(&self.ca_der)}]},
                "validFor": {"start": "2025-01-01T00:00:00Z"}
            }],
            "ctlogs": [Self::log_description(&self.ct, "https://ct.test")],
            "timestampAuthorities": [self.tsa.description(since)]
        })
    }

    /// A leaf certificate for `subject` and `issuer` with more Fulcio extensions (`(oid, value)`, as DER
    /// UTF8Strings), and an SCT of the test CT log over its precertificate; valid 2026-06-01 .. 2026-06-02.
    pub fn leaf(&self, subject: Subject, issuer: &str, extensions: &[(&[u64], &str)]) -> Leaf {
        self.leaf_with_sct_extensions(subject, issuer, extensions, &[])
    }

    /// [`Self::leaf`] whose SCT carries `sct_extensions` (RFC 6962 `CtExtensions`, opaque bytes).
    pub fn leaf_with_sct_extensions(
        &self,
        subject: Subject,
        issuer: &str,
        extensions: &[(&[u64], &str)],
        sct_extensions: &[u8],
    ) -> Leaf {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.serial_number = Some(SerialNumber::from(vec![0x42, 0x17]));
        params.not_before = date_time_ymd(2026, 6, 1);
        params.not_after = date_time_ymd(2026, 6, 2);
        params.subject_alt_names = vec![match subject {
            Subject::Email(e) => SanType::Rfc822Name(e.try_into().unwrap()),
            Subject::Uri(u) => SanType::URI(u.try_into().unwrap()),
        }];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.custom_extensions = vec![
            CustomExtension::from_oid_content(OID_ISSUER_V1, issuer.as_bytes().to_vec()),
            CustomExtension::from_oid_content(OID_ISSUER_V2, tlv(0x0c, issuer.as_bytes())),
        ];
        for (oid, value) in extensions {
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    oid,
                    tlv(0x0c, value.as_bytes()),
                ));
        }
        let ca = Issuer::new(self.ca_params.clone(), &self.ca_key);
        let precert = params.signed_by(&key, &ca).unwrap();
        let tbs = tbs_of(precert.der());

        // RFC 6962 §3.2: the SCT signs the precertificate entry.
        let ca_spki = Sha256::digest(tbs_spki(&self.ca_der));
        let timestamp_ms: u64 = (SIGNED_AT as u64 - 60) * 1000;
        let mut signed = vec![0u8, 0u8];
        signed.extend(timestamp_ms.to_be_bytes());
        signed.extend([0u8, 1u8]);
        signed.extend_from_slice(&ca_spki);
        let n = tbs.len();
        signed.extend([(n >> 16) as u8, (n >> 8) as u8, n as u8]);
        signed.extend_from_slice(&tbs);
        let ext_len = (sct_extensions.len() as u16).to_be_bytes();
        signed.extend(ext_len);
        signed.extend_from_slice(sct_extensions);
        let sig = self.ct.sign(&signed).unwrap();
        let mut sct = vec![0u8];
        sct.extend(Sha256::digest(public_der(&self.ct)));
        sct.extend(timestamp_ms.to_be_bytes());
        sct.extend(ext_len);
        sct.extend_from_slice(sct_extensions);
        sct.extend([4u8, 3u8]);
        sct.extend((sig.len() as u16).to_be_bytes());
        sct.extend(&sig);
        let mut list = ((sct.len() + 2) as u16).to_be_bytes().to_vec();
        list.extend((sct.len() as u16).to_be_bytes());
        list.extend(&sct);
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                OID_SCT_LIST,
                tlv(0x04, &list),
            ));
        let cert_der = params.signed_by(&key, &ca).unwrap().der().to_vec();
        Leaf { cert_der, key }
    }

    /// Logs a hashedrekord entry of `signature` over `data` by `leaf` at `integrated_time`.
    pub fn log_signature(
        &self,
        data: &[u8],
        signature: &[u8],
        leaf: &Leaf,
        integrated_time: i64,
    ) -> LogEntry {
        let body = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(data))}},
            "signature": {"content": B64.encode(signature),
                          "publicKey": {"content": B64.encode(pem(&leaf.cert_der))}}}});
        self.log_entry(&body, integrated_time)
    }

    /// Logs `body` (a Rekor entry: `{"apiVersion", "kind", "spec"}`) as the one entry of a log.
    pub fn log_entry(&self, body: &Value, integrated_time: i64) -> LogEntry {
        self.log_entry_in(body, integrated_time, false)
    }

    /// Logs `body` as leaf 1 of a three-leaf tree (its inclusion proof has an audit path of two hashes).
    pub fn log_entry_in_tree(&self, body: &Value, integrated_time: i64) -> LogEntry {
        self.log_entry_in(body, integrated_time, true)
    }

    fn log_entry_in(&self, body: &Value, integrated_time: i64, tree: bool) -> LogEntry {
        let kind = body["kind"].as_str().unwrap().to_owned();
        let version = body["apiVersion"].as_str().unwrap_or("0.0.1").to_owned();
        let body = serde_json_canonicalizer::to_vec(body).unwrap();
        let rekor_der = public_der(&self.rekor);
        let log_id = Sha256::digest(&rekor_der).to_vec();
        let (root, index, size, hashes) = if tree {
            // RFC 6962: root = H(H(l0, l1), l2); leaf 1's audit path is [l0, l2].
            let (l0, l2) = (leaf_hash(b"leaf 0"), leaf_hash(b"leaf 2"));
            let root = node_hash(&node_hash(&l0, &leaf_hash(&body)), &l2);
            (root, 1, 3, vec![l0, l2])
        } else {
            (leaf_hash(&body), 0, 1, Vec::new())
        };
        let note = format!("rekor.test - 1\n{size}\n{}\n", B64.encode(root));
        let hint = &Sha256::digest(&rekor_der)[..4];
        let note_sig = self.rekor.sign(note.as_bytes()).unwrap();
        let checkpoint = format!(
            "{note}\n\u{2014} rekor.test {}\n",
            B64.encode([hint, &note_sig[..]].concat())
        );
        let set_payload = json!({"body": B64.encode(&body), "integratedTime": integrated_time,
                                  "logID": hex::encode(&log_id), "logIndex": index});
        let set = self
            .rekor
            .sign(&serde_json_canonicalizer::to_vec(&set_payload).unwrap())
            .unwrap();
        LogEntry {
            body,
            kind,
            version,
            integrated_time,
            log_id,
            set,
            root,
            checkpoint,
            index,
            size,
            hashes,
        }
    }

    /// A keyless bundle (v0.3) over `data`, signed by `leaf`, logged at `integrated_time` (or not logged).
    pub fn bundle(&self, data: &[u8], leaf: &Leaf, integrated_time: i64, logged: bool) -> Value {
        let signature = leaf.sign(data);
        let entries = if logged {
            json!([self
                .log_signature(data, &signature, leaf, integrated_time)
                .bundle_entry()])
        } else {
            json!([])
        };
        json!({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
               "verificationMaterial": {"certificate": {"rawBytes": B64.encode(&leaf.cert_der)},
                                        "tlogEntries": entries},
               "messageSignature": {"messageDigest": {"algorithm": "SHA2_256",
                                                      "digest": B64.encode(Sha256::digest(data))},
                                    "signature": B64.encode(&signature)}})
    }

    /// A keyless in-toto attestation bundle (v0.3, a DSSE envelope) about the image `digest` of `repository`,
    /// signed by `leaf` and logged (a `dsse` entry): what `cosign attest --new-bundle-format` and GitHub's
    /// `attest-build-provenance` attach as OCI referrers.
    pub fn attestation_bundle(
        &self,
        repository: &str,
        digest: &str,
        predicate_type: &str,
        predicate: &Value,
        leaf: &Leaf,
    ) -> Value {
        let statement = in_toto_statement(repository, digest, predicate_type, predicate);
        self.dsse_bundle(&statement, leaf, SIGNED_AT)
    }

    /// A keyless DSSE bundle (v0.3) of an in-toto `statement` signed by `leaf`, logged in the Rekor v1 log at
    /// `integrated_time` as a `dsse` 0.0.1 entry.
    pub fn dsse_bundle(&self, statement: &Value, leaf: &Leaf, integrated_time: i64) -> Value {
        let (envelope, payload, signature) = dsse_envelope(statement, leaf);
        let body = json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(envelope_json(&envelope)))},
            "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(&payload))},
            "signatures": [{"signature": B64.encode(&signature),
                            "verifier": B64.encode(pem(&leaf.cert_der))}]}});
        self.envelope_bundle(envelope, &body, leaf, integrated_time)
    }

    /// The same logged as Rekor v1 makes an `intoto` 0.0.2 entry (`rekor-cli upload --type intoto:0.0.2`, older
    /// cosign attestations): its canonical body keeps the envelope's payload type and signatures (each base64 of
    /// the envelope's base64 text, with the signer's certificate as base64 PEM), the envelope's and the payload's
    /// SHA-256, and drops the payload.
    pub fn intoto_bundle(&self, statement: &Value, leaf: &Leaf, integrated_time: i64) -> Value {
        let (envelope, payload, _) = dsse_envelope(statement, leaf);
        let signatures: Vec<Value> = envelope["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|sig| {
                json!({"sig": B64.encode(sig["sig"].as_str().unwrap()),
                              "publicKey": B64.encode(pem(&leaf.cert_der))})
            })
            .collect();
        let body = json!({"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
            "envelope": {"payloadType": envelope["payloadType"], "signatures": signatures},
            "hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(envelope_json(&envelope)))},
            "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(&payload))}}}});
        self.envelope_bundle(envelope, &body, leaf, integrated_time)
    }

    fn envelope_bundle(
        &self,
        envelope: Value,
        body: &Value,
        leaf: &Leaf,
        integrated_time: i64,
    ) -> Value {
        let entry = self.log_entry(body, integrated_time);
        json!({"mediaType": BUNDLE_V03,
               "verificationMaterial": {"certificate": {"rawBytes": B64.encode(&leaf.cert_der)},
                                        "tlogEntries": [entry.bundle_entry()]},
               "dsseEnvelope": envelope})
    }

    /// A keyless bundle over `data` as current clients make it (cosign 3, sigstore-python 4): signed by `leaf`,
    /// logged in the Rekor v2 log (`hashedrekord` 0.0.2, no signed entry timestamp) and timestamped by the
    /// timestamp authority at `time` (the signing certificate embedded in the token), with `media_type`.
    pub fn bundle_rekor2(&self, data: &[u8], leaf: &Leaf, time: i64, media_type: &str) -> Value {
        let signature = leaf.sign(data);
        let digest = Sha256::digest(data);
        let verifier = rekor2::certificate_verifier(&leaf.cert_der);
        let body = rekor2::hashedrekord_body(&digest, &signature, verifier);
        json!({"mediaType": media_type,
               "verificationMaterial": {"certificate": {"rawBytes": B64.encode(&leaf.cert_der)},
                                        "tlogEntries": [self.rekor2.entry(&body)],
                                        "timestampVerificationData": self.timestamps(&signature, time)},
               "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": B64.encode(digest)},
                                    "signature": B64.encode(&signature)}})
    }

    /// A keyless DSSE bundle of an in-toto `statement` the same way (a `dsse` 0.0.2 entry).
    pub fn dsse_bundle_rekor2(&self, statement: &Value, leaf: &Leaf, time: i64) -> Value {
        let (envelope, payload, signature) = dsse_envelope(statement, leaf);
        let verifier = rekor2::certificate_verifier(&leaf.cert_der);
        let body = rekor2::dsse_body(&payload, &[&signature], verifier);
        json!({"mediaType": BUNDLE_V03,
               "verificationMaterial": {"certificate": {"rawBytes": B64.encode(&leaf.cert_der)},
                                        "tlogEntries": [self.rekor2.entry(&body)],
                                        "timestampVerificationData": self.timestamps(&signature, time)},
               "dsseEnvelope": envelope})
    }

    /// A bundle's `timestampVerificationData`: one timestamp of the authority over `signature` at `time`.
    pub fn timestamps(&self, signature: &[u8], time: i64) -> Value {
        json!({"rfc3161Timestamps": [{"signedTimestamp": B64.encode(self.tsa.timestamp(signature, time, true))}]})
    }

    /// A bundle over `data` signed with `key` (no certificate: `cosign sign-blob --key`), logged in the Rekor v1
    /// log (`hashedrekord` 0.0.1 naming the public key) at [`SIGNED_AT`].
    pub fn key_bundle(&self, data: &[u8], key: &KeyPair) -> Value {
        let signature = sign_p256(key, data);
        let digest = Sha256::digest(data);
        let body = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(digest)}},
            "signature": {"content": B64.encode(&signature),
                          "publicKey": {"content": B64.encode(key.public_key_pem())}}}});
        let entry = self.log_entry(&body, SIGNED_AT);
        json!({"mediaType": BUNDLE_V03,
               "verificationMaterial": {"publicKey": {"hint": B64.encode(Sha256::digest(rcgen::PublicKeyData::subject_public_key_info(key)))},
                                        "tlogEntries": [entry.bundle_entry()]},
               "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": B64.encode(digest)},
                                    "signature": B64.encode(&signature)}})
    }

    /// A cosign signature layer over the image `digest` of `repository`, keyless-signed by `leaf` and logged:
    /// the simple signing payload and the layer's annotations (signature, certificate, Rekor bundle).
    pub fn cosign_layer(
        &self,
        repository: &str,
        digest: &str,
        leaf: &Leaf,
    ) -> (Vec<u8>, BTreeMap<String, String>) {
        let payload = json!({"critical": {"identity": {"docker-reference": repository},
                                          "image": {"docker-manifest-digest": digest},
                                          "type": "cosign container image signature"},
                             "optional": null});
        let payload = serde_json::to_vec(&payload).unwrap();
        let signature = leaf.sign(&payload);
        let entry = self.log_signature(&payload, &signature, leaf, SIGNED_AT);
        let annotations = BTreeMap::from([
            (
                "dev.cosignproject.cosign/signature".to_owned(),
                B64.encode(&signature),
            ),
            (
                "dev.sigstore.cosign/certificate".to_owned(),
                pem(&leaf.cert_der),
            ),
            (
                "dev.sigstore.cosign/bundle".to_owned(),
                entry.cosign_annotation(),
            ),
        ]);
        (payload, annotations)
    }
}

/// An in-toto statement about the image `digest` of `repository`.
pub fn in_toto_statement(
    repository: &str,
    digest: &str,
    predicate_type: &str,
    predicate: &Value,
) -> Value {
    json!({"_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": repository, "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
        "predicateType": predicate_type, "predicate": predicate})
}

/// A DSSE envelope as Rekor hashes it: the protobuf JSON form's serialization.
fn envelope_json(envelope: &Value) -> Vec<u8> {
    let parsed: sigstore_protobuf_specs::io::intoto::Envelope =
        serde_json::from_value(envelope.clone()).unwrap();
    serde_json::to_vec(&parsed).unwrap()
}

/// A DSSE envelope of an in-toto `statement` signed by `leaf`: the envelope, its payload and signature.
pub fn dsse_envelope(statement: &Value, leaf: &Leaf) -> (Value, Vec<u8>, Vec<u8>) {
    let payload = serde_json::to_vec(statement).unwrap();
    let payload_type = "application/vnd.in-toto+json";
    let mut pae = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    pae.extend(&payload);
    let signature = leaf.sign(&pae);
    let envelope = json!({"payload": B64.encode(&payload), "payloadType": payload_type,
                          "signatures": [{"sig": B64.encode(&signature)}]});
    (envelope, payload, signature)
}

fn signer() -> SigStoreSigner {
    SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .unwrap()
}

fn public_der(s: &SigStoreSigner) -> Vec<u8> {
    s.to_sigstore_keypair()
        .unwrap()
        .public_key_to_der()
        .unwrap()
}

/// A certificate in PEM.
pub fn pem(der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// DER: a TLV with a short or long length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 128 {
        out.push(n as u8);
    } else if n < 256 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// The first element (TBSCertificate) of a DER certificate.
fn tbs_of(cert_der: &[u8]) -> Vec<u8> {
    let (_, body) = split_tlv(cert_der);
    let (len, _) = split_tlv(body);
    body[..len].to_vec()
}

/// (total length of the first TLV, its content).
fn split_tlv(der: &[u8]) -> (usize, &[u8]) {
    let (len, header) = match der[1] {
        n if n < 0x80 => (n as usize, 2),
        0x81 => (der[2] as usize, 3),
        0x82 => (((der[2] as usize) << 8) | der[3] as usize, 4),
        0x83 => (
            ((der[2] as usize) << 16) | ((der[3] as usize) << 8) | der[4] as usize,
            5,
        ),
        _ => panic!("unsupported length"),
    };
    (header + len, &der[header..header + len])
}

/// The SubjectPublicKeyInfo of a certificate (the 7th field of its TBSCertificate: version, serial,
/// signature, issuer, validity, subject, spki).
fn tbs_spki(cert_der: &[u8]) -> Vec<u8> {
    let tbs = tbs_of(cert_der);
    let (_, mut rest) = split_tlv(&tbs);
    for _ in 0..6 {
        let (len, _) = split_tlv(rest);
        rest = &rest[len..];
    }
    let (len, _) = split_tlv(rest);
    rest[..len].to_vec()
}
