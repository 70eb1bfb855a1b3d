//! A real registry for the tests: Debian's `docker-registry` (the CNCF distribution server) on 127.0.0.1 with a
//! free port and its storage in a temp dir, optionally behind htpasswd (bcrypt) auth; killed on drop. Plus a tiny
//! plain-http client for poking at it (`GET`/`PUT` of manifests) without curl.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestRegistry {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl TestRegistry {
    /// A registry without auth; `None` (the test skips, saying why) without `docker-registry`.
    pub fn start() -> Option<TestRegistry> {
        Self::start_with(None)
    }

    /// A registry that wants `user`/`password` (htpasswd, bcrypt); `None` without `docker-registry` or `htpasswd`.
    pub fn start_with_auth(user: &str, password: &str) -> Option<TestRegistry> {
        Self::start_with(Some((user, password)))
    }

    fn start_with(auth: Option<(&str, &str)>) -> Option<TestRegistry> {
        if !Path::new("/usr/bin/docker-registry").exists() {
            eprintln!(
                "SKIPPED: /usr/bin/docker-registry is missing (apt-get install docker-registry)"
            );
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("hoist-registry-")
            .tempdir_in("/var/tmp")
            .expect("registry dir");
        let mut auth_section = String::new();
        if let Some((user, password)) = auth {
            let Ok(out) = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
            else {
                eprintln!("SKIPPED: htpasswd is missing (apt-get install apache2-utils)");
                return None;
            };
            assert!(out.status.success(), "htpasswd failed");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).unwrap();
            auth_section = format!(
                "auth:\n  htpasswd:\n    realm: hoist-test\n    path: {}\n",
                file.display()
            );
        }
        // A free port: bind port 0, read it, let it go, hand it to the registry (retried if someone took it).
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("free port");
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth_section}",
                    dir.path().join("data").display()
                ),
            )
            .unwrap();
            let mut child = Command::new("/usr/bin/docker-registry")
                .arg("serve")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting docker-registry");
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                if let Ok((status, _)) = http(port, "GET", "/v2/", &[], b"") {
                    if status == 200 || status == 401 {
                        return Some(TestRegistry { child, port, dir });
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start");
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where the registry keeps blob `sha256:<hex>`.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// One plain-http request: (status, body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        http(self.port, method, path, headers, body)
    }

    /// The manifest of `repo:reference` as JSON (Docker v2 schema 2 or OCI accepted).
    pub fn manifest(&self, repo: &str, reference: &str) -> serde_json::Value {
        let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json";
        let (status, body) = self
            .request(
                "GET",
                &format!("/v2/{repo}/manifests/{reference}"),
                &[("Accept", accept)],
                b"",
            )
            .expect("GET manifest");
        assert_eq!(
            status,
            200,
            "GET manifest {repo}:{reference}: {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).expect("manifest JSON")
    }
}

/// One plain-http/1.0 request to 127.0.0.1:`port`: (status, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    http_with_head(port, method, path, headers, body).map(|(status, _, body)| (status, body))
}

/// [`http`], also returning the response's header block.
pub fn http_with_head(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no http header"))?;
    let status: u16 = String::from_utf8_lossy(&response[..split])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    Ok((status, head, response[split + 4..].to_vec()))
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestRegistry {
    /// Upload `bytes` as a blob of `repo` (POST an upload, PUT the bytes); returns its digest.
    pub fn put_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = format!("sha256:{}", super::sha256_hex(bytes));
        let (status, head, body) = http_with_head(
            self.port,
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            &[],
            b"",
        )
        .expect("POST upload");
        assert_eq!(
            status,
            202,
            "upload to {repo}: {}",
            String::from_utf8_lossy(&body)
        );
        let location = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("Location: ")
                    .or_else(|| l.strip_prefix("location: "))
            })
            .expect("upload Location")
            .trim()
            .to_string();
        let path = match location.find("/v2/") {
            Some(i) => location[i..].to_string(),
            None => location,
        };
        let separator = if path.contains('?') { '&' } else { '?' };
        let (status, body) = self
            .request(
                "PUT",
                &format!("{path}{separator}digest={digest}"),
                &[("Content-Type", "application/octet-stream")],
                bytes,
            )
            .expect("PUT blob");
        assert_eq!(
            status,
            201,
            "upload to {repo}: {}",
            String::from_utf8_lossy(&body)
        );
        digest
    }

    /// PUT `manifest` as `repo:tag` with `media_type`; returns its digest.
    pub fn put_manifest(
        &self,
        repo: &str,
        tag: &str,
        media_type: &str,
        manifest: &serde_json::Value,
    ) -> String {
        let bytes = serde_json::to_vec(manifest).unwrap();
        let (status, body) = self
            .request(
                "PUT",
                &format!("/v2/{repo}/manifests/{tag}"),
                &[("Content-Type", media_type)],
                &bytes,
            )
            .expect("PUT manifest");
        assert_eq!(
            status,
            201,
            "PUT {repo}:{tag}: {}",
            String::from_utf8_lossy(&body)
        );
        format!("sha256:{}", super::sha256_hex(&bytes))
    }
}

/// Whether `skopeo` is installed (the tests that need it skip, saying so, when not).
pub fn have_skopeo() -> bool {
    let ok = Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED (part): skopeo is missing (apt-get install skopeo)");
    }
    ok
}
