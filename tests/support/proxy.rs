//! [`Replaygate`]: the proxy under test, run as the real binary in a child process.
//!
//! Tests exercise the shipped program (CLI, logging, exit codes, signals) rather than library
//! calls, exactly as an operator would run it: `replaygate serve --listen 127.0.0.1:PORT
//! --target TARGET ...`. Its stdout and stderr go to one log file that tests can read and that
//! every startup failure prints.
//!
//! The binary is `CARGO_BIN_EXE_replaygate` (set by cargo for this crate's integration tests);
//! when compiled elsewhere, `REPLAYGATE_BIN` at run time names it instead.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::{Watchdog, free_port, pid_listens_on, send_signal};
use super::server::MariaDb;

const START_ATTEMPTS: usize = 5;
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running replaygate. Dropping it kills it (SIGKILL) and removes its directory.
pub struct Replaygate {
    dir: TempDir,
    /// Holds the config file of [`Replaygate::start_with_config`] for the child's lifetime.
    config_dir: Option<TempDir>,
    port: u16,
    log_path: PathBuf,
    child: Option<Child>,
    watchdog: Option<Watchdog>,
}

/// Path of the replaygate binary under test.
pub fn replaygate_bin() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_replaygate") {
        Some(path) => PathBuf::from(path),
        None => std::env::var_os("REPLAYGATE_BIN")
            .map(PathBuf::from)
            .expect("no CARGO_BIN_EXE_replaygate at build time and REPLAYGATE_BIN is not set"),
    }
}

impl Replaygate {
    /// `replaygate serve --listen 127.0.0.1:PORT --target TARGET EXTRA_ARGS...` on a free port,
    /// with `RUST_LOG=replaygate=debug` unless the environment sets `RUST_LOG`. Returns once the
    /// child itself listens on the port; panics with its log if it exits first or isn't listening
    /// within 20 s. A port lost to another process meanwhile is retried with a new one.
    pub fn start(target: &str, extra_args: &[&str]) -> Replaygate {
        Self::start_with_env(target, extra_args, &[])
    }

    /// [`Replaygate::start`] with `--config FILE`, FILE holding `config` (TOML text).
    pub fn start_with_config(target: &str, config: &str, extra_args: &[&str]) -> Replaygate {
        let config_dir = tempfile::tempdir().expect("create config tempdir");
        let path = config_dir.path().join("replaygate.toml");
        std::fs::write(&path, config).expect("write replaygate.toml");
        let path = path.to_str().expect("utf8 tempdir path").to_owned();
        let mut args = vec!["--config", path.as_str()];
        args.extend_from_slice(extra_args);
        let mut proxy = Self::start(target, &args);
        proxy.config_dir = Some(config_dir);
        proxy
    }

    /// [`Replaygate::start`] with extra environment variables for the child (these win over
    /// the defaults, e.g. `("RUST_LOG", "replaygate=trace")`).
    pub fn start_with_env(target: &str, extra_args: &[&str], env: &[(&str, &str)]) -> Replaygate {
        Self::launch(&["serve", "--target", target], extra_args, env)
    }

    /// `replaygate source FILES... --listen 127.0.0.1:PORT EXTRA_ARGS...`, as
    /// [`Replaygate::start`] starts `serve`.
    pub fn source(files: &[PathBuf], extra_args: &[&str]) -> Replaygate {
        Self::source_with_env(files, extra_args, &[])
    }

    /// [`Replaygate::source`] with environment variables for the child.
    pub fn source_with_env(
        files: &[PathBuf],
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Replaygate {
        let mut command = vec!["source"];
        command.extend(files.iter().map(|f| f.to_str().expect("UTF-8 binlog path")));
        Self::launch(&command, extra_args, env)
    }

    /// [`Replaygate::source`] that may refuse to start: `Err` holds its log then.
    pub fn try_source(files: &[PathBuf], extra_args: &[&str]) -> Result<Replaygate, String> {
        let mut command = vec!["source"];
        command.extend(files.iter().map(|f| f.to_str().expect("UTF-8 binlog path")));
        let dir = tempfile::Builder::new()
            .prefix("rgp")
            .tempdir_in("/tmp")
            .expect("create proxy tempdir in /tmp");
        let log_path = dir.path().join("replaygate.log");
        let mut proxy = Replaygate {
            dir,
            config_dir: None,
            port: free_port(),
            log_path,
            child: None,
            watchdog: None,
        };
        proxy.spawn_and_wait(&command, extra_args, &[])?;
        Ok(proxy)
    }

    /// [`Replaygate::source`] on a given port (a restart where replicas reconnect).
    pub fn source_on_port(files: &[PathBuf], port: u16, extra_args: &[&str]) -> Replaygate {
        let mut command = vec!["source"];
        command.extend(files.iter().map(|f| f.to_str().expect("UTF-8 binlog path")));
        Self::launch_on(&command, extra_args, &[], Some(port))
    }

    /// The command `command` (a subcommand and its own arguments) listening on a free port.
    fn launch(command: &[&str], extra_args: &[&str], env: &[(&str, &str)]) -> Replaygate {
        Self::launch_on(command, extra_args, env, None)
    }

    fn launch_on(
        command: &[&str],
        extra_args: &[&str],
        env: &[(&str, &str)],
        port: Option<u16>,
    ) -> Replaygate {
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("rgp")
                .tempdir_in("/tmp")
                .expect("create proxy tempdir in /tmp");
            let log_path = dir.path().join("replaygate.log");
            let port = port.unwrap_or_else(free_port);
            let mut proxy = Replaygate {
                dir,
                config_dir: None,
                port,
                log_path,
                child: None,
                watchdog: None,
            };
            match proxy.spawn_and_wait(command, extra_args, env) {
                Ok(()) => return proxy,
                Err(log) if is_addr_in_use(&log) => last = log,
                Err(log) => panic!("{log}"),
            }
        }
        panic!("replaygate: port in use on {START_ATTEMPTS} attempts; last log:\n{last}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// "127.0.0.1:PORT"
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A mysql_async URL for root on database `db` through this proxy. `prefer_socket=false`:
    /// otherwise mysql_async reads `@@socket` and reconnects to the server directly.
    pub fn mysql_url(&self, db: &str) -> String {
        format!(
            "mysql://root@127.0.0.1:{}/{db}?prefer_socket=false",
            self.port
        )
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A scratch directory that lives as long as this proxy (journals, configs, checkpoints).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the proxy has written to stdout and stderr so far (lossy UTF-8).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }

    /// Polls the log until it contains `needle`; false after `timeout`.
    /// Waits until `needle` appears at least `count` times in the log.
    pub fn wait_for_log_count(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().matches(needle).count() >= count {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal by name ("TERM", "INT", "HUP", ...) to the running proxy.
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid().expect("replaygate is not running"), signal);
    }

    /// Waits up to `timeout` for the proxy to exit by itself and returns its status; `None` if it
    /// is still running (it is left running) or was already killed.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self
                .child
                .as_mut()?
                .try_wait()
                .expect("try_wait replaygate");
            if let Some(status) = status {
                drop(self.watchdog.take());
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILLs the proxy and reaps it. Idempotent.
    pub fn kill(&mut self) {
        drop(self.watchdog.take()); // before reaping, so its pid can't be reused meanwhile
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Spawns the child and waits until it listens; on failure returns a message with the log.
    fn spawn_and_wait(
        &mut self,
        command: &[&str],
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<(), String> {
        let log = File::create(&self.log_path).expect("create replaygate.log");
        let mut cmd = Command::new(replaygate_bin());
        cmd.args(command)
            .arg("--listen")
            .arg(self.addr())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup replaygate.log"))
            .stderr(log);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "replaygate=debug");
        }
        cmd.envs(env.iter().copied());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", replaygate_bin().display()));
        let pid = child.id();
        self.watchdog = Watchdog::guard(pid, self.dir.path());
        self.child = Some(child);

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.wait_exit(Duration::ZERO) {
                return Err(format!(
                    "replaygate exited during startup ({status}); args {extra:?}; log:\n{}",
                    self.log()
                ));
            }
            if pid_listens_on(pid, self.port) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(format!(
                    "replaygate not listening on {} after {READY_TIMEOUT:?}; log:\n{}",
                    self.addr(),
                    self.log()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Replaygate {
    fn drop(&mut self) {
        self.kill();
    }
}

fn is_addr_in_use(log: &str) -> bool {
    let log = log.to_ascii_lowercase();
    log.contains("address already in use")
        || log.contains("addrinuse")
        || log.contains("os error 98")
}

/// The pipeline `... | mariadb --comments --binary-mode -h replaygate` a replay runs, started
/// (as `target`'s client); its stdin written from a thread, so a client that dies leaves the
/// rest unwritten instead of blocking the test.
pub fn start_replay(target: &MariaDb, proxy: &Replaygate, stream: &[u8]) -> Child {
    let mut child = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .arg("--comments")
        .arg("--binary-mode")
        .spawn();
    let mut stdin = child.stdin.take().expect("client stdin");
    let stream = stream.to_vec();
    thread::spawn(move || drop(stdin.write_all(&stream)));
    child
}

/// Runs `replaygate ARGS...` for a command that ends by itself (`journal`, `scan`, `status`,
/// ...) and returns its output.
pub fn run_replaygate(args: &[&str]) -> std::process::Output {
    Command::new(replaygate_bin())
        .args(args)
        .output()
        .expect("run replaygate")
}

/// [`run_replaygate`], which must succeed: its standard output.
#[track_caller]
pub fn replaygate_stdout(args: &[&str]) -> String {
    let out = run_replaygate(args);
    assert!(
        out.status.success(),
        "replaygate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
