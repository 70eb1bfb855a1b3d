//! Cache keys: sha256 over a step's definition after expansion, in a length-prefixed encoding so that
//! different field splits can never collide (`"ab" + "c"` ≠ `"a" + "bc"`).
use sha2::{Digest as _, Sha256};

pub(crate) struct KeyBuilder(Sha256);

impl KeyBuilder {
    /// A key for a step of kind `kind` (`run`, `copy` …); bump the version when the meaning of a kind changes.
    pub fn new(kind: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"hoist-cache-v1\0");
        let mut k = KeyBuilder(h);
        k.put(kind.as_bytes());
        k
    }

    fn put(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    pub fn field(mut self, name: &str, value: &str) -> Self {
        self.put(name.as_bytes());
        self.put(value.as_bytes());
        self
    }

    pub fn list<S: AsRef<str>>(mut self, name: &str, values: &[S]) -> Self {
        self.put(name.as_bytes());
        self.0.update((values.len() as u64).to_le_bytes());
        for v in values {
            self.put(v.as_ref().as_bytes());
        }
        self
    }

    pub fn finish(self) -> String {
        format!("sha256:{}", hex::encode(self.0.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_boundaries_matter() {
        let a = KeyBuilder::new("run").field("x", "ab").field("y", "c").finish();
        let b = KeyBuilder::new("run").field("x", "a").field("y", "bc").finish();
        assert_ne!(a, b);
        let c = KeyBuilder::new("run").list("args", &["a b"]).finish();
        let d = KeyBuilder::new("run").list("args", &["a", "b"]).finish();
        assert_ne!(c, d);
    }

    #[test]
    fn same_definition_same_key() {
        let a = KeyBuilder::new("copy").field("dest", "/app").finish();
        let b = KeyBuilder::new("copy").field("dest", "/app").finish();
        assert_eq!(a, b);
    }
}
