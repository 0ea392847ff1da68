//! Process plumbing shared by the server and proxy helpers: picking free ports, the watchdog that
//! kills a child when the test process dies without running `Drop`, sending signals, telling
//! whether a given process is the one listening on a port, reading the tail of a log file, and
//! reading a process's memory counters.
//!
//! These live apart from `server.rs` and `proxy.rs` because both need exactly the same answers to
//! "is *my* child listening yet?" and "what if the test binary is killed?".

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, drop the listener).
///
/// Another process may take it before the caller binds it; the server and proxy helpers detect
/// "address in use" at startup and retry with a new port.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for a free port");
    listener.local_addr().expect("local_addr").port()
}

/// Whether this test process runs as root (mariadbd and mariadb-install-db then need `--user=root`).
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Kills its target with SIGKILL (and removes its scratch directory) when the test process dies
/// before dropping it.
///
/// It is a tiny `sh` that blocks reading a pipe whose only writer is this process: when the test
/// process exits for any reason the kernel closes the pipe, `read` returns, and the target dies.
/// Dropping the watchdog kills the `sh` itself, leaving the target alone. Always drop the
/// watchdog *before* reaping the target, so its pid can't have been reused by then.
pub struct Watchdog {
    sh: Child,
}

impl Watchdog {
    /// Guards `pid`, and `dir` (the tempdir `Drop` would have removed); `None` if no `sh` could be
    /// started (the harness then works without it).
    pub fn guard(pid: u32, dir: &Path) -> Option<Watchdog> {
        let script =
            r#"trap '' INT HUP TERM; read _x; kill -9 "$1" 2>/dev/null; sleep 1; rm -rf "$2""#;
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("replaygate-test-watchdog")
            .arg(pid.to_string())
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
            .map(|sh| Watchdog { sh })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.sh.kill();
        let _ = self.sh.wait();
    }
}

/// Sends a signal by name ("TERM", "HUP", "STOP", "CONT", ...) to `pid` with `kill(1)`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill(1)");
    assert!(status.success(), "kill -{signal} {pid} failed: {status}");
}

/// Whether process `pid` holds a socket listening on TCP `port` (any local address).
///
/// Reads `/proc/net/tcp{,6}` for LISTEN sockets on the port and looks for their inodes among
/// `/proc/PID/fd`. Unlike a test connection, this never confuses another process's listener
/// with our child's, and it opens no session in the program under test. Where `/proc` can't be
/// read it falls back to a TCP connect.
pub fn pid_listens_on(pid: u32, port: u16) -> bool {
    let Some(inodes) = listening_inodes(port) else {
        return TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))
            .is_ok();
    };
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path()).is_ok_and(|target| {
            let target = target.to_string_lossy();
            inodes
                .iter()
                .any(|inode| target == format!("socket:[{inode}]"))
        })
    })
}

/// Inodes of the LISTEN sockets on `port`, or `None` if `/proc/net/tcp` can't be read.
fn listening_inodes(port: u16) -> Option<Vec<String>> {
    let mut found = None;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        let inodes = found.get_or_insert_with(Vec::new);
        for line in text.lines().skip(1) {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 || fields[3] != "0A" {
                continue;
            }
            let local_port = fields[1].rsplit(':').next();
            if local_port.and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port) {
                inodes.push(fields[9].to_string());
            }
        }
    }
    found
}

/// The last `lines` lines of a text file (lossy UTF-8), or a note if it can't be read.
pub fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("<cannot read {}: {e}>", path.display()),
    }
}

/// A `/proc/PID/status` field in KiB (`VmRSS`, `VmHWM`, ...); `None` once the process is gone.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// User plus system CPU time of a process so far, in seconds (from `/proc/PID/stat`).
pub fn cpu_seconds(pid: u32) -> f64 {
    let (user, system) = cpu_split(pid);
    user + system
}

/// User and system (kernel) CPU time of a process so far, in seconds (`/proc/PID/stat`).
pub fn cpu_split(pid: u32) -> (f64, f64) {
    /// USER_HZ, the unit of those fields: 100 on every Linux architecture we run on.
    const TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/stat: {e}"));
    // Fields after the parenthesised command name start at field 3 (state); utime and stime
    // are fields 14 and 15.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let mut ticks = after_name
        .split_whitespace()
        .skip(11)
        .map(|f| f.parse::<u64>().expect("numeric utime/stime") as f64 / TICKS_PER_SECOND);
    (ticks.next().expect("utime"), ticks.next().expect("stime"))
}
