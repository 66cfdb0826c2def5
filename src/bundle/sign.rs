//! Signed bundles: `bundle.sig` holds the bundle's digest and an ed25519
//! signature over it, so that a host that trusts only some keys serves only the
//! bundles someone holding one of them approved.
//!
//! The digest covers the manifest, the rule files and the policy; `bundle.sig`
//! sits beside them and outside the digest. The signed message is
//! `talktrack bundle digest v1\n` followed by the digest in hex. Keys are text
//! files: one line of hex (32 bytes), after optional `#` comment lines.

use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, Verifier};
use serde::Deserialize;

use super::{read_bounded, Bundle, LoadError};
use crate::problem::{Code, Problem};

/// The signature file in a bundle directory.
pub const SIGNATURE_FILE: &str = "bundle.sig";

/// Largest key or signature file read, in bytes.
const MAX_SMALL_FILE: u64 = 4 << 10;

/// What the signature signs, before the digest.
const DOMAIN: &str = "talktrack bundle digest v1\n";

/// A public key bundles are verified with.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyKey(ed25519_dalek::VerifyingKey);

/// A private key bundles are signed with.
pub struct SignKey(ed25519_dalek::SigningKey);

impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyKey({})", self.to_hex())
    }
}

impl fmt::Debug for SignKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignKey(public {})", self.verify_key().to_hex())
    }
}

/// A key file that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("key file `{}`: {message}", path.display())]
pub struct KeyError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

/// The 32 bytes of hex on the first line that is not blank or a `#` comment.
fn key_bytes(text: &str) -> Result<[u8; 32], String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or("no key in the file (expected one line of 64 hex digits)")?;
    let bytes = hex::decode(line).map_err(|e| format!("the key is not hex: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("the key is {} bytes, not 32", bytes.len()))
}

fn read_key_file(path: &Path) -> Result<[u8; 32], KeyError> {
    let fail = |message: String| KeyError {
        path: path.to_owned(),
        message,
    };
    let bytes = read_bounded(path, MAX_SMALL_FILE).map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| fail("the file is not UTF-8".into()))?;
    key_bytes(&text).map_err(fail)
}

impl VerifyKey {
    /// Reads a public key file (as `talktrack keygen` writes `NAME.pub`).
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let bytes = read_key_file(path)?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|e| KeyError {
                path: path.to_owned(),
                message: format!("not an ed25519 public key: {e}"),
            })
    }

    /// The key in hex, as key files hold it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }
}

impl SignKey {
    /// The key of a 32-byte secret seed (32 random bytes make a new key).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// Reads a private key file (as `talktrack keygen` writes `NAME.key`).
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        read_key_file(path).map(Self::from_seed)
    }

    /// The private key file's text.
    pub fn to_file_text(&self) -> String {
        format!(
            "# talktrack bundle signing key (ed25519); keep it secret\n{}\n",
            hex::encode(self.0.to_bytes())
        )
    }

    /// Its public key.
    pub fn verify_key(&self) -> VerifyKey {
        VerifyKey(self.0.verifying_key())
    }
}

impl VerifyKey {
    /// The public key file's text.
    pub fn to_file_text(&self) -> String {
        format!(
            "# talktrack bundle verification key (ed25519)\n{}\n",
            self.to_hex()
        )
    }
}

/// `bundle.sig`, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SigFile {
    digest: String,
    key: String,
    signature: String,
}

/// What signing wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The digest signed.
    pub digest: String,
    /// The public key that verifies it, in hex.
    pub key: String,
    /// The file written.
    pub file: PathBuf,
}

/// Loads the bundle in `dir` (it must be valid) and writes `bundle.sig`: its digest
/// signed with `key`.
pub fn sign(dir: &Path, key: &SignKey) -> Result<Signed, LoadError> {
    let b = Bundle::load(dir)?;
    let message = format!("{DOMAIN}{}", b.digest());
    let sig = key.0.sign(message.as_bytes());
    let file = SigFile {
        digest: b.digest().to_owned(),
        key: key.verify_key().to_hex(),
        signature: hex::encode(sig.to_bytes()),
    };
    // Every value is hex: no quoting to do.
    let text = format!(
        "# talktrack bundle signature: ed25519 over the bundle digest\ndigest = \"{}\"\nkey = \"{}\"\nsignature = \"{}\"\n",
        file.digest, file.key, file.signature
    );
    let path = dir.join(SIGNATURE_FILE);
    std::fs::write(&path, text).map_err(|e| LoadError {
        dir: dir.to_owned(),
        problems: vec![Problem::error(
            Code::BundleSignature,
            Path::new(SIGNATURE_FILE),
            format!("cannot write the signature: {e}"),
        )],
    })?;
    Ok(Signed {
        digest: file.digest,
        key: file.key,
        file: path,
    })
}

impl Bundle {
    /// Checks `bundle.sig`: it must sign this bundle's digest with one of `keys`.
    /// With no keys, every bundle passes.
    pub fn verify(&self, keys: &[VerifyKey]) -> Result<(), LoadError> {
        if keys.is_empty() {
            return Ok(());
        }
        check(self, keys).map_err(|p| LoadError {
            dir: self.dir().to_owned(),
            problems: vec![p],
        })
    }
}

#[allow(clippy::result_large_err)] // cold path: once per load
fn check(b: &Bundle, keys: &[VerifyKey]) -> Result<(), Problem> {
    let shown = Path::new(SIGNATURE_FILE);
    let fail = |m: String| Problem::error(Code::BundleSignature, shown, m);
    let bytes = read_bounded(&b.dir().join(SIGNATURE_FILE), MAX_SMALL_FILE).map_err(|e| {
        fail(format!(
            "the bundle must be signed and its signature cannot be read: {e}"
        ))
        .with_help("sign it with `talktrack seal <bundle> --sign-key <key>`")
    })?;
    let text = String::from_utf8(bytes).map_err(|_| fail("the file is not UTF-8".into()))?;
    let sig: SigFile =
        toml::from_str(&text).map_err(|e| fail(e.message().trim_end().to_owned()))?;
    if sig.digest != b.digest() {
        return Err(fail(format!(
            "the signature is for digest `{}`, and the bundle's digest is `{}`: it changed after it was signed",
            sig.digest,
            b.digest()
        )));
    }
    let key = keys.iter().find(|k| k.to_hex() == sig.key).ok_or_else(|| {
        fail(format!(
            "signed with key `{}`, which is not one of the {} trusted key(s)",
            sig.key,
            keys.len()
        ))
    })?;
    let raw = hex::decode(&sig.signature)
        .ok()
        .and_then(|v| <[u8; 64]>::try_from(v.as_slice()).ok())
        .ok_or_else(|| fail("the signature is not 64 bytes of hex".into()))?;
    key.0
        .verify(
            format!("{DOMAIN}{}", b.digest()).as_bytes(),
            &Signature::from_bytes(&raw),
        )
        .map_err(|_| {
            fail(format!(
                "the signature does not verify with key `{}`",
                sig.key
            ))
        })
}
