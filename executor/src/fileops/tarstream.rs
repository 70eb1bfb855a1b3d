//! A tar stream whose size fields the `tar` crate reads as Go's `archive/tar` (Docker's untar) reads them: an
//! empty, NUL-led or space-padded size is rewritten in plain octal, and entries that carry no data in Go's reading
//! (directories, links, devices, FIFOs) get size 0, their checksum redone with them. Everything else passes
//! through as it is, so the crate still refuses what Go refuses (a bad checksum, a size that is no number).

use std::io::{self, Read};

use super::tarmeta::parse_numeric;

const BLOCK: usize = 512;
const SIZE_FIELD: std::ops::Range<usize> = 124..136;
const CHECKSUM_FIELD: std::ops::Range<usize> = 148..156;

pub(crate) struct GoSizes<R> {
    inner: R,
    /// The header block being handed out, its length (short at a truncated end), and how much of it was.
    block: [u8; BLOCK],
    block_len: usize,
    block_pos: usize,
    /// Bytes of data (with padding) between this header and the next one.
    data_left: u64,
    /// A PAX header's data, kept to find the `size` record of the entry that follows.
    pax_data: Option<Vec<u8>>,
    /// The size a PAX record gave the next entry.
    pax_size: Option<u64>,
    /// GNU sparse extension blocks still to come, as headers' companions.
    sparse_blocks: bool,
    /// After the end-of-archive block everything passes through.
    ended: bool,
}

impl<R: Read> GoSizes<R> {
    pub(crate) fn new(inner: R) -> Self {
        GoSizes {
            inner,
            block: [0; BLOCK],
            block_len: 0,
            block_pos: 0,
            data_left: 0,
            pax_data: None,
            pax_size: None,
            sparse_blocks: false,
            ended: false,
        }
    }

    /// Reads the next header block into `self.block` and rewrites it; false at the end of the stream.
    fn next_header(&mut self) -> io::Result<bool> {
        let mut filled = 0;
        while filled < BLOCK {
            match self.inner.read(&mut self.block[filled..])? {
                0 if filled == 0 => return Ok(false),
                0 => break,
                n => filled += n,
            }
        }
        self.block_len = filled;
        self.block_pos = 0;
        if filled < BLOCK {
            // A truncated stream: hand out what there is and let the tar reader say so.
            self.ended = true;
            return Ok(true);
        }
        if self.sparse_blocks {
            // An old-GNU sparse extension block: one more follows when its last flag byte is set.
            self.sparse_blocks = self.block[504] != 0;
            return Ok(true);
        }
        if self.block.iter().all(|b| *b == 0) {
            self.ended = true;
            return Ok(true);
        }
        let kind = self.block[156];
        let field_size = parse_numeric(&self.block[SIZE_FIELD]);
        let is_extension = matches!(kind, b'x' | b'g' | b'L' | b'K');
        let size = match kind {
            // Go reads no data for these, whatever the field says.
            b'1' | b'2' | b'3' | b'4' | b'5' | b'6' => Some(0),
            _ if !is_extension => self.pax_size.take().or(field_size),
            _ => field_size,
        };
        if let Some(size) = size {
            self.rewrite_size(size, field_size);
            self.data_left = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        }
        self.pax_data = (kind == b'x').then(Vec::new);
        self.sparse_blocks = kind == b'S' && self.block[482] != 0;
        Ok(true)
    }

    /// Writes `size` into the size field when the crate would read the field otherwise, and the checksum again
    /// (only if it was right: a wrong one stays wrong).
    fn rewrite_size(&mut self, size: u64, field_size: Option<u64>) {
        let field = &self.block[SIZE_FIELD];
        let crate_reads = if field[0] & 0x80 != 0 {
            field_size
        } else {
            let text = field.split(|b| *b == 0).next().unwrap_or_default();
            std::str::from_utf8(text)
                .ok()
                .and_then(|t| u64::from_str_radix(t.trim(), 8).ok())
        };
        if crate_reads == Some(size) || size >= 1 << 33 {
            return;
        }
        let checksum_was_right =
            parse_numeric(&self.block[CHECKSUM_FIELD]) == Some(checksum(&self.block));
        self.block[SIZE_FIELD].copy_from_slice(format!("{size:011o}\0").as_bytes());
        if checksum_was_right {
            let sum = checksum(&self.block);
            self.block[CHECKSUM_FIELD].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        }
    }
}

/// The unsigned header checksum: the sum of all bytes, the checksum field counted as spaces.
fn checksum(block: &[u8; BLOCK]) -> u64 {
    block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if CHECKSUM_FIELD.contains(&i) {
                32
            } else {
                u64::from(*b)
            }
        })
        .sum()
}

/// The `size` record of a PAX header's data ("LEN key=value\n" records).
fn pax_size(data: &[u8]) -> Option<u64> {
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        let record = rest.get(space + 1..len)?;
        if let Some(value) = record.strip_prefix(b"size=") {
            let value = value.strip_suffix(b"\n").unwrap_or(value);
            return std::str::from_utf8(value).ok()?.parse().ok();
        }
        rest = &rest[len..];
    }
    None
}

impl<R: Read> Read for GoSizes<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.block_pos < self.block_len {
            let n = buf.len().min(self.block_len - self.block_pos);
            buf[..n].copy_from_slice(&self.block[self.block_pos..self.block_pos + n]);
            self.block_pos += n;
            return Ok(n);
        }
        if self.ended {
            return self.inner.read(buf);
        }
        if self.data_left > 0 {
            let want = buf
                .len()
                .min(usize::try_from(self.data_left).unwrap_or(usize::MAX));
            let n = self.inner.read(&mut buf[..want])?;
            self.data_left -= n as u64;
            if let Some(data) = self.pax_data.as_mut() {
                data.extend_from_slice(&buf[..n]);
                if self.data_left == 0 {
                    self.pax_size = pax_size(data);
                    self.pax_data = None;
                }
            }
            return Ok(n);
        }
        if !self.next_header()? {
            return Ok(0);
        }
        self.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        h
    }

    fn with_size_field(mut h: tar::Header, field: &[u8]) -> Vec<u8> {
        h.as_mut_bytes()[SIZE_FIELD].copy_from_slice(field);
        let block: &mut [u8; BLOCK] = h.as_mut_bytes();
        let sum = checksum(block);
        block[CHECKSUM_FIELD].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        block.to_vec()
    }

    fn listing(stream: Vec<u8>) -> Vec<(String, u64, Vec<u8>)> {
        let mut archive = tar::Archive::new(GoSizes::new(stream.as_slice()));
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (name, e.size(), data)
            })
            .collect()
    }

    #[test]
    fn sizes_are_read_as_go_reads_them() {
        let mut stream = Vec::new();
        // A directory with an empty size field, one with a size Go ignores (and no data), a file with a
        // space-padded size, a PAX size for the next file.
        stream.extend(with_size_field(
            header("d/", tar::EntryType::Directory, 0),
            &[0; 12],
        ));
        stream.extend(with_size_field(
            header("e/", tar::EntryType::Directory, 0),
            b"00000001000\0",
        ));
        stream.extend(with_size_field(
            header("f", tar::EntryType::Regular, 0),
            b"   3        ",
        ));
        stream.extend(b"abc".iter().copied().chain(std::iter::repeat_n(0, 509)));
        let pax = b"12 size=500\n";
        stream.extend(header("PaxHeaders/g", tar::EntryType::XHeader, pax.len() as u64).as_bytes());
        stream.extend(
            pax.iter()
                .copied()
                .chain(std::iter::repeat_n(0, BLOCK - pax.len())),
        );
        stream.extend(header("g", tar::EntryType::Regular, 0).as_bytes());
        stream.extend(std::iter::repeat_n(b'g', 500).chain(std::iter::repeat_n(0, 12)));
        stream.extend([0; 2 * BLOCK]);
        let got = listing(stream);
        let names: Vec<(&str, u64)> = got.iter().map(|(n, s, _)| (n.as_str(), *s)).collect();
        assert_eq!(names, [("d/", 0), ("e/", 0), ("f", 3), ("g", 500)]);
        assert_eq!(got[2].2, b"abc");
        assert_eq!(got[3].2, vec![b'g'; 500]);
    }

    #[test]
    fn a_wrong_checksum_stays_wrong() {
        let mut block = with_size_field(header("d/", tar::EntryType::Directory, 0), &[0; 12]);
        block[150] ^= 1;
        block.extend([0; 2 * BLOCK]);
        let mut archive = tar::Archive::new(GoSizes::new(block.as_slice()));
        assert!(archive.entries().unwrap().next().unwrap().is_err());
    }
}
