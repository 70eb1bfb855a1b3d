//! `--network bridge` for `hoist run`: the container on the `hoist0` bridge ([`crate::bridge`]), and
//! `-p` as a userland proxy on 127.0.0.1 (like docker-proxy) that lives in the monitor, so it goes
//! away with the container.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;

pub use crate::bridge::{Lease, BRIDGE};

use super::{Result, RuntimeError};

/// Put the container whose init is `pid` on the bridge.
pub fn attach(container_dir: &Path, id: &str, pid: i32) -> Result<Lease> {
    crate::bridge::attach(container_dir, &format!("vh{}", &id[..12]), pid)
        .map_err(|e| RuntimeError::Invalid(e.to_string()))
}

/// Listen on 127.0.0.1:`host_port` before the container starts (so a taken port fails the run).
pub fn listen(host_port: u16) -> Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, host_port)).map_err(|e| {
        RuntimeError::Invalid(format!(
            "-p {host_port}: cannot listen on 127.0.0.1:{host_port}: {e}"
        ))
    })
}

/// Where a published port forwards to: the container's address in its current run, `None` while it
/// is not running (between restarts). Shared by the proxy threads of one monitor.
pub type ProxyTarget = std::sync::Arc<std::sync::RwLock<Option<Ipv4Addr>>>;

/// Forward every connection to `listener` to `target:port`, each in two threads; runs until the
/// monitor exits.
pub fn proxy(listener: TcpListener, target: ProxyTarget, port: u16) {
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let target = target.clone();
            std::thread::spawn(move || {
                // The server may still be starting, or the container restarting: retry briefly.
                let mut upstream = None;
                for _ in 0..50 {
                    let address = target.read().ok().and_then(|t| *t);
                    if let Some(address) = address {
                        if let Ok(s) = TcpStream::connect((address, port)) {
                            upstream = Some(s);
                            break;
                        }
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                let Some(upstream) = upstream else { return };
                pipe_both_ways(client, upstream);
            });
        }
    });
}

fn pipe_both_ways(a: TcpStream, b: TcpStream) {
    let (Ok(mut a2), Ok(mut b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let (mut a, mut b) = (a, b);
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut a2, &mut b2);
        let _ = b2.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut b, &mut a);
    let _ = a.shutdown(std::net::Shutdown::Write);
    let _ = t.join();
}
