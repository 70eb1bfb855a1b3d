//! Cache keys: sha256 over a step's definition after expansion, in a length-prefixed encoding so that
//! different field splits can never collide (`"ab" + "c"` ≠ `"a" + "bc"`).
use sha2::{Digest as _, Sha256};

pub(crate) struct KeyBuilder {
    hash: Sha256,
    inputs: Vec<Input>,
}

/// One named input of a key, kept (besides hashed) so that `--explain` can say which input changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Input {
    pub name: String,
    pub values: Vec<String>,
}

/// A finished key and the inputs it was made of. Derefs to the key string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StepKey {
    pub key: String,
    pub inputs: Vec<Input>,
}

impl std::ops::Deref for StepKey {
    type Target = String;
    fn deref(&self) -> &String {
        &self.key
    }
}

impl KeyBuilder {
    /// A key for a step of kind `kind` (`run`, `copy` …); bump the version when the meaning of a kind changes
    /// (v2: RUN layers no longer keep the empty mount-point files of /etc/hosts, resolv.conf, hostname;
    /// v3: COPY --from keeps the source's owners, copies skip FIFOs and make devices empty files, layers keep
    /// no xattr but security.capability).
    pub fn new(kind: &str) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"hoist-cache-v3\0");
        let mut k = KeyBuilder {
            hash,
            inputs: vec![Input {
                name: "kind".into(),
                values: vec![kind.into()],
            }],
        };
        k.put(kind.as_bytes());
        k
    }

    fn put(&mut self, bytes: &[u8]) {
        self.hash.update((bytes.len() as u64).to_le_bytes());
        self.hash.update(bytes);
    }

    pub fn field(mut self, name: &str, value: &str) -> Self {
        self.put(name.as_bytes());
        self.put(value.as_bytes());
        self.inputs.push(Input {
            name: name.into(),
            values: vec![value.into()],
        });
        self
    }

    pub fn list<S: AsRef<str>>(mut self, name: &str, values: &[S]) -> Self {
        self.put(name.as_bytes());
        self.hash.update((values.len() as u64).to_le_bytes());
        for v in values {
            self.put(v.as_ref().as_bytes());
        }
        self.inputs.push(Input {
            name: name.into(),
            values: values.iter().map(|v| v.as_ref().to_string()).collect(),
        });
        self
    }

    /// `SOURCE_DATE_EPOCH` changes the layers a step makes (their mtimes): a key made with it differs from one
    /// made without. Nothing is added when it is unset, so existing keys stay as they are. A stage's base key
    /// takes it, and every step's key chains from its parent's.
    pub fn source_date_epoch(self, epoch: Option<i64>) -> Self {
        match epoch {
            Some(epoch) => self.field("source-date-epoch", &epoch.to_string()),
            None => self,
        }
    }

    pub fn finish(self) -> StepKey {
        StepKey {
            key: format!("sha256:{}", hex::encode(self.hash.finalize())),
            inputs: self.inputs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_boundaries_matter() {
        let a = KeyBuilder::new("run")
            .field("x", "ab")
            .field("y", "c")
            .finish();
        let b = KeyBuilder::new("run")
            .field("x", "a")
            .field("y", "bc")
            .finish();
        assert_ne!(a, b);
        let c = KeyBuilder::new("run").list("args", &["a b"]).finish();
        let d = KeyBuilder::new("run").list("args", &["a", "b"]).finish();
        assert_ne!(c, d);
    }

    #[test]
    fn the_epoch_enters_a_key_only_when_set() {
        let plain = KeyBuilder::new("scratch").finish();
        assert_eq!(
            KeyBuilder::new("scratch").source_date_epoch(None).finish(),
            plain
        );
        let a = KeyBuilder::new("scratch")
            .source_date_epoch(Some(1))
            .finish();
        let b = KeyBuilder::new("scratch")
            .source_date_epoch(Some(2))
            .finish();
        assert_ne!(a, plain);
        assert_ne!(a, b);
    }

    #[test]
    fn same_definition_same_key() {
        let a = KeyBuilder::new("copy").field("dest", "/app").finish();
        let b = KeyBuilder::new("copy").field("dest", "/app").finish();
        assert_eq!(a, b);
    }
}
