//! The container's stdin for `attach` and `start -a -i`, served by the monitor of a container made
//! with `-i` that runs detached (a foreground `run -i` passes hoist's own stdin instead).
//!
//! The monitor holds the writing end of the container's stdin (a pipe, or the pty master with `-t`)
//! and listens on a unix socket in the container's run directory; each client's bytes are written
//! to the container's stdin. A client's end of input closes the container's stdin when the
//! container was created with its stdin attached (Docker's `StdinOnce`, as `create -i`:
//! `echo hi | start -ai c` ends `cat`); otherwise (`run -di`) the stdin stays open for the next
//! `attach`. The socket is in the run directory, so only root reaches it.
//!
//! Writes never block the monitor's loop: at most one buffer of input is held while the container
//! does not read, and no client is read meanwhile (the clients' sockets fill up and they wait).

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The socket's name in the container's run directory.
pub const SOCKET_NAME: &str = "stdin.sock";

/// How the container's stdin is attached (a field of the container's run options).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StdinOptions {
    /// Close the container's stdin when the first attached client's input ends (Docker's
    /// `StdinOnce`: `create -i`, a foreground `run -i`; not `run -di`).
    #[serde(default)]
    pub stdin_once: bool,
}

/// A path to `name` in `dir` that fits in a unix socket address (108 bytes) however long `dir`
/// is: through `/proc/self/fd` of an open `dir`. Keep the returned descriptor open while using it.
pub(crate) fn short_socket_path(dir: &Path, name: &str) -> std::io::Result<(OwnedFd, PathBuf)> {
    let fd = nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // SAFETY: `open` just returned this descriptor, owned by nothing else.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let path = PathBuf::from(format!("/proc/self/fd/{}/{name}", fd.as_raw_fd()));
    Ok((fd, path))
}

/// Where the container's stdin goes.
enum Target {
    /// Its own pipe (no `-t`); `None` once closed.
    Pipe(Option<OwnedFd>),
    /// The pty master, which the event loop owns (`-t`).
    Pty,
}

/// What poll found ready, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ready {
    Listener,
    Client(usize),
    Target,
}

pub(crate) struct StdinServer {
    listener: Option<UnixListener>,
    path: PathBuf,
    clients: Vec<UnixStream>,
    target: Target,
    /// Read from a client, not yet taken by the container.
    pending: Vec<u8>,
    close_on_eof: bool,
}

impl StdinServer {
    /// Listen in `run_dir`. Without a pty, also the pipe the container reads as its stdin: its
    /// reading end is returned for the container.
    pub(crate) fn open(
        run_dir: &Path,
        pty: bool,
        options: &StdinOptions,
    ) -> std::io::Result<(StdinServer, Option<OwnedFd>)> {
        // A write to a pipe whose reader is gone must be an EPIPE, not the monitor's death (the
        // container starts with every signal at its default again).
        // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let path = run_dir.join(SOCKET_NAME);
        let (_dir_fd, short) = short_socket_path(run_dir, SOCKET_NAME)?;
        let _ = std::fs::remove_file(&short);
        let listener = UnixListener::bind(&short)?;
        listener.set_nonblocking(true)?;
        let (target, container_end) = if pty {
            (Target::Pty, None)
        } else {
            let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
            set_nonblocking(write.as_fd());
            (Target::Pipe(Some(write)), Some(read))
        };
        Ok((
            StdinServer {
                listener: Some(listener),
                path,
                clients: Vec::new(),
                target,
                pending: Vec::new(),
                close_on_eof: options.stdin_once,
            },
            container_end,
        ))
    }

    /// The descriptors to poll and what each is; `master` is the pty's, with `-t`.
    pub(crate) fn poll_set<'a>(
        &'a self,
        master: Option<BorrowedFd<'a>>,
    ) -> Vec<(Ready, BorrowedFd<'a>, nix::poll::PollFlags)> {
        use nix::poll::PollFlags;
        if !self.pending.is_empty() {
            return self
                .target_fd(master)
                .map(|fd| vec![(Ready::Target, fd, PollFlags::POLLOUT)])
                .unwrap_or_default();
        }
        let mut set = Vec::new();
        if let Some(l) = &self.listener {
            set.push((Ready::Listener, l.as_fd(), PollFlags::POLLIN));
        }
        for (i, c) in self.clients.iter().enumerate() {
            set.push((Ready::Client(i), c.as_fd(), PollFlags::POLLIN));
        }
        set
    }

    fn target_fd<'a>(&'a self, master: Option<BorrowedFd<'a>>) -> Option<BorrowedFd<'a>> {
        match &self.target {
            Target::Pipe(fd) => fd.as_ref().map(AsFd::as_fd),
            Target::Pty => master,
        }
    }

    /// Handle what poll found ready (in the order of [`Self::poll_set`]).
    pub(crate) fn handle(&mut self, ready: &[Ready], master: Option<BorrowedFd<'_>>) {
        let mut gone = Vec::new();
        for r in ready {
            match *r {
                Ready::Listener => self.accept_all(),
                Ready::Target => self.flush(master),
                Ready::Client(i) => {
                    if !self.pending.is_empty() {
                        continue;
                    }
                    let mut buf = [0u8; 16 * 1024];
                    let Some(client) = self.clients.get_mut(i) else {
                        continue;
                    };
                    match client.read(&mut buf) {
                        Ok(0) => gone.push(i),
                        Ok(n) => {
                            self.pending.extend_from_slice(&buf[..n]);
                            self.flush(master);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => gone.push(i),
                    }
                }
            }
        }
        if gone.is_empty() {
            return;
        }
        gone.sort_unstable();
        for i in gone.into_iter().rev() {
            self.clients.remove(i);
        }
        if self.close_on_eof {
            self.close_input();
        }
    }

    fn accept_all(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        while let Ok((stream, _)) = listener.accept() {
            if stream.set_nonblocking(true).is_ok() {
                self.clients.push(stream);
            }
        }
    }

    /// Write what is pending, as much as the container takes now.
    fn flush(&mut self, master: Option<BorrowedFd<'_>>) {
        let Some(fd) = self.target_fd(master) else {
            self.pending.clear();
            return;
        };
        let mut file = std::mem::ManuallyDrop::new(unsafe_file(fd));
        while !self.pending.is_empty() {
            match file.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    // The container closed its stdin (or exited): nothing will read more.
                    self.pending.clear();
                    if matches!(self.target, Target::Pipe(_)) {
                        self.close_input();
                    }
                    return;
                }
            }
        }
    }

    /// The container's stdin ends (a pipe; a pty stays, as Docker keeps a terminal open); no
    /// more clients.
    fn close_input(&mut self) {
        if let Target::Pipe(fd) = &mut self.target {
            *fd = None;
            self.pending.clear();
            self.clients.clear();
            self.listener = None;
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for StdinServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A `File` view of a descriptor we do not own (wrapped in `ManuallyDrop` by the caller).
fn unsafe_file(fd: BorrowedFd<'_>) -> std::fs::File {
    use std::os::fd::FromRawFd;
    // SAFETY: the caller never drops the file, so the descriptor stays owned by its owner.
    unsafe { std::fs::File::from_raw_fd(fd.as_raw_fd()) }
}

fn set_nonblocking(fd: BorrowedFd<'_>) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    if let Ok(flags) = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL) {
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        let _ = fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags));
    }
}

/// Connect to the stdin socket of the container whose run directory is `run_dir`: `None` when
/// the container takes no input (made without `-i`, or its stdin is closed).
pub(crate) fn connect(run_dir: &Path) -> Option<UnixStream> {
    let (_dir_fd, short) = short_socket_path(run_dir, SOCKET_NAME).ok()?;
    UnixStream::connect(short).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_until(server: &mut StdinServer, mut done: impl FnMut(&StdinServer) -> bool) {
        use nix::poll::{poll, PollFd, PollTimeout};
        for _ in 0..200 {
            if done(server) {
                return;
            }
            let set = server.poll_set(None);
            let mut fds: Vec<PollFd> = set.iter().map(|(_, fd, f)| PollFd::new(*fd, *f)).collect();
            let _ = poll(&mut fds, PollTimeout::from(50u16));
            let ready: Vec<Ready> = set
                .iter()
                .zip(&fds)
                .filter(|(_, p)| p.revents().is_some_and(|r| !r.is_empty()))
                .map(|((r, _, _), _)| *r)
                .collect();
            drop(fds);
            server.handle(&ready, None);
        }
        panic!("the server never got there");
    }

    #[test]
    fn a_client_writes_to_the_pipe_and_its_end_closes_it_once() {
        let tmp = tempfile::tempdir().unwrap();
        let options = StdinOptions { stdin_once: true };
        let (mut server, read) = StdinServer::open(tmp.path(), false, &options).unwrap();
        let mut container = std::fs::File::from(read.unwrap());
        let mut client = connect(tmp.path()).unwrap();
        client.write_all(b"hello\n").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        serve_until(&mut server, |s| s.listener.is_none());
        let mut got = String::new();
        container.read_to_string(&mut got).unwrap();
        assert_eq!(got, "hello\n");
        assert!(
            connect(tmp.path()).is_none(),
            "closed stdin takes no client"
        );
    }

    #[test]
    fn without_stdin_once_the_pipe_stays_open_for_the_next_client() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut server, read) =
            StdinServer::open(tmp.path(), false, &StdinOptions::default()).unwrap();
        let read = read.unwrap();
        set_nonblocking(read.as_fd());
        let mut container = std::fs::File::from(read);
        let mut got = Vec::new();
        let mut take = |want: usize| {
            let mut buf = [0u8; 16];
            if let Ok(n) = container.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
            got.len() >= want
        };
        let mut first = connect(tmp.path()).unwrap();
        first.write_all(b"a").unwrap();
        drop(first);
        serve_until(&mut server, |_| take(1));
        let mut second = connect(tmp.path()).expect("still listening");
        second.write_all(b"b").unwrap();
        drop(second);
        serve_until(&mut server, |_| take(2));
        assert_eq!(got, b"ab");
    }
}
