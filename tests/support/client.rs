//! Drivers for the real client programs: [`MariadbClient`] builds and runs `mariadb`, and
//! [`mariadb_binlog`] runs `mariadb-binlog`.
//!
//! replaygate's contract is "never worse than `mariadb-binlog ... | mariadb`", so tests drive it
//! with exactly those programs and their real flags (`--default-character-set`, `--binary-mode`,
//! `--force`, ...) rather than with a library client. Both always get `--no-defaults`, so the
//! machine's `my.cnf` can't change what a test sees.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How `mariadb` reaches the server.
#[derive(Clone, Debug)]
enum Endpoint {
    Default,
    Tcp(String, u16),
    Socket(PathBuf),
}

/// Builder for one or more runs of the real `mariadb` client.
///
/// Arguments are laid out as `--no-defaults`, the connection (`--protocol=TCP --host --port` or
/// `--protocol=SOCKET --socket`; the last of `host_port`/`socket` wins), `--user`, `--password`,
/// the extra `arg`s in order, then `--database`. Runs take `&self`, so one builder can be reused.
#[derive(Clone, Debug)]
pub struct MariadbClient {
    endpoint: Endpoint,
    user: String,
    password: Option<String>,
    database: Option<String>,
    args: Vec<OsString>,
    timeout: Duration,
}

/// What one run of `mariadb` produced.
#[derive(Debug)]
pub struct ClientOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl ClientOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// stdout as text (lossy UTF-8).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Panics with status, stderr and stdout unless the client exited 0.
    #[track_caller]
    pub fn assert_success(self) -> Self {
        assert!(self.success(), "mariadb failed: {}", self.describe());
        self
    }

    /// Panics unless the client exited non-zero.
    #[track_caller]
    pub fn assert_failure(self) -> Self {
        assert!(
            !self.success(),
            "mariadb unexpectedly succeeded: {}",
            self.describe()
        );
        self
    }

    fn describe(&self) -> String {
        format!(
            "{}\n--- stderr ---\n{}\n--- stdout ---\n{}",
            self.status,
            self.stderr,
            self.stdout_str()
        )
    }
}

impl Default for MariadbClient {
    fn default() -> Self {
        Self::new()
    }
}

impl MariadbClient {
    /// User `root`, no password, a 120 s timeout per run, and no endpoint yet: set one with
    /// `host_port` or `socket` (running without one panics rather than reach the machine's own
    /// server).
    pub fn new() -> Self {
        MariadbClient {
            endpoint: Endpoint::Default,
            user: "root".to_string(),
            password: None,
            database: None,
            args: Vec::new(),
            timeout: Duration::from_secs(120),
        }
    }

    /// Connect over TCP (adds `--protocol=TCP`, so "localhost" doesn't silently mean the socket).
    pub fn host_port(mut self, host: &str, port: u16) -> Self {
        self.endpoint = Endpoint::Tcp(host.to_string(), port);
        self
    }

    /// Connect through a unix socket.
    pub fn socket(mut self, path: impl AsRef<Path>) -> Self {
        self.endpoint = Endpoint::Socket(path.as_ref().to_path_buf());
        self
    }

    pub fn user(mut self, user: &str) -> Self {
        self.user = user.to_string();
        self
    }

    /// Passed as `--password=...` (never a bare `-p`, which would prompt).
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_string());
        self
    }

    pub fn database(mut self, db: &str) -> Self {
        self.database = Some(db.to_string());
        self
    }

    /// Any extra flag, e.g. `--default-character-set=latin1`, `--binary-mode`, `--force`.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// How long one run may take before the client is killed and the test panics.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The fully configured `mariadb` command, stdio left to the caller.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("mariadb");
        cmd.arg("--no-defaults");
        match &self.endpoint {
            // mariadb's own default would be the machine's server, which tests must never use.
            Endpoint::Default => panic!("MariadbClient needs .host_port(..) or .socket(..)"),
            Endpoint::Tcp(host, port) => {
                cmd.arg("--protocol=TCP")
                    .arg(format!("--host={host}"))
                    .arg(format!("--port={port}"));
            }
            Endpoint::Socket(path) => {
                let mut socket = OsString::from("--socket=");
                socket.push(path);
                cmd.arg("--protocol=SOCKET").arg(socket);
            }
        }
        cmd.arg(format!("--user={}", self.user));
        if let Some(password) = &self.password {
            cmd.arg(format!("--password={password}"));
        }
        cmd.args(&self.args);
        if let Some(db) = &self.database {
            cmd.arg(format!("--database={db}"));
        }
        cmd
    }

    /// Starts the client with stdin, stdout and stderr piped, for tests that stream input or
    /// kill things mid-run. The caller owns the child (and must wait for it).
    pub fn spawn(&self) -> Child {
        self.command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mariadb")
    }

    /// Runs the client with `input` on stdin (written from a thread, so large inputs can't
    /// deadlock against a full stdout pipe). A client that exits early (an error without
    /// `--force`) just leaves the rest of the input unread.
    pub fn run_with_stdin(&self, input: &[u8]) -> ClientOutput {
        self.run(self.command(), Some(input.to_vec()))
    }

    /// Runs `mariadb -e SQL` with stdin closed.
    pub fn run_sql(&self, sql: &str) -> ClientOutput {
        let mut cmd = self.command();
        cmd.arg("-e").arg(sql);
        self.run(cmd, None)
    }

    fn run(&self, mut cmd: Command, input: Option<Vec<u8>>) -> ClientOutput {
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn mariadb");
        let writer = child.stdin.take().map(|mut stdin| {
            let input = input.unwrap_or_default();
            // Broken pipe just means the client stopped reading: its exit status tells why.
            thread::spawn(move || drop(stdin.write_all(&input)))
        });
        let stdout = read_in_thread(child.stdout.take().expect("stdout piped"));
        let stderr = read_in_thread(child.stderr.take().expect("stderr piped"));
        let status = wait_with_timeout(&mut child, self.timeout);
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        let stdout = stdout.join().expect("stdout reader");
        let stderr = String::from_utf8_lossy(&stderr.join().expect("stderr reader")).into_owned();
        let Some(status) = status else {
            panic!(
                "mariadb did not finish within {:?} (killed); args {:?}\n--- stderr ---\n{stderr}",
                self.timeout,
                cmd.get_args().collect::<Vec<_>>()
            );
        };
        ClientOutput {
            status,
            stdout,
            stderr,
        }
    }
}

/// Types `sql` and a newline into a client started with [`MariadbClient::spawn`], flushed at
/// once, as a person at the prompt would: the client runs it before the test goes on.
pub fn send_line(client: &mut Child, sql: &str) {
    let stdin = client.stdin.as_mut().expect("client stdin");
    writeln!(stdin, "{sql}").unwrap();
    stdin.flush().unwrap();
}

/// Closes a spawned client's input and waits for it to exit.
pub fn close_input(mut client: Child) -> ClientOutput {
    drop(client.stdin.take());
    let out = client.wait_with_output().unwrap();
    ClientOutput {
        status: out.status,
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn read_in_thread(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// Waits for `child`; after `timeout` kills it, reaps it and returns `None`.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait().expect("wait for mariadb") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Runs `mariadb-binlog --no-defaults ARGS FILES` and returns its stdout; panics with stderr on
/// failure. Reading the active binlog of a running server is fine (it adds a warning comment).
#[track_caller]
pub fn mariadb_binlog(args: &[&str], files: &[PathBuf]) -> Vec<u8> {
    let output = Command::new("mariadb-binlog")
        .arg("--no-defaults")
        .args(args)
        .args(files)
        .stdin(Stdio::null())
        .output()
        .expect("spawn mariadb-binlog");
    assert!(
        output.status.success(),
        "mariadb-binlog {args:?} {files:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
