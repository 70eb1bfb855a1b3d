//! A service's `volumes:`: short syntax (`./data:/data:ro`, `name:/data`, `/data`) and long syntax.
use crate::error::{Error, Result};
use crate::model::{BindOptions, ServiceVolume, VolumeOptions};
use crate::yaml::{Node, Value};

use super::*;

impl Decoder<'_> {
    pub fn service_volumes(&mut self, node: &Node, path: &str) -> Result<Vec<ServiceVolume>> {
        let Value::Seq(items) = &node.value else {
            if node.value == Value::Null {
                return Ok(Vec::new());
            }
            return Err(wrong(node, path, "a list"));
        };
        let mut out = Vec::new();
        for item in items {
            match &item.value {
                Value::Scalar(s) => {
                    out.push(short_volume(&s.text).map_err(|m| Error::invalid(&item.pos, path, m))?)
                }
                Value::Map(_) => out.push(self.long_volume(item, path)?),
                _ => return Err(wrong(item, path, "a string or a mapping")),
            }
        }
        Ok(out)
    }

    fn long_volume(&mut self, node: &Node, path: &str) -> Result<ServiceVolume> {
        let mut kind = None;
        let mut v = ServiceVolume {
            kind: String::new(),
            source: None,
            target: String::new(),
            read_only: false,
            bind: None,
            volume: None,
        };
        for (key, value) in entries(node, path)? {
            let name = key.as_str().unwrap_or_default();
            let p = join(path, name);
            match name {
                "type" => {
                    let text = string(value, &p)?;
                    if !matches!(text.as_str(), "bind" | "volume" | "tmpfs") {
                        return Err(Error::invalid(
                            &value.pos,
                            &p,
                            format!("{text:?} is not a volume type: use bind, volume or tmpfs"),
                        ));
                    }
                    kind = Some(text);
                }
                "source" => v.source = opt_string(value, &p)?,
                "target" => v.target = string(value, &p)?,
                "read_only" => v.read_only = boolean(value, &p)?,
                "bind" => {
                    let mut bind = BindOptions {
                        create_host_path: true,
                    };
                    for (k, val) in entries(value, &p)? {
                        match k.as_str().unwrap_or_default() {
                            "create_host_path" => {
                                bind.create_host_path = boolean(val, &join(&p, "create_host_path"))?
                            }
                            "propagation" | "selinux" | "recursive" => self.unsupported(&p, k),
                            _ => self.unknown(&p, k),
                        }
                    }
                    v.bind = Some(bind);
                }
                "volume" => {
                    let mut opts = VolumeOptions { nocopy: false };
                    for (k, val) in entries(value, &p)? {
                        match k.as_str().unwrap_or_default() {
                            "nocopy" => opts.nocopy = boolean(val, &join(&p, "nocopy"))?,
                            "subpath" => self.unsupported(&p, k),
                            _ => self.unknown(&p, k),
                        }
                    }
                    v.volume = Some(opts);
                }
                "tmpfs" | "consistency" | "image" => self.unsupported(path, key),
                _ => self.unknown(path, key),
            }
        }
        let Some(kind) = kind else {
            return Err(Error::invalid(
                &node.pos,
                path,
                "a volume mapping needs `type`",
            ));
        };
        if v.target.is_empty() {
            return Err(Error::invalid(
                &node.pos,
                path,
                "a volume mapping needs `target`",
            ));
        }
        if kind == "bind" && v.source.is_none() {
            return Err(Error::invalid(
                &node.pos,
                path,
                "a bind mount needs `source`",
            ));
        }
        if kind == "volume" && v.volume.is_none() {
            v.volume = Some(VolumeOptions { nocopy: false });
        }
        v.kind = kind;
        Ok(v)
    }
}

/// Whether a short-syntax source is a host path (compose: it starts with `.`, `/` or `~`) or a volume name.
fn is_path(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
}

/// `[SOURCE:]TARGET[:MODE]`, MODE a comma list (`ro`, `rw`, `nocopy`, `z`, `Z` …).
pub fn short_volume(text: &str) -> std::result::Result<ServiceVolume, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => (None, *target, ""),
        [source, target] => (Some(*source), *target, ""),
        [source, target, mode] => (Some(*source), *target, *mode),
        _ => {
            return Err(format!(
                "invalid volume specification {text:?}: too many ':'"
            ))
        }
    };
    if target.is_empty() || !target.starts_with('/') {
        return Err(format!(
            "invalid volume specification {text:?}: the mount point must be an absolute path"
        ));
    }
    let mut read_only = false;
    let mut nocopy = false;
    for option in mode.split(',').filter(|m| !m.is_empty()) {
        match option {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "nocopy" => nocopy = true,
            "z" | "Z" | "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate"
            | "cached" | "delegated" | "consistent" => {}
            _ => {
                return Err(format!(
                    "invalid volume specification {text:?}: unknown mode {option:?}"
                ))
            }
        }
    }
    let source = source.filter(|s| !s.is_empty());
    let bind = source.is_some_and(is_path);
    Ok(ServiceVolume {
        kind: if bind { "bind" } else { "volume" }.into(),
        source: source.map(str::to_string),
        target: target.to_string(),
        read_only,
        bind: bind.then_some(BindOptions {
            create_host_path: true,
        }),
        volume: (!bind).then_some(VolumeOptions { nocopy }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms() {
        let v = short_volume("./data:/data:ro").unwrap();
        assert_eq!(
            (
                v.kind.as_str(),
                v.source.as_deref(),
                v.target.as_str(),
                v.read_only
            ),
            ("bind", Some("./data"), "/data", true)
        );
        let v = short_volume("dbdata:/var/lib/db").unwrap();
        assert_eq!(
            (v.kind.as_str(), v.source.as_deref()),
            ("volume", Some("dbdata"))
        );
        let v = short_volume("/cache").unwrap();
        assert_eq!((v.kind.as_str(), v.source), ("volume", None));
        let v = short_volume("~/x:/x:rw,z").unwrap();
        assert_eq!((v.kind.as_str(), v.read_only), ("bind", false));
        assert!(short_volume("a:b:c:d").is_err());
        assert!(short_volume("data:relative").is_err());
        assert!(short_volume("data:/x:bogus").is_err());
    }
}
