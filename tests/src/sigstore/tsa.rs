//! A timestamp authority of the test Sigstore: a root CA and a TSA signing certificate (extended key usage
//! id-kp-timeStamping) listed in `trusted_root.json`'s `timestampAuthorities`, answering RFC 3161
//! `TimeStampResp`s (status granted, a CMS `SignedData` token over a `TSTInfo`) whose message imprint is the
//! SHA-256 of the data stamped — a bundle's signature, as Sigstore clients ask.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SerialNumber, date_time_ymd,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{sign_p256, split_tlv, tbs_of, tlv};

const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const OID_TST_INFO: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04,
];
const OID_CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
const OID_MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// The policy Sigstore's timestamp authority names (1.3.6.1.4.1.57264.2).
const OID_POLICY: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x02];

/// A certificate's validity: not before, not after (year, month, day; midnight UTC).
pub type Validity = ((i32, u8, u8), (i32, u8, u8));

/// A timestamp authority: its root, its signing certificate and key.
pub struct TimestampAuthority {
    pub uri: String,
    pub root_der: Vec<u8>,
    pub leaf_der: Vec<u8>,
    leaf_key: KeyPair,
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn set(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x31, &parts.concat())
}

fn oid(content: &[u8]) -> Vec<u8> {
    tlv(0x06, content)
}

fn int(n: u8) -> Vec<u8> {
    tlv(0x02, &[n])
}

fn octets(b: &[u8]) -> Vec<u8> {
    tlv(0x04, b)
}

/// GeneralizedTime content (`YYYYMMDDHHMMSSZ`) of a Unix time.
fn generalized_time(unix: i64) -> Vec<u8> {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap()
        .format("%Y%m%d%H%M%SZ")
        .to_string()
        .into_bytes()
}

/// The raw TLVs of a certificate's TBSCertificate fields (version, serial, signature, issuer, …).
fn tbs_fields(cert_der: &[u8]) -> Vec<Vec<u8>> {
    let tbs = tbs_of(cert_der);
    let (_, mut rest) = split_tlv(&tbs);
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let (len, _) = split_tlv(rest);
        fields.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    fields
}

impl TimestampAuthority {
    /// A new authority (`CN=name`): root and signing certificate valid 2025-01-01 .. 2030-01-01.
    pub fn new(name: &str) -> Self {
        let years = ((2025, 1, 1), (2030, 1, 1));
        Self::with_validity(name, years, years)
    }

    /// A new authority (`CN=name`) whose signing certificate is valid `leaf` and root `root` (not before, not
    /// after): e.g. a chain expired by now, or a signing certificate not yet valid at a timestamp's time.
    pub fn with_validity(name: &str, leaf: Validity, root: Validity) -> Self {
        let day = |(y, m, d): (i32, u8, u8)| date_time_ymd(y, m, d);
        let (leaf_validity, root_validity) =
            ((day(leaf.0), day(leaf.1)), (day(root.0), day(root.1)));
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut root = CertificateParams::default();
        root.distinguished_name
            .push(DnType::CommonName, format!("{name} root"));
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        (root.not_before, root.not_after) = root_validity;
        let root_der = root.self_signed(&root_key).unwrap().der().to_vec();
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut leaf = CertificateParams::default();
        leaf.distinguished_name.push(DnType::CommonName, name);
        leaf.serial_number = Some(SerialNumber::from(vec![0x31, 0x61]));
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::TimeStamping];
        (leaf.not_before, leaf.not_after) = leaf_validity;
        let leaf_der = leaf
            .signed_by(&leaf_key, &Issuer::new(root, &root_key))
            .unwrap()
            .der()
            .to_vec();
        Self {
            uri: format!("https://{}.test", name.replace(' ', "-")),
            root_der,
            leaf_der,
            leaf_key,
        }
    }

    /// The authority as a `trusted_root.json` `timestampAuthorities[]` item (chain: signing certificate, root).
    pub fn description(&self, valid_for: Value) -> Value {
        json!({"subject": {"organization": "test", "commonName": self.uri},
               "uri": self.uri,
               "certChain": {"certificates": [{"rawBytes": B64.encode(&self.leaf_der)},
                                              {"rawBytes": B64.encode(&self.root_der)}]},
               "validFor": valid_for})
    }

    /// An RFC 3161 `TimeStampResp` (granted) stamping `data` at `time` (Unix seconds); `embed` puts the
    /// signing certificate in the token (else the verifier takes the authority's own).
    pub fn timestamp(&self, data: &[u8], time: i64, embed: bool) -> Vec<u8> {
        let imprint = seq(&[&seq(&[&oid(OID_SHA256)]), &octets(&Sha256::digest(data))]);
        let tst_info = seq(&[
            &int(1),
            &oid(OID_POLICY),
            &imprint,
            &tlv(0x02, &[0x01, 0x23]),
            &tlv(0x18, &generalized_time(time)),
        ]);
        let encap = seq(&[&oid(OID_TST_INFO), &tlv(0xa0, &octets(&tst_info))]);
        // DER SET OF: contentType sorts before messageDigest (shorter encoding).
        let attrs = [
            seq(&[&oid(OID_CONTENT_TYPE), &set(&[&oid(OID_TST_INFO)])]),
            seq(&[
                &oid(OID_MESSAGE_DIGEST),
                &set(&[&octets(&Sha256::digest(&tst_info))]),
            ]),
        ]
        .concat();
        let signature = sign_p256(&self.leaf_key, &tlv(0x31, &attrs));
        let fields = tbs_fields(&self.leaf_der);
        let (serial, issuer) = (&fields[1], &fields[3]);
        let signer_info = seq(&[
            &int(1),
            &seq(&[issuer, serial]),
            &seq(&[&oid(OID_SHA256)]),
            &tlv(0xa0, &attrs),
            &seq(&[&oid(OID_ECDSA_SHA256)]),
            &octets(&signature),
        ]);
        let certs = if embed {
            tlv(0xa0, &self.leaf_der)
        } else {
            Vec::new()
        };
        let signed_data = seq(&[
            &int(3),
            &set(&[&seq(&[&oid(OID_SHA256)])]),
            &encap,
            &certs,
            &set(&[&signer_info]),
        ]);
        let token = seq(&[&oid(OID_SIGNED_DATA), &tlv(0xa0, &signed_data)]);
        seq(&[&seq(&[&int(0)]), &token])
    }
}
