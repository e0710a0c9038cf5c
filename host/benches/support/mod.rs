//! What the benchmarks that drive the real binary share: reading another
//! process's counters from /proc, and opening a socket on the websocket
//! connector; which server binaries to measure.

use std::path::PathBuf;
use std::time::Duration;

/// A server binary to measure: this build's, or one named in
/// `SANDBOT_BENCH_BINS` (`label=path,label=path`).
#[allow(dead_code)] // not every benchmark runs the binary
pub struct Build {
    pub label: String,
    pub bin: PathBuf,
}

/// The binaries `SANDBOT_BENCH_BINS` names, else this build's.
#[allow(dead_code)] // not every benchmark runs the binary
pub fn builds() -> Vec<Build> {
    let list = std::env::var("SANDBOT_BENCH_BINS").unwrap_or_default();
    if list.trim().is_empty() {
        return vec![Build {
            label: "this build".into(),
            bin: env!("CARGO_BIN_EXE_sandbot").into(),
        }];
    }
    list.split(',')
        .map(|item| {
            let (label, bin) = item.split_once('=').unwrap_or((item, item));
            let bin = PathBuf::from(bin);
            assert!(
                bin.is_file(),
                "SANDBOT_BENCH_BINS: {} is not a file",
                bin.display()
            );
            Build {
                label: label.into(),
                bin,
            }
        })
        .collect()
}

/// User plus system CPU time process `pid` has used so far.
pub fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_secs_f64(ticks as f64 / hz as f64)
}

/// A socket on the websocket connector.
#[allow(dead_code)] // not every benchmark opens one
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a socket on the websocket connector at `port`: the POST that
/// names it, then the upgrade.
#[allow(dead_code)] // not every benchmark opens one
pub async fn connect(port: u16) -> Socket {
    connect_named(port).await.1
}

/// Like [`connect`], with the socket's id (opsdroid's clients put it in
/// every frame they send).
#[allow(dead_code)] // not every benchmark opens one
pub async fn connect_named(port: u16) -> (String, Socket) {
    use std::io::{Read, Write};
    // The Host the server is reached by (web.allowed-hosts refuses others).
    let post = format!(
        "POST /connector/websocket HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(post.as_bytes()).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let body = reply.split_once("\r\n\r\n").unwrap_or_default().1;
    let named: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("asking for a socket: {e}; the answer was {reply:?}"));
    let id = named["socket"].as_str().unwrap().to_string();
    let url = format!("ws://127.0.0.1:{port}/connector/websocket/{id}");
    (id, tokio_tungstenite::connect_async(url).await.unwrap().0)
}
