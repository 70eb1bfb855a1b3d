//! The entries a delta snapshot needs, read straight from where they start in the new layer's blob.
//!
//! Making a delta unpacks the few entries that differ from the base layer. Finding them by reading the blob's
//! headers one after the other costs a read and a seek per entry of the layer (40,000 system calls for a
//! 20,000-file `COPY`); the comparison that chose them already knows where each one starts
//! (`LayerDiff::starts`). [`SelectedEntries`] is a tar stream of just those entries, in order, followed by
//! the end-of-archive blocks, for the unpacker to read as if it were the whole layer.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

/// One entry of the blob: `[start, end)` covers its extension headers (a GNU long name), its header, its
/// data and the padding.
struct Span {
    start: u64,
    end: u64,
}

/// A tar stream of chosen entries of a tar file (see the module doc).
pub(crate) struct SelectedEntries {
    blob: File,
    spans: Vec<Span>,
    /// Index of the span being read, and the offset in the blob within it.
    span: usize,
    at: u64,
    /// Bytes of the end-of-archive blocks still to give once the spans are done.
    trailer_left: usize,
    /// Bytes given so far: the position in the stream (the tar reader tracks it through `seek`).
    given: u64,
}

const BLOCK: u64 = 512;
const TRAILER: usize = 1024;

impl SelectedEntries {
    /// The entries of `blob` starting at `starts` (ascending). `None` when an entry cannot be delimited
    /// from its headers alone (a PAX header, which may say another size; anything unreadable): the caller
    /// then reads the whole blob instead.
    pub(crate) fn new(blob: File, starts: &[u64]) -> io::Result<Option<SelectedEntries>> {
        let len = blob.metadata()?.len();
        let mut spans = Vec::with_capacity(starts.len());
        let mut last_end = 0;
        for &start in starts {
            if start < last_end {
                return Ok(None);
            }
            let Some(end) = entry_end(&blob, start, len)? else {
                return Ok(None);
            };
            spans.push(Span { start, end });
            last_end = end;
        }
        let at = spans.first().map_or(0, |s| s.start);
        Ok(Some(SelectedEntries {
            blob,
            spans,
            span: 0,
            at,
            trailer_left: TRAILER,
            given: 0,
        }))
    }
}

/// Where the entry whose first header block is at `start` ends; `None` when that cannot be told.
fn entry_end(blob: &File, start: u64, len: u64) -> io::Result<Option<u64>> {
    let mut at = start;
    loop {
        if at + BLOCK > len {
            return Ok(None);
        }
        let mut block = [0u8; BLOCK as usize];
        blob.read_exact_at(&mut block, at)?;
        let header = tar::Header::from_byte_slice(&block);
        let Ok(size) = header.entry_size() else {
            return Ok(None);
        };
        if header.as_ustar().is_none() && header.as_gnu().is_none() {
            return Ok(None);
        }
        let end = at + BLOCK + size.div_ceil(BLOCK) * BLOCK;
        match block[156] {
            // GNU long name or long link target: the entry's own header follows.
            b'L' | b'K' => at = end,
            // PAX records may change the entry's size; GNU sparse files are laid out otherwise.
            b'x' | b'g' | b'S' => return Ok(None),
            _ => return Ok((end <= len).then_some(end)),
        }
    }
}

impl Read for SelectedEntries {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.read_next(buf)?;
        self.given += n as u64;
        Ok(n)
    }
}

impl SelectedEntries {
    fn read_next(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(span) = self.spans.get(self.span) {
            if self.at < span.end {
                let want = buf.len().min((span.end - self.at) as usize);
                let n = self.blob.read_at(&mut buf[..want], self.at)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the layer blob ended inside an entry",
                    ));
                }
                self.at += n as u64;
                return Ok(n);
            }
            self.span += 1;
            if let Some(next) = self.spans.get(self.span) {
                self.at = next.start;
            }
        }
        let n = buf.len().min(self.trailer_left);
        buf[..n].fill(0);
        self.trailer_left -= n;
        Ok(n)
    }
}

/// Forward seeks only (the tar reader skips what it does not read); they skip by reading. Not to be wrapped
/// in a `BufReader`, whose seeks go back over what it buffered.
impl Seek for SelectedEntries {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match pos {
            SeekFrom::Current(n) if n >= 0 => {
                let mut left = n as u64;
                let mut sink = [0u8; 8192];
                while left > 0 {
                    let want = sink.len().min(left as usize);
                    let got = self.read(&mut sink[..want])?;
                    if got == 0 {
                        break;
                    }
                    left -= got as u64;
                }
                Ok(self.given)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "selected layer entries are read forward only",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn starts_of(tar: &[u8]) -> Vec<u64> {
        let mut out = Vec::new();
        let mut archive = tar::Archive::new(tar);
        let mut next = 0;
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            out.push(next);
            next = e.raw_file_position() + e.size().div_ceil(512) * 512;
        }
        out
    }

    #[test]
    fn chosen_entries_read_as_a_tar_of_their_own() {
        let long = format!("dir/{}", "n".repeat(150));
        let tar = tar_with(&[
            ("a", b"first"),
            (&long, &[1u8; 1000]),
            ("b", b""),
            ("c", &[2u8; 513]),
        ]);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&tar).unwrap();
        let starts = starts_of(&tar);
        let chosen = [starts[1], starts[3]];
        let reader = SelectedEntries::new(file, &chosen).unwrap().unwrap();
        let mut archive = tar::Archive::new(reader);
        let got: Vec<(String, usize)> = archive
            .entries_with_seek()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (e.path().unwrap().display().to_string(), data.len())
            })
            .collect();
        assert_eq!(got, [(long, 1000), ("c".to_string(), 513)]);
    }

    #[test]
    fn an_entry_that_cannot_be_delimited_means_no_selection() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&tar_with(&[("a", b"x")])).unwrap();
        assert!(SelectedEntries::new(file.try_clone().unwrap(), &[100])
            .unwrap()
            .is_none());
        assert!(SelectedEntries::new(file, &[1 << 20]).unwrap().is_none());
    }
}
