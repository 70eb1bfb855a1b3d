//! Content digests (`sha256:<hex>`).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::StoreError;

/// A validated `sha256:<64 lowercase hex>` digest.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl TryFrom<String> for Digest {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Digest, StoreError> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl Digest {
    const PREFIX: &'static str = "sha256:";

    /// The sha256 digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    pub(crate) fn from_hasher(hasher: Sha256) -> Digest {
        Digest(format!(
            "{}{}",
            Self::PREFIX,
            hex::encode(hasher.finalize())
        ))
    }

    /// Build from 64 hex digits without the `sha256:` prefix.
    pub fn from_hex(hex: &str) -> Result<Digest, StoreError> {
        format!("{}{hex}", Self::PREFIX).parse()
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0[Self::PREFIX.len()..]
    }

    /// The first 12 hex digits, as `docker images` shows them.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Digest {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Digest, StoreError> {
        let hex = s
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| StoreError::InvalidDigest(s.to_string()))?;
        let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid {
            return Err(StoreError::InvalidDigest(s.to_string()));
        }
        Ok(Digest(s.to_string()))
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Digest> for oci_spec::image::Digest {
    fn from(d: Digest) -> Self {
        // A validated sha256 digest is always a valid OCI digest.
        oci_spec::image::Digest::from_str(&d.0).unwrap_or_else(|_| unreachable!("validated digest"))
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = StoreError;
    fn try_from(d: &oci_spec::image::Digest) -> Result<Digest, StoreError> {
        d.to_string().parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_and_rejects_invalid() {
        let d = Digest::of_bytes(b"");
        assert_eq!(
            d.as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(d.as_str().parse::<Digest>().unwrap(), d);
        for bad in [
            "",
            "sha256:",
            "sha256:abc",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
            "sha256:../../etc/passwd0000000000000000000000000000000000000000000000",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad} should be invalid");
        }
        let oci: oci_spec::image::Digest = d.clone().into();
        assert_eq!(Digest::try_from(&oci).unwrap(), d);
    }
}
