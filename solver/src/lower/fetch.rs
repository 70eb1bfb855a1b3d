//! ADD of an http(s) URL: the file is downloaded into a staging directory on every build (as BuildKit
//! re-downloads and compares), named after the URL path (or the server's `Content-Disposition`), written with
//! mode 0600, and its sha256 goes into the step's cache key. `--checksum=sha256:…` is verified.
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// What a URL source became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Download {
    /// The file name inside the staging directory (never empty, never `.` or `..`, no `/`).
    pub file_name: String,
    /// `sha256:<hex>` of the content.
    pub digest: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("download failed: {0}")]
    Transport(String),
    #[error("download failed: the server answered {code} {text}")]
    Status { code: u16, text: String },
    #[error("download failed while reading the body: {0}")]
    Read(std::io::Error),
    #[error("writing the downloaded file: {0}")]
    Write(std::io::Error),
    #[error("--checksum={0}: unsupported; give sha256:<64 hex digits>")]
    BadChecksum(String),
    #[error(
        "checksum mismatch: --checksum expected {expected}, the downloaded content is {actual}"
    )]
    Mismatch { expected: String, actual: String },
}

/// True for the sources ADD downloads.
pub(super) fn is_http_url(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// `sha256:<hex>` as given to `--checksum`, normalised to lowercase; anything else is refused.
pub(super) fn parse_checksum(text: &str) -> Result<String, FetchError> {
    let hex = text
        .strip_prefix("sha256:")
        .ok_or_else(|| FetchError::BadChecksum(text.to_string()))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FetchError::BadChecksum(text.to_string()));
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// Downloads `url` into `dir`; verifies `checksum` (`sha256:<hex>`, already parsed) when given.
pub(crate) fn fetch(url: &str, dir: &Path, checksum: Option<&str>) -> Result<Download, FetchError> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(300))
        .redirects(10)
        .build();
    let response = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            return Err(FetchError::Status {
                code,
                text: r.status_text().to_string(),
            });
        }
        Err(e) => return Err(FetchError::Transport(e.to_string())),
    };
    let file_name = file_name(url, response.header("Content-Disposition"));
    // BuildKit gives the file the server's Last-Modified time (it ends up in the layer).
    let modified = response
        .header("Last-Modified")
        .and_then(http_date)
        .and_then(|secs| u64::try_from(secs).ok())
        .map(|secs| std::time::UNIX_EPOCH + Duration::from_secs(secs));
    let path = dir.join(&file_name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(FetchError::Write)?;
    let mut hasher = Sha256::new();
    let mut reader = response.into_reader();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(FetchError::Read)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(FetchError::Write)?;
    }
    if let Some(t) = modified {
        file.set_modified(t).map_err(FetchError::Write)?;
    }
    file.sync_all().map_err(FetchError::Write)?;
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    if let Some(expected) = checksum {
        if expected != digest {
            return Err(FetchError::Mismatch {
                expected: expected.to_string(),
                actual: digest,
            });
        }
    }
    Ok(Download { file_name, digest })
}

/// Downloads every URL of one ADD into `dir` (each checked against `checksum` when given); the error names the
/// URL that failed.
pub(crate) fn fetch_all(
    urls: &[String],
    dir: &Path,
    checksum: Option<&str>,
) -> Result<Vec<Download>, String> {
    let mut downloads: Vec<Download> = Vec::with_capacity(urls.len());
    for url in urls {
        let download = fetch(url, dir, checksum).map_err(|e| format!("{url}: {e}"))?;
        if downloads.iter().any(|d| d.file_name == download.file_name) {
            return Err(format!(
                "{url}: another URL of this ADD already downloaded a file named {:?}; use one ADD per URL",
                download.file_name
            ));
        }
        downloads.push(download);
    }
    Ok(downloads)
}

/// The file name a download of `url` gets when the server names none (BuildKit keys a pinned URL by it).
pub(super) fn url_file_name(url: &str) -> String {
    file_name(url, None)
}

/// The name BuildKit gives a downloaded file: the `Content-Disposition` filename, else the last segment of the
/// URL path, else `index`. Only a plain name is kept, so it cannot climb out of the staging directory.
fn file_name(url: &str, content_disposition: Option<&str>) -> String {
    let from_header = content_disposition.and_then(disposition_filename);
    let from_path = || {
        let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        let rest = rest.split(['?', '#']).next().unwrap_or("");
        let path = rest.split_once('/').map(|(_, p)| p).unwrap_or("");
        let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        percent_decode(last)
    };
    let name = from_header.unwrap_or_else(from_path);
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        "index".to_string()
    } else {
        name
    }
}

/// `attachment; filename="x.tar"` → `x.tar` (its base name).
fn disposition_filename(header: &str) -> Option<String> {
    header.split(';').map(str::trim).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("filename") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        if value.ends_with('/') {
            return None;
        }
        let base = value.rsplit('/').next().unwrap_or("").to_string();
        (!base.is_empty()).then_some(base)
    })
}

/// An HTTP date in any of the three formats HTTP allows (and Go's `http.ParseTime`, which BuildKit uses, reads):
/// RFC 1123 (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
/// (`Sun Nov  6 08:49:37 1994`). Seconds since the epoch.
fn http_date(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc2822(text) {
        return Some(t.timestamp());
    }
    let formats = ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"];
    formats.iter().find_map(|f| {
        chrono::NaiveDateTime::parse_from_str(text, f)
            .ok()
            .map(|t| t.and_utc().timestamp())
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_url_or_the_header() {
        assert_eq!(file_name("http://h/a/b.tar.gz?x=1#f", None), "b.tar.gz");
        assert_eq!(file_name("http://h/dir/", None), "dir");
        assert_eq!(file_name("http://h", None), "index");
        assert_eq!(file_name("http://h/", None), "index");
        assert_eq!(file_name("http://h/a%20b", None), "a b");
        assert_eq!(file_name("http://h/%2e%2e", None), "index");
        assert_eq!(file_name("http://h/x%2fy", None), "index");
        assert_eq!(
            file_name("http://h/x", Some("attachment; filename=\"real.bin\"")),
            "real.bin"
        );
        assert_eq!(
            file_name(
                "http://h/x",
                Some("attachment; filename=\"../../etc/evil\"")
            ),
            "evil"
        );
        assert_eq!(file_name("http://h/x", Some("inline")), "x");
    }

    #[test]
    fn http_dates_parse() {
        assert_eq!(
            http_date("Sun, 09 Sep 2001 01:46:40 GMT"),
            Some(1_000_000_000)
        );
        assert_eq!(
            http_date("Sunday, 09-Sep-01 01:46:40 GMT"),
            Some(1_000_000_000)
        );
        assert_eq!(http_date("Sun Sep  9 01:46:40 2001"), Some(1_000_000_000));
        assert_eq!(http_date("yesterday"), None);
    }

    #[test]
    fn checksums() {
        let hex = "a".repeat(64);
        assert_eq!(
            parse_checksum(&format!("sha256:{}", hex.to_uppercase())).unwrap(),
            format!("sha256:{hex}")
        );
        assert!(parse_checksum("md5:abc").is_err());
        assert!(parse_checksum("sha256:abc").is_err());
        assert!(is_http_url("HTTPS://x/y"));
        assert!(!is_http_url("git@github.com:a/b"));
    }
}
