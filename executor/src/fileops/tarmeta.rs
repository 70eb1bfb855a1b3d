//! What an ADD'ed archive's entry says about itself (mode, owner, time, device numbers, xattrs), read the way
//! Go's `archive/tar` reads it for Docker's untar, which is more forgiving than the `tar` crate: a numeric field
//! may be empty, padded with spaces or NULs on either side, or base-256 (GNU's binary form for big values);
//! a FIFO's device fields are not read at all (Python's `tarfile` leaves them empty); PAX records override
//! the header's `uid`, `gid` and `mtime`.

use std::io::{self, Read};

/// The metadata of one archive entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryMeta {
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds and nanoseconds since the epoch.
    pub mtime: (i64, i64),
    /// Major and minor numbers of a character or block device; (0, 0) for anything else.
    pub device: (u32, u32),
    /// `SCHILY.xattr.NAME` records: (NAME, value).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Reads `entry`'s metadata; an error names the field that cannot be read.
pub(crate) fn entry_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<EntryMeta> {
    let header = entry.header();
    let old = header.as_old();
    let kind = header.entry_type();
    let device_fields = header
        .as_ustar()
        .map(|h| (h.dev_major, h.dev_minor))
        .or_else(|| header.as_gnu().map(|h| (h.dev_major, h.dev_minor)));
    let mut meta = EntryMeta {
        mode: field(&old.mode, "mode")? as u32 & 0o7777,
        uid: id_field(&old.uid, "uid")?,
        gid: id_field(&old.gid, "gid")?,
        mtime: (clamp_i64(field(&old.mtime, "mtime")?), 0),
        device: (0, 0),
        xattrs: Vec::new(),
    };
    if let (true, Some((major, minor))) = (
        matches!(kind, tar::EntryType::Char | tar::EntryType::Block),
        device_fields,
    ) {
        meta.device = (
            id_field(&major, "device major")?,
            id_field(&minor, "device minor")?,
        );
    }
    if let Some(extensions) = entry.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            let key = extension.key_bytes();
            let value = extension.value_bytes();
            if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                meta.xattrs.push((name.to_vec(), value.to_vec()));
            } else if key == b"uid" {
                meta.uid = pax_id(value, "uid")?;
            } else if key == b"gid" {
                meta.gid = pax_id(value, "gid")?;
            } else if key == b"mtime" {
                meta.mtime = pax_time(value).ok_or_else(|| bad_pax("mtime", value))?;
            }
        }
    }
    Ok(meta)
}

/// A numeric header field as Go's `archive/tar` parses it: base-256 when the first byte has its high bit set
/// (negative values are refused), else octal after trimming spaces and NULs from both ends and cutting at the
/// first NUL left; an empty field is 0. `None` when it is neither.
pub(crate) fn parse_numeric(raw: &[u8]) -> Option<u64> {
    if let Some(first) = raw.first().filter(|b| **b & 0x80 != 0) {
        if first & 0x40 != 0 {
            return None;
        }
        let mut value: u64 = 0;
        for (i, byte) in raw.iter().enumerate() {
            let byte = if i == 0 { byte & 0x7f } else { *byte };
            if value >> 56 != 0 {
                return None;
            }
            value = value << 8 | u64::from(byte);
        }
        return Some(value);
    }
    let is_pad = |b: &u8| *b == b' ' || *b == 0;
    let start = raw.iter().position(|b| !is_pad(b)).unwrap_or(raw.len());
    let end = raw
        .iter()
        .rposition(|b| !is_pad(b))
        .map_or(start, |i| i + 1);
    let trimmed = &raw[start..end];
    let digits = trimmed.split(|b| *b == 0).next().unwrap_or_default();
    if digits.is_empty() {
        return Some(0);
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|text| u64::from_str_radix(text, 8).ok())
}

fn field(raw: &[u8], what: &str) -> io::Result<u64> {
    parse_numeric(raw).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the {what} field of a header ({:?}) is not a number",
                String::from_utf8_lossy(raw).trim_matches(char::from(0))
            ),
        )
    })
}

fn id_field(raw: &[u8], what: &str) -> io::Result<u32> {
    let value = field(raw, what)?;
    u32::try_from(value).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the {what} field of a header ({value}) is too large"),
        )
    })
}

fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn bad_pax(what: &str, value: &[u8]) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the PAX {what} record ({:?}) is not a number",
            String::from_utf8_lossy(value)
        ),
    )
}

fn pax_id(value: &[u8], what: &str) -> io::Result<u32> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .ok_or_else(|| bad_pax(what, value))
}

/// A PAX time: decimal seconds with an optional fraction ("1234.5"), possibly negative.
fn pax_time(value: &[u8]) -> Option<(i64, i64)> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (secs, fraction) = text.split_once('.').unwrap_or((text, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let nanos: i64 = format!("{:0<9}", &fraction[..fraction.len().min(9)])
        .parse()
        .ok()?;
    Some(match (negative, nanos) {
        (false, _) => (secs, nanos),
        (true, 0) => (-secs, 0),
        (true, _) => (-secs - 1, 1_000_000_000 - nanos),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_fields_are_read_like_go() {
        assert_eq!(parse_numeric(b"0000644\0"), Some(0o644));
        assert_eq!(parse_numeric(b"\0\0\0\0\0\0\0\0"), Some(0));
        assert_eq!(parse_numeric(b"        "), Some(0));
        assert_eq!(parse_numeric(b""), Some(0));
        assert_eq!(parse_numeric(b"  644 \0 "), Some(0o644));
        assert_eq!(parse_numeric(b"\x00\x000644"), Some(0o644));
        assert_eq!(parse_numeric(b"12\x0034 "), Some(0o12));
        assert_eq!(parse_numeric(b"0000z44\0"), None);
        assert_eq!(parse_numeric(b"0000844\0"), None);
        // base-256: 0x80 then big-endian bytes
        assert_eq!(
            parse_numeric(&[0x80, 0, 0, 0, 0, 0x01, 0x00, 0x00]),
            Some(65536)
        );
        assert_eq!(parse_numeric(&[0xff, 0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn pax_times_keep_their_fraction() {
        assert_eq!(pax_time(b"1000000000"), Some((1_000_000_000, 0)));
        assert_eq!(
            pax_time(b"1000000000.5"),
            Some((1_000_000_000, 500_000_000))
        );
        assert_eq!(pax_time(b"12.000000001"), Some((12, 1)));
        assert_eq!(pax_time(b"-1.5"), Some((-2, 500_000_000)));
        assert_eq!(pax_time(b"x"), None);
        assert_eq!(pax_time(b""), None);
    }
}
