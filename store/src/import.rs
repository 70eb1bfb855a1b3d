//! `docker import`: a rootfs tar (plain, gzip, bzip2 or xz) becomes a one-layer image.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use oci_spec::image::{Arch, HistoryBuilder, ImageConfigurationBuilder, Os, RootFsBuilder};

use crate::digest::Digest;
use crate::error::{IoContext, Result, StoreError};
use crate::images::ImageRecord;
use crate::Store;

/// Compression of an input archive, recognised by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Compression {
    /// Recognise the compression from the first bytes of a stream.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Wrap `reader` in the decompressor its first bytes call for.
pub fn decompressing_reader<'a, R: BufRead + 'a>(
    mut reader: R,
    what: &str,
) -> Result<Box<dyn Read + 'a>> {
    let head = reader.fill_buf().map_err(|source| StoreError::Tar {
        what: what.to_string(),
        source,
    })?;
    Ok(match Compression::detect(head) {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(reader)),
        Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader).map_err(
            |source| StoreError::Tar {
                what: what.to_string(),
                source,
            },
        )?),
    })
}

impl Store {
    /// Store a layer tar (plain or compressed) uncompressed as a blob; returns its diff ID and size.
    /// `-` reads standard input.
    pub fn put_layer_tar(&self, tar: &Path) -> Result<(Digest, u64)> {
        let what = tar.display().to_string();
        let input: Box<dyn Read> = if tar == Path::new("-") {
            Box::new(io::stdin().lock())
        } else {
            Box::new(File::open(tar).io_ctx("opening archive", tar)?)
        };
        let mut reader = decompressing_reader(BufReader::new(input), &what)?;
        let mut writer = self.blob_writer()?;
        io::copy(&mut reader, &mut writer).map_err(|source| StoreError::Tar { what, source })?;
        writer.commit()
    }

    /// Like `docker import` (`-` reads standard input): the tar becomes a one-layer image (os linux, the host's architecture, no
    /// Env/Cmd, one history entry "imported from <file>"), tagged `reference`.
    pub fn import_rootfs_tar(&self, tar: &Path, reference: &str) -> Result<ImageRecord> {
        // Validate the reference before doing any work.
        crate::reference::normalize_reference(reference)?;
        let (diff_id, _) = self.put_layer_tar(tar)?;
        // Unpacking checks every entry: a tar that would escape its root is refused here, not at `run`.
        self.ensure_snapshot(&diff_id)?;
        self.sync_snapshots()?;
        let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let source = format!("imported from {}", tar.display());
        let build_err = |e: oci_spec::OciSpecError| StoreError::InvalidImage(e.to_string());
        let history = HistoryBuilder::default()
            .created(created.clone())
            .created_by(source.clone())
            .comment(source)
            .build()
            .map_err(build_err)?;
        let rootfs = RootFsBuilder::default()
            .typ("layers")
            .diff_ids(vec![diff_id.to_string()])
            .build()
            .map_err(build_err)?;
        let config = ImageConfigurationBuilder::default()
            .created(created)
            .architecture(Arch::default())
            .os(Os::Linux)
            .rootfs(rootfs)
            .history(vec![history])
            .build()
            .map_err(build_err)?;
        let image = self.write_image(&config)?;
        self.tag(reference, &image)?;
        Ok(image)
    }
}
