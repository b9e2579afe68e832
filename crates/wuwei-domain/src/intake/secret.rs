//! The shared secrets that devices and camera platforms sign with, and HMAC-SHA256 over them.
//!
//! A secret is 32 random bytes, shown to the administrator once as 64 lowercase hex characters
//! and configured into the device or the camera platform in that form. The HMAC key is the 32
//! raw bytes (the hex decoded), not the hex text.
//!
//! Unlike session and API tokens, these secrets cannot be stored as hashes: the server needs the
//! secret itself to recompute a signature. The storage layer keeps them as they are (or
//! encrypted at rest), and never returns them after creation.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length of a secret and of a signature (an HMAC-SHA256 tag), in bytes.
pub const SECRET_BYTES: usize = 32;
pub const TAG_BYTES: usize = 32;

/// A device's or a camera platform's signing secret. `Debug` shows `***`, so it can sit in any
/// struct that is logged.
#[derive(Clone, PartialEq, Eq)]
pub struct IntakeSecret([u8; SECRET_BYTES]);

/// An HMAC-SHA256 tag as it arrived (or as computed).
pub type Tag = [u8; TAG_BYTES];

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// 422 on the secret field: the administrator typed or pasted something else.
    #[error("a secret is {} lowercase hex characters", SECRET_BYTES * 2)]
    Format,
}

impl IntakeSecret {
    /// A new secret from random bytes the caller drew (the server's CSPRNG): generation stays
    /// pure and testable.
    pub fn from_random(bytes: [u8; SECRET_BYTES]) -> IntakeSecret {
        IntakeSecret(bytes)
    }

    /// The secret as stored and shown once: 64 lowercase hex characters. Upper case is refused
    /// rather than folded so that there is exactly one spelling of every secret.
    pub fn parse_hex(s: &str) -> Result<IntakeSecret, SecretError> {
        parse_hex32(s).map(IntakeSecret).ok_or(SecretError::Format)
    }

    /// The secret in the one form it is ever shown or stored in.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn keyed(&self) -> Option<HmacSha256> {
        // HMAC takes keys of any length, so this never fails; it is still handled, not unwrapped.
        <HmacSha256 as Mac>::new_from_slice(&self.0).ok()
    }

    /// HMAC-SHA256 of the concatenation of `parts` (what a signer computes). Returns `None` only
    /// if the HMAC implementation refused the key, which it does not for 32 bytes.
    pub fn sign(&self, parts: &[&[u8]]) -> Option<Tag> {
        let mut mac = self.keyed()?;
        for p in parts {
            mac.update(p);
        }
        Some(mac.finalize().into_bytes().into())
    }

    /// Whether `tag` is the HMAC of the concatenation of `parts`. The comparison is in constant
    /// time (`hmac`'s `verify_slice`, through `subtle`), so a forger learns nothing from how
    /// long a wrong guess took to refuse.
    pub fn verify(&self, parts: &[&[u8]], tag: &Tag) -> bool {
        let Some(mut mac) = self.keyed() else { return false };
        for p in parts {
            mac.update(p);
        }
        mac.verify_slice(tag).is_ok()
    }
}

impl std::fmt::Debug for IntakeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntakeSecret(***)")
    }
}

/// 32 bytes from exactly 64 lowercase hex characters, else `None`. Signatures are parsed with
/// this too: a signature is a fixed-size value and anything else is refused before any HMAC
/// work is done.
pub fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_4231_test_case_2() {
        // RFC 4231 uses a 4-byte key; check the HMAC itself through the crate with that key,
        // then that our wrapper agrees with it for a 32-byte key.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let secret = IntakeSecret::from_random([7; 32]);
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&[7; 32]).unwrap();
        mac.update(b"ab");
        let expected: Tag = mac.finalize().into_bytes().into();
        assert_eq!(secret.sign(&[b"a", b"b"]), Some(expected));
    }

    #[test]
    fn secrets_have_one_spelling_and_are_never_printed() {
        let s = IntakeSecret::from_random([0xab; 32]);
        assert_eq!(s.to_hex(), "ab".repeat(32));
        assert_eq!(IntakeSecret::parse_hex(&s.to_hex()), Ok(s.clone()));
        assert_eq!(IntakeSecret::parse_hex(&"AB".repeat(32)), Err(SecretError::Format));
        assert_eq!(IntakeSecret::parse_hex(&"ab".repeat(31)), Err(SecretError::Format));
        assert_eq!(IntakeSecret::parse_hex(&format!("{}g", "a".repeat(63))), Err(SecretError::Format));
        assert_eq!(format!("{s:?}"), "IntakeSecret(***)");
        // Not even a multi-byte character that happens to make the length 64 gets through.
        assert!(parse_hex32(&format!("{}é", "a".repeat(62))).is_none());
    }

    proptest! {
        /// Flipping any bit of the message or of the tag makes verification fail.
        #[test]
        fn any_tampering_fails(
            key in any::<[u8; 32]>(),
            msg in proptest::collection::vec(any::<u8>(), 1..300),
            flip in any::<usize>(),
            bit in 0u8..8,
            in_tag in any::<bool>(),
        ) {
            let secret = IntakeSecret::from_random(key);
            let tag = secret.sign(&[&msg]).unwrap();
            prop_assert!(secret.verify(&[&msg], &tag));
            if in_tag {
                let mut t = tag;
                t[flip % TAG_BYTES] ^= 1 << bit;
                prop_assert!(!secret.verify(&[&msg], &t));
            } else {
                let mut m = msg.clone();
                let i = flip % m.len();
                m[i] ^= 1 << bit;
                prop_assert!(!secret.verify(&[&m], &tag));
            }
        }

        /// Another key never verifies the tag.
        #[test]
        fn another_key_fails(a in any::<[u8; 32]>(), b in any::<[u8; 32]>(), msg in any::<Vec<u8>>()) {
            prop_assume!(a != b);
            let tag = IntakeSecret::from_random(a).sign(&[&msg]).unwrap();
            prop_assert!(!IntakeSecret::from_random(b).verify(&[&msg], &tag));
        }
    }
}
