//! gzip for layer blobs (`hoist push`, `hoist save --compress gzip`), fast where compression cannot win.
//!
//! A layer is compressed chunk by chunk in one deflate stream at zlib's default level, as Docker and BuildKit
//! compress, except that a chunk whose bytes are already as dense as bytes get (compressed files, random data:
//! their byte histogram has nearly 8 bits of entropy) is written as *stored* blocks. Deflating such a chunk costs
//! the most CPU of all and saves nothing, and the output stays one ordinary gzip member any reader accepts.
//! The choice depends only on the bytes, so a layer always compresses to the same blob.

use std::io::{self, Read, Write};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// How much of the layer one decision covers.
const CHUNK: usize = 1 << 20;

/// Bits of entropy per byte above which a chunk is stored: deflate's Huffman coding could save at most
/// `(8 - H) / 8` of it (under 0.4% here), and its LZ matching finds next to nothing in such data.
const STORED_ENTROPY_BITS: f64 = 7.97;

/// The 10-byte gzip header: deflate, no name, mtime 0, no extra flags, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Copy `source` gzip-compressed into `out`; returns `out`.
pub(crate) fn gzip<W: Write>(mut source: impl Read, mut out: W) -> io::Result<W> {
    out.write_all(&HEADER)?;
    let mut deflate = Compress::new(Compression::default(), false);
    // Bytes given to `deflate` since it was last reset: they must be flushed before stored blocks follow.
    let mut deflating = false;
    let mut crc = Crc::new();
    let mut input = vec![0u8; CHUNK];
    // Room for a chunk that does not compress, plus block headers.
    let mut output = Vec::with_capacity(CHUNK + CHUNK / 8 + 1024);
    loop {
        let n = read_full(&mut source, &mut input)?;
        let chunk = &input[..n];
        crc.update(chunk);
        if looks_incompressible(chunk) {
            if deflating {
                // A sync flush ends the compressed blocks on a byte boundary; the reset compressor then starts
                // afresh after the stored ones (its back-references only reach bytes it compressed itself, which
                // are the latest output, so the stream stays valid).
                run(
                    &mut deflate,
                    &[],
                    &mut output,
                    &mut out,
                    FlushCompress::Sync,
                )?;
                deflate.reset();
                deflating = false;
            }
            write_stored_blocks(chunk, &mut out)?;
        } else if n > 0 {
            run(
                &mut deflate,
                chunk,
                &mut output,
                &mut out,
                FlushCompress::None,
            )?;
            deflating = true;
        }
        if n < CHUNK {
            // The final block (empty when the last bytes were stored).
            run(
                &mut deflate,
                &[],
                &mut output,
                &mut out,
                FlushCompress::Finish,
            )?;
            break;
        }
    }
    out.write_all(&crc.sum().to_le_bytes())?;
    out.write_all(&crc.amount().to_le_bytes())?;
    Ok(out)
}

/// `data` as deflate stored blocks (RFC 1951 3.2.4), none of them final, starting on a byte boundary.
fn write_stored_blocks(data: &[u8], out: &mut impl Write) -> io::Result<()> {
    for block in data.chunks(u16::MAX as usize) {
        let len = block.len() as u16;
        // BFINAL 0, BTYPE 00, then padding to the byte boundary: one zero byte.
        out.write_all(&[0])?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&(!len).to_le_bytes())?;
        out.write_all(block)?;
    }
    Ok(())
}

/// Feed `input` to `deflate` (with `flush`) until it is consumed and, for a flush, until nothing is pending;
/// what comes out goes to `out`.
fn run<W: Write>(
    deflate: &mut Compress,
    mut input: &[u8],
    output: &mut Vec<u8>,
    out: &mut W,
    flush: FlushCompress,
) -> io::Result<()> {
    loop {
        output.clear();
        let before_in = deflate.total_in();
        let status = deflate
            .compress_vec(input, output, flush)
            .map_err(|e| io::Error::other(format!("gzip: {e}")))?;
        let consumed = (deflate.total_in() - before_in) as usize;
        input = &input[consumed..];
        out.write_all(output)?;
        let output_full = output.len() == output.capacity();
        match (flush, status) {
            (FlushCompress::Finish, Status::StreamEnd) => return Ok(()),
            (FlushCompress::Finish, _) => {}
            // More to come from this flush while the output buffer filled up.
            (_, _) if output_full => {}
            (_, _) if input.is_empty() => return Ok(()),
            (_, Status::BufError) if consumed == 0 => {
                return Err(io::Error::other("gzip: the compressor made no progress"))
            }
            _ => {}
        }
    }
}

/// Fill `buf` from `source` as far as it goes; fewer bytes only at the end of the input.
fn read_full(source: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Whether `chunk`'s bytes carry nearly 8 bits of entropy each (order-0 Shannon entropy of its histogram).
fn looks_incompressible(chunk: &[u8]) -> bool {
    // Small tails are not worth deciding about.
    if chunk.len() < 64 * 1024 {
        return false;
    }
    let mut counts = [0u64; 256];
    for &b in chunk {
        counts[b as usize] += 1;
    }
    let total = chunk.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total;
            -p * p.log2()
        })
        .sum();
    entropy > STORED_ENTROPY_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Pseudo-random bytes (xorshift): incompressible, and the same every run.
    fn noise(len: usize, mut state: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn round_trips_mixed_input_of_every_size() {
        let text: Vec<u8> = (0..3 * CHUNK + 777)
            .map(|i| b"layer tar of text "[i % 18])
            .collect();
        let mut mixed = text.clone();
        mixed.extend(noise(2 * CHUNK + 5, 7));
        mixed.extend(&text[..CHUNK / 2]);
        for input in [Vec::new(), b"x".to_vec(), text, noise(CHUNK, 1), mixed] {
            let packed = gzip(&input[..], Vec::new()).unwrap();
            assert_eq!(gunzip(&packed), input, "{} bytes", input.len());
            // The system's gzip reads it too (one ordinary member), where it is installed.
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), &packed).unwrap();
            if let Ok(out) = std::process::Command::new("gzip")
                .arg("-dc")
                .arg(file.path())
                .output()
            {
                assert!(out.status.success());
                assert_eq!(out.stdout, input);
            }
        }
    }

    #[test]
    fn incompressible_chunks_are_stored_and_text_is_deflated() {
        let random = noise(4 * CHUNK, 3);
        let packed = gzip(&random[..], Vec::new()).unwrap();
        // Stored blocks: 5 bytes per 64 KiB, nothing more.
        assert!(packed.len() < random.len() + random.len() / 1000 + 100);
        let text: Vec<u8> = (0..4 * CHUNK).map(|i| b"hello layer "[i % 12]).collect();
        let packed = gzip(&text[..], Vec::new()).unwrap();
        assert!(packed.len() < text.len() / 50, "{}", packed.len());
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        let mut input = noise(CHUNK + 3, 9);
        input.extend(std::iter::repeat_n(b'a', CHUNK));
        assert_eq!(
            gzip(&input[..], Vec::new()).unwrap(),
            gzip(&input[..], Vec::new()).unwrap()
        );
    }
}
