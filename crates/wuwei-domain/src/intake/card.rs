//! Household cards: a printed card with a QR code that signs a phone in to its household's
//! one-click call page.
//!
//! The QR code holds a link, `{origin}/m/call?card=wwc_…`, so that any phone's camera app opens
//! the page; the page trades the token for a long-lived session of the household. The token is
//! 32 random bytes (256 bits, like session and API tokens) in URL-safe base64 without padding,
//! behind the prefix `wwc_`; the store keeps only its SHA-256 ([`CardToken::hash_hex`]), so a
//! database leak prints no cards. Revoking a card is the store's (a revoked hash answers 401).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub const CARD_PREFIX: &str = "wwc_";
pub const CARD_TOKEN_BYTES: usize = 32;
/// The token's length: the prefix and 43 base64 characters.
pub const CARD_TOKEN_LEN: usize = CARD_PREFIX.len() + 43;
/// The page the link opens, and the query parameter carrying the token.
pub const CALL_PATH: &str = "/m/call";
pub const CARD_PARAM: &str = "card";
/// What precedes the token in a link (`CALL_PATH?CARD_PARAM=`).
const LINK_MARKER: &str = "/m/call?card=";
/// The longest link we parse: an origin (with a path prefix, if the server lives under one) and
/// the card's part.
pub const CARD_LINK_MAX: usize = 512;
/// A phone signed in by a card stays signed in this long (renewed on use): the people who use the
/// page are exactly the people who will not sign in again.
pub const CARD_SESSION_DAYS: i64 = 365;

/// A household card's token. `Debug` does not show it (it is a credential).
#[derive(Clone, PartialEq, Eq)]
pub struct CardToken(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// 401 (as a revoked or unknown card): whatever was scanned, it is not one of our cards.
    #[error("not a household card")]
    NotACard,
}

impl CardToken {
    /// A new token from random bytes the caller drew (the server's CSPRNG).
    pub fn from_random(bytes: [u8; CARD_TOKEN_BYTES]) -> CardToken {
        CardToken(format!("{CARD_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A token as typed or scanned: the prefix and exactly the base64 of 32 bytes, in its one
    /// canonical spelling (the decoder refuses stray trailing bits, so no two strings are the
    /// same card).
    pub fn parse(s: &str) -> Result<CardToken, CardError> {
        let b64 = s.strip_prefix(CARD_PREFIX).filter(|_| s.len() == CARD_TOKEN_LEN).ok_or(CardError::NotACard)?;
        let mut bytes = [0u8; CARD_TOKEN_BYTES + 3];
        match URL_SAFE_NO_PAD.decode_slice(b64, &mut bytes) {
            Ok(CARD_TOKEN_BYTES) => Ok(CardToken(s.to_string())),
            _ => Err(CardError::NotACard),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store keeps and looks the card up by.
    pub fn hash_hex(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// The link the QR code holds. `origin` is the public address of the server as the town
    /// configured it (`https://wuwei.example.cn`, or with a path prefix), without a trailing `/`.
    pub fn link(&self, origin: &str) -> String {
        format!("{}{CALL_PATH}?{CARD_PARAM}={}", origin.trim_end_matches('/'), self.0)
    }
}

impl std::fmt::Debug for CardToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardToken(***)")
    }
}

/// The token in a scanned link, strictly: the link must end in `/m/call?card=<token>` with
/// nothing after (no other parameter, no fragment), and what comes before must be empty or an
/// `http(s)` origin with an optional path, in plain URL characters. A bare token is accepted
/// too, for a card typed in by hand.
pub fn parse_link(s: &str) -> Result<CardToken, CardError> {
    if s.len() > CARD_LINK_MAX {
        return Err(CardError::NotACard);
    }
    if s.starts_with(CARD_PREFIX) {
        return CardToken::parse(s);
    }
    let (before, token) = s.rsplit_once(LINK_MARKER).ok_or(CardError::NotACard)?;
    let origin_ok = before.is_empty()
        || ((before.starts_with("https://") || before.starts_with("http://"))
            && before.len() > "https://".len()
            && before.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~:/[]%".contains(&b)));
    if !origin_ok {
        return Err(CardError::NotACard);
    }
    CardToken::parse(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tokens_round_trip_through_their_link() {
        let t = CardToken::from_random([0xfb; 32]);
        assert!(t.as_str().starts_with("wwc_"));
        assert_eq!(t.as_str().len(), CARD_TOKEN_LEN);
        assert_eq!(CardToken::parse(t.as_str()), Ok(t.clone()));
        let link = t.link("https://wuwei.example.cn/");
        assert_eq!(link, format!("https://wuwei.example.cn/m/call?card={}", t.as_str()));
        assert_eq!(parse_link(&link), Ok(t.clone()));
        assert_eq!(parse_link(&t.link("http://10.0.0.2:8080/dw")), Ok(t.clone()));
        assert_eq!(parse_link(&format!("/m/call?card={}", t.as_str())), Ok(t.clone()));
        assert_eq!(parse_link(t.as_str()), Ok(t.clone()));
        assert_eq!(format!("{t:?}"), "CardToken(***)");
        assert_eq!(t.hash_hex().len(), 64);
        assert_ne!(t.hash_hex(), CardToken::from_random([0xfa; 32]).hash_hex());
    }

    #[test]
    fn anything_else_is_not_a_card() {
        let t = CardToken::from_random([7; 32]);
        let good = t.link("https://wuwei.example.cn");
        for bad in [
            String::new(),
            "wwc_".into(),
            t.as_str()[..CARD_TOKEN_LEN - 1].to_string(),
            format!("{}A", t.as_str()),
            t.as_str().replace("wwc_", "wwt_"),
            format!("{good}&x=1"),
            format!("{good}#top"),
            format!("{good} "),
            good.replace("/m/call", "/m/calls"),
            good.replace("https://", "javascript://"),
            good.replace("wuwei.example.cn", "evil example"),
            format!("https://x/?a=1{}", &good["https://wuwei.example.cn".len()..]),
            format!("https://{}{}", "a".repeat(CARD_LINK_MAX), &good["https://wuwei.example.cn".len()..]),
        ] {
            assert_eq!(parse_link(&bad), Err(CardError::NotACard), "{bad:?}");
        }
        // 43 base64 characters carry 258 bits for 256: a token whose last character differs
        // only in the 2 unused bits is refused, so a card has one spelling.
        const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut s = t.as_str().to_string();
        let last = s.pop().unwrap();
        let v = ALPHABET.find(last).unwrap();
        s.push(ALPHABET.as_bytes()[v ^ 1] as char);
        assert_eq!(CardToken::parse(&s), Err(CardError::NotACard));
        assert_eq!(LINK_MARKER, format!("{CALL_PATH}?{CARD_PARAM}="));
    }

    proptest! {
        /// Every token made from random bytes parses back, alone and in its link, and distinct
        /// bytes never give the same token.
        #[test]
        fn tokens_round_trip(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            let t = CardToken::from_random(a);
            prop_assert_eq!(CardToken::parse(t.as_str()), Ok(t.clone()));
            prop_assert_eq!(parse_link(&t.link("https://wuwei.example.cn")), Ok(t.clone()));
            prop_assert_eq!(a == b, CardToken::from_random(b) == t);
        }

        /// A string is a token exactly when it is what some bytes make: one spelling per card.
        #[test]
        fn one_spelling_per_card(s in "wwc_[A-Za-z0-9_-]{43}") {
            if let Ok(t) = CardToken::parse(&s) {
                let mut bytes = [0u8; 32];
                prop_assert_eq!(URL_SAFE_NO_PAD.decode_slice(&s[4..], &mut bytes), Ok(32));
                prop_assert_eq!(CardToken::from_random(bytes), t);
            }
        }

        #[test]
        fn parsing_links_is_total(s in "\\PC{0,600}") {
            let _ = parse_link(&s);
        }
    }
}
