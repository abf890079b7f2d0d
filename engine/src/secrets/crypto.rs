//! Sealing and opening secret values with XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`).
//!
//! A sealed value is `nonce (24 bytes) ‖ ciphertext ‖ tag (16 bytes)`. The associated data
//! binds it to its row (`org/name/version`), so a ciphertext copied onto another secret or
//! version fails to open instead of revealing the wrong value. Nonces are random: 192 bits make
//! a collision negligible without any counter to keep.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use super::key::SecretsKey;

const NONCE_LEN: usize = 24;

/// What a ciphertext is bound to.
fn associated_data(org: &str, name: &str, version: u64) -> Vec<u8> {
    format!("windlass-secret:v1:{org}/{name}/{version}").into_bytes()
}

/// Encrypts `value` for `org/name/version` under `key`.
pub(crate) fn seal(
    key: &SecretsKey,
    org: &str,
    name: &str,
    version: u64,
    value: &SecretString,
) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let aad = associated_data(org, name, version);
    let payload = Payload {
        msg: value.expose_secret().as_bytes(),
        aad: &aad,
    };
    // Encryption fails only for messages beyond the cipher's limit (256 GiB); values are
    // capped far below that when they are set.
    let sealed = cipher
        .encrypt(&XNonce::from(nonce), payload)
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// Decrypts what [`seal`] made for `org/name/version`; `None` when the bytes are not a value
/// sealed under `key` for that row (a wrong key or a corrupted ciphertext: the AEAD cannot
/// tell them apart, the key id stored beside the ciphertext can).
pub(crate) fn open(
    key: &SecretsKey,
    org: &str,
    name: &str,
    version: u64,
    sealed: &[u8],
) -> Option<SecretString> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let aad = associated_data(org, name, version);
    let plain = cipher
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: body,
                aad: &aad,
            },
        )
        .ok()?;
    // Values are set as UTF-8 text; anything else is corruption.
    String::from_utf8(plain).ok().map(SecretString::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_row_and_key() {
        let key = SecretsKey::generate();
        let value = SecretString::from("hunter2-distinctive");
        let sealed = seal(&key, "acme", "db", 1, &value);
        assert!(
            !sealed.windows(b"hunter2".len()).any(|w| w == b"hunter2"),
            "the plaintext shows through"
        );
        let opened = open(&key, "acme", "db", 1, &sealed).expect("opens");
        assert_eq!(opened.expose_secret(), "hunter2-distinctive");
        assert!(
            open(&key, "acme", "db", 2, &sealed).is_none(),
            "other version"
        );
        assert!(
            open(&key, "acme", "other", 1, &sealed).is_none(),
            "other name"
        );
        assert!(
            open(&SecretsKey::generate(), "acme", "db", 1, &sealed).is_none(),
            "other key"
        );
        let mut corrupted = sealed.clone();
        let last = corrupted.len() - 1;
        corrupted[last] ^= 1;
        assert!(
            open(&key, "acme", "db", 1, &corrupted).is_none(),
            "corrupted"
        );
        assert!(
            open(&key, "acme", "db", 1, &sealed[..10]).is_none(),
            "truncated"
        );
    }
}
