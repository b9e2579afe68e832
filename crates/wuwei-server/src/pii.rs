//! Sealing personal numbers at rest: a dispute party's resident ID and phone number are stored
//! only sealed (ChaCha20-Poly1305 with a random nonce, the field's name as associated data, so a
//! sealed phone cannot be passed off as an ID) and shown masked; revealing one is audited.
//!
//! The key is `pii_key` from the configuration (64 hex characters; required when several
//! servers share one PostgreSQL database) or else `<data_dir>/keys/pii.key`, made on first use
//! with owner-only permissions. Losing the key loses the numbers, not the disputes: their masked
//! forms are stored beside them.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

const VERSION: &str = "v1:";
const NONCE_BYTES: usize = 12;

/// The key that seals personal numbers. `Debug` never shows it.
#[derive(Clone)]
pub struct PiiKey([u8; 32]);

impl std::fmt::Debug for PiiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PiiKey(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PiiKeyError {
    #[error("pii_key must be 64 hexadecimal characters")]
    BadKey,
    #[error("cannot read or create the key file {path}: {source}")]
    File { path: String, source: std::io::Error },
}

impl PiiKey {
    pub fn from_hex(hex_key: &str) -> Result<PiiKey, PiiKeyError> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| PiiKeyError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| PiiKeyError::BadKey)?;
        Ok(PiiKey(key))
    }

    /// The key in `<data_dir>/keys/pii.key`, made (random, mode 0600) when absent.
    pub fn load_or_create(data_dir: &Path) -> Result<PiiKey, PiiKeyError> {
        let path = data_dir.join("keys").join("pii.key");
        let err = |source| PiiKeyError::File { path: path.display().to_string(), source };
        match std::fs::read_to_string(&path) {
            Ok(text) => return PiiKey::from_hex(&text),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
            Err(_) => {}
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let key: [u8; 32] = rand::random();
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        match opts.open(&path) {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(hex::encode(key).as_bytes()).map_err(err)?;
                f.sync_all().map_err(err)?;
                Ok(PiiKey(key))
            }
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                PiiKey::from_hex(&std::fs::read_to_string(&path).map_err(err)?)
            }
            Err(e) => Err(err(e)),
        }
    }

    /// `v1:` + base64(nonce ‖ ciphertext) of `value`, bound to `field`.
    pub fn seal(&self, field: &str, value: &str) -> Option<String> {
        use base64::Engine;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let sealed =
            cipher.encrypt(Nonce::from_slice(&nonce), Payload { msg: value.as_bytes(), aad: field.as_bytes() }).ok()?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Some(format!("{VERSION}{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)))
    }

    /// The clear value of a sealed `field`, or `None` if it was sealed by another key, for
    /// another field, or tampered with.
    pub fn open(&self, field: &str, sealed: &str) -> Option<String> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD.decode(sealed.strip_prefix(VERSION)?).ok()?;
        if raw.len() <= NONCE_BYTES {
            return None;
        }
        let (nonce, body) = raw.split_at(NONCE_BYTES);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let clear = cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: field.as_bytes() }).ok()?;
        String::from_utf8(clear).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_numbers_open_only_with_their_key_and_field() {
        let key = PiiKey([7; 32]);
        let sealed = key.seal("id_number", "37142820260101123X").unwrap();
        assert!(sealed.starts_with("v1:") && !sealed.contains("1234"));
        assert_eq!(key.open("id_number", &sealed).as_deref(), Some("37142820260101123X"));
        assert_eq!(key.open("phone", &sealed), None, "bound to its field");
        assert_eq!(PiiKey([8; 32]).open("id_number", &sealed), None, "bound to its key");
        // A random nonce: the same number never seals the same way twice.
        assert_ne!(key.seal("id_number", "37142820260101123X").unwrap(), sealed);
        // One flipped bit of the ciphertext: refused (a changed base64 character might only
        // touch padding bits, so the bytes themselves are changed).
        use base64::Engine;
        let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
        let mut raw = engine.decode(sealed.strip_prefix("v1:").unwrap()).unwrap();
        raw[NONCE_BYTES + 1] ^= 0x01;
        let tampered = format!("v1:{}", engine.encode(raw));
        assert_eq!(key.open("id_number", &tampered), None);
        assert!(format!("{key:?}").contains("***"));
    }

    #[test]
    fn the_key_file_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = PiiKey::load_or_create(dir.path()).unwrap();
        let b = PiiKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("keys/pii.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner only");
        }
        assert!(matches!(PiiKey::from_hex("abc"), Err(PiiKeyError::BadKey)));
    }
}
