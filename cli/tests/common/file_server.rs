//! A static file server for one test: `python3 -m http.server` on 127.0.0.1 with a free port, serving a temp dir;
//! killed on drop.
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct FileServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl FileServer {
    /// `None` (the test skips, saying why) without python3.
    pub fn start() -> Option<FileServer> {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = match Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("SKIPPED: python3 is needed to serve files: {e}");
                return None;
            }
        };
        let server = FileServer { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the http server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// Serve `content` at `path` (directories made as needed); returns its URL.
    pub fn put(&self, path: &str, content: &[u8]) -> String {
        let file = self.dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
        self.url(path)
    }

    /// The directory served.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
