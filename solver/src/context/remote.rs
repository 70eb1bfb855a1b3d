//! An http(s) URL as a context (`hoist build https://…/ctx.tar.gz`, `--build-context NAME=https://…`):
//! downloaded, then unpacked when it is a tar (plain, gzip, bzip2, xz), as BuildKit treats a remote tarball.
use std::path::{Path, PathBuf};

/// Downloads `url` into the directory `staging`; returns the file's path.
pub fn download(url: &str, staging: &Path) -> Result<PathBuf, String> {
    let download =
        crate::lower::fetch::fetch(url, staging, None).map_err(|e| format!("{url}: {e}"))?;
    Ok(staging.join(&download.file_name))
}

/// Downloads `url` into `staging` and unpacks it into `into`; returns `into`. A download that is no tar is an
/// error: a named context is a tree of files.
pub fn download_context(url: &str, staging: &Path, into: &Path) -> Result<PathBuf, String> {
    let file = download(url, staging)?;
    let is_tar = hoist_executor::fileops::is_archive(&file).map_err(|e| format!("{url}: {e}"))?;
    if !is_tar {
        return Err(format!(
            "{url}: the download is not a tar archive; a remote context is a tar (plain, gzip, bzip2 or xz) or a git repository URL ending in .git"
        ));
    }
    hoist_executor::fileops::extract_archive(&file, into, "/", None)
        .map_err(|e| format!("{url}: {e}"))?;
    Ok(into.to_path_buf())
}
