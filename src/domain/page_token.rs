//! Opaque page tokens (AIP-158): the position after the last item of a page, bound to the filters of
//! the first page so that a token reused with other filters is refused instead of skipping rows.

use sha2::{Digest, Sha256};

use super::FieldViolation;

/// The default and largest page sizes of list calls.
#[derive(Clone, Copy, Debug)]
pub struct PageLimits {
    pub default: u64,
    pub max: u64,
}

impl PageLimits {
    /// The page size to use: 0 (or less) means the default, more than the maximum means the maximum.
    pub fn size(self, requested: i32) -> u64 {
        if requested <= 0 {
            self.default
        } else {
            (requested as u64).min(self.max)
        }
    }
}

/// Makes the token that continues after `cursor` under `filters`.
pub fn encode(cursor: &str, filters: &str) -> String {
    format!("{}.{cursor}", fingerprint(filters))
}

/// Reads a token back; an empty token is the first page (`None`).
pub fn decode(token: &str, filters: &str) -> Result<Option<String>, FieldViolation> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || {
        FieldViolation::new(
            "page_token",
            "not a page token of this list with these filters",
        )
    };
    let (print, cursor) = token.split_once('.').ok_or_else(invalid)?;
    if print != fingerprint(filters) || cursor.is_empty() {
        return Err(invalid());
    }
    Ok(Some(cursor.to_owned()))
}

fn fingerprint(filters: &str) -> String {
    hex::encode(&Sha256::digest(filters.as_bytes())[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_continues_only_the_same_list() {
        let token = encode("0193-abc", "kind=AGENT");
        assert_eq!(
            decode(&token, "kind=AGENT"),
            Ok(Some("0193-abc".to_owned()))
        );
        assert!(decode(&token, "kind=CUSTOMER").is_err());
        assert!(decode("garbage", "kind=AGENT").is_err());
        assert_eq!(decode("", "anything"), Ok(None));
    }

    #[test]
    fn page_sizes_default_and_cap() {
        let limits = PageLimits {
            default: 50,
            max: 100,
        };
        assert_eq!(limits.size(0), 50);
        assert_eq!(limits.size(-3), 50);
        assert_eq!(limits.size(7), 7);
        assert_eq!(limits.size(1000), 100);
    }
}
