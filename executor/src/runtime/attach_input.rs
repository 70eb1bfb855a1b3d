//! `attach` and `start -a -i`'s side of the container's stdin: this process's stdin is copied to
//! the monitor's stdin socket ([`super::stdin_server`]), watching for the detach keys
//! (`ctrl-p,ctrl-q` unless `--detach-keys` says otherwise), as Docker's client does.

use std::io::Write;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::{Result, RuntimeError};

/// Docker's default detach keys.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// `--detach-keys` as bytes: comma-separated keys, each a single character or `ctrl-X`
/// (X one of `a`–`z`, `@`, `[`, `\`, `]`, `^`, `_`).
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>> {
    let invalid = |key: &str| {
        RuntimeError::Invalid(format!(
            "--detach-keys {spec:?}: {key:?} is not a key (use a letter, or ctrl-X with X one of a-z @ [ \\ ] ^ _, separated by commas)"
        ))
    };
    spec.split(',')
        .map(|key| {
            let bytes = key.as_bytes();
            match bytes {
                [b] => Ok(*b),
                [b'c', b't', b'r', b'l', b'-', c] => match c.to_ascii_lowercase() {
                    c @ b'a'..=b'z' => Ok(c - b'a' + 1),
                    b'@' => Ok(0),
                    c @ (b'[' | b'\\' | b']' | b'^' | b'_') => Ok(c - b'@'),
                    _ => Err(invalid(key)),
                },
                _ => Err(invalid(key)),
            }
        })
        .collect()
}

/// What reading our stdin led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Copied (or nothing to do).
    Copied,
    /// The detach keys were typed: stop attaching, leave the container running.
    Detach,
}

/// Our stdin on its way to the container's.
pub struct AttachInput {
    socket: Option<UnixStream>,
    keys: Vec<u8>,
    /// How many of the detach keys the input has just matched (held back until it is sure).
    matched: usize,
}

impl AttachInput {
    /// Connected to the container in `run_dir`; `None` when it takes no input (made without `-i`,
    /// or its stdin was closed).
    pub fn connect(run_dir: &Path, detach_keys: Vec<u8>) -> Option<AttachInput> {
        super::stdin_server::connect(run_dir).map(|socket| AttachInput {
            socket: Some(socket),
            keys: detach_keys,
            matched: 0,
        })
    }

    /// Our stdin, while there is more to copy.
    pub fn fd(&self) -> Option<BorrowedFd<'static>> {
        self.socket.as_ref().map(|_| super::tty::stdin())
    }

    /// Our stdin is readable: copy what is there.
    pub fn on_ready(&mut self) -> Input {
        let mut buf = [0u8; 16 * 1024];
        let n = match nix::unistd::read(super::tty::stdin().as_raw_fd(), &mut buf) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => return Input::Copied,
            Err(_) => 0,
        };
        if n == 0 {
            self.finish();
            return Input::Copied;
        }
        let (out, detach) = self.filter(&buf[..n]);
        if let Some(socket) = &mut self.socket {
            if socket.write_all(&out).is_err() {
                self.socket = None;
            }
        }
        if detach {
            Input::Detach
        } else {
            Input::Copied
        }
    }

    /// The bytes to send of `input`, and whether the detach keys were completed. A partial
    /// match is held back; when the next byte breaks it, the held bytes are sent after all.
    fn filter(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return (out, true);
                }
            } else {
                out.push(b);
            }
        }
        (out, false)
    }

    /// Our input ended: send what was held back and end the container's input from us.
    fn finish(&mut self) {
        if let Some(mut socket) = self.socket.take() {
            let held = self.keys[..self.matched].to_vec();
            let _ = socket.write_all(&held);
            let _ = socket.shutdown(std::net::Shutdown::Write);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_as_docker_spells_them() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(
            parse_detach_keys("a,ctrl-@,ctrl-_").unwrap(),
            vec![b'a', 0, 31]
        );
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("ab").is_err());
    }

    fn input(keys: &str) -> AttachInput {
        AttachInput {
            socket: None,
            keys: parse_detach_keys(keys).unwrap(),
            matched: 0,
        }
    }

    #[test]
    fn the_keys_detach_and_a_broken_match_is_sent_after_all() {
        let mut i = input("ctrl-p,ctrl-q");
        assert_eq!(i.filter(b"ab\x10c"), (b"ab\x10c".to_vec(), false));
        assert_eq!(i.filter(b"x\x10"), (b"x".to_vec(), false));
        assert_eq!(i.filter(b"\x11rest"), (Vec::new(), true));
        assert_eq!(i.filter(b"\x10\x10\x11"), (b"\x10".to_vec(), true));
    }
}
