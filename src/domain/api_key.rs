//! API keys: `sk_…` secret keys read and write, `pk_…` publishable keys only read. A key is shown once
//! at creation; only its SHA-256 digest is stored. Keys are long random strings, so a fast digest is
//! enough (no password hashing), and the digest is compared in constant time.

use rand::{Rng, distr::Alphanumeric};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Random characters after the `sk_`/`pk_` marker: 40 alphanumerics, about 238 bits.
const SECRET_LENGTH: usize = 40;
/// Characters kept in clear (marker and the first random ones) to find a key's row and to show it.
pub const PREFIX_LENGTH: usize = 12;

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiKeyKind {
    /// Reads and writes.
    Secret,
    /// Only reads.
    Publishable,
}

impl ApiKeyKind {
    /// The marker a key of this kind starts with.
    pub fn marker(self) -> &'static str {
        match self {
            Self::Secret => "sk_",
            Self::Publishable => "pk_",
        }
    }

    /// The stored name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "SECRET",
            Self::Publishable => "PUBLISHABLE",
        }
    }

    /// Parses the stored name of the kind.
    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "SECRET" => Some(Self::Secret),
            "PUBLISHABLE" => Some(Self::Publishable),
            _ => None,
        }
    }

    /// Whether a key of this kind may call a method that changes data.
    pub fn can_write(self) -> bool {
        self == Self::Secret
    }
}

/// A freshly generated key: the plaintext goes to the user once, the rest to storage.
#[derive(Debug)]
pub struct GeneratedKey {
    pub plaintext: String,
    pub prefix: String,
    pub digest: String,
    pub kind: ApiKeyKind,
}

impl GeneratedKey {
    /// Generates a random key of the given kind.
    pub fn generate(kind: ApiKeyKind) -> Self {
        let random: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(SECRET_LENGTH)
            .map(char::from)
            .collect();
        let plaintext = format!("{}{random}", kind.marker());
        Self {
            prefix: plaintext[..PREFIX_LENGTH].to_owned(),
            digest: digest(&plaintext),
            plaintext,
            kind,
        }
    }
}

/// A key as presented by a caller, checked for shape only.
#[derive(Debug)]
pub struct PresentedKey<'a> {
    plaintext: &'a str,
}

impl<'a> PresentedKey<'a> {
    /// Accepts anything shaped like a key; the store decides whether it is one.
    pub fn parse(text: &'a str) -> Option<Self> {
        let text = text.trim();
        let shaped = (text.starts_with("sk_") || text.starts_with("pk_"))
            && text.len() == 3 + SECRET_LENGTH
            && text
                .bytes()
                .skip(3)
                .all(|byte| byte.is_ascii_alphanumeric());
        shaped.then_some(Self { plaintext: text })
    }

    /// The part stored in clear, used to find candidate rows.
    pub fn prefix(&self) -> &'a str {
        &self.plaintext[..PREFIX_LENGTH]
    }

    /// Whether this key is the one whose digest was stored, compared in constant time.
    pub fn matches(&self, stored_digest: &str) -> bool {
        digest(self.plaintext)
            .as_bytes()
            .ct_eq(stored_digest.as_bytes())
            .into()
    }
}

/// The hex SHA-256 digest of a key.
fn digest(plaintext: &str) -> String {
    hex::encode(Sha256::digest(plaintext.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_and_matches_its_digest() {
        let key = GeneratedKey::generate(ApiKeyKind::Secret);
        assert!(key.plaintext.starts_with("sk_"));
        let presented =
            PresentedKey::parse(&key.plaintext).expect("a generated key is well formed");
        assert_eq!(presented.prefix(), key.prefix);
        assert!(presented.matches(&key.digest));
        assert!(!presented.matches(&GeneratedKey::generate(ApiKeyKind::Secret).digest));
    }

    #[test]
    fn publishable_keys_are_marked_and_cannot_write() {
        let key = GeneratedKey::generate(ApiKeyKind::Publishable);
        assert!(key.plaintext.starts_with("pk_"));
        assert!(!key.kind.can_write());
        assert!(ApiKeyKind::Secret.can_write());
    }

    #[test]
    fn malformed_keys_are_refused_before_any_lookup() {
        for text in [
            "",
            "sk_",
            "sk_short",
            "xx_0123456789012345678901234567890123456789",
            "sk_01234567890123456789012345678901234567-9",
        ] {
            assert!(PresentedKey::parse(text).is_none(), "{text}");
        }
    }
}
