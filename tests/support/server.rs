//! [`MariaDb`]: a private, throwaway `mariadbd` for one test (or one test binary).
//!
//! Each server gets its own short directory `/tmp/rgXXXXXX/` holding the datadir (`data/`, with
//! the binlog `data/binlog.*`), the unix socket, the pid file and `error.log`, plus its own free
//! TCP port on 127.0.0.1. The machine's own MariaDB (port 3306, `/etc/mysql`) is never touched:
//! every program runs with `--no-defaults`. The directory is short so the socket path stays far
//! under the 108-byte unix socket limit.
//!
//! Startup is tuned for 2-core CI (small buffer pool and redo log, no fsync per commit); it takes
//! about one second. A port taken between choosing and binding it (parallel test binaries) is
//! retried with a fresh datadir and a new port.

use std::fs::{self, File, OpenOptions};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::client::{MariadbClient, mariadb_binlog};
use super::process::{Watchdog, free_port, running_as_root, tail};

const START_ATTEMPTS: usize = 5;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Given to both mariadb-install-db and mariadbd, so the first start doesn't resize the redo log.
const INNODB_SIZES: [&str; 2] = [
    "--innodb-buffer-pool-size=64M",
    "--innodb-log-file-size=48M",
];

/// How to start a [`MariaDb`].
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// "STATEMENT", "ROW" or "MIXED" (the default).
    pub binlog_format: &'static str,
    /// `--server-id`; 1 by default.
    pub server_id: u32,
    /// Appended to the mariadbd command line (after the harness's own flags, so they win).
    /// They are not given to mariadb-install-db.
    pub extra_args: Vec<String>,
    /// Run inside this network namespace (`ip netns exec NAME`), listening on this address of
    /// it instead of 127.0.0.1: see [`super::netns::Link`].
    pub netns: Option<(String, String)>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            binlog_format: "MIXED",
            server_id: 1,
            extra_args: Vec::new(),
            netns: None,
        }
    }
}

/// A running private MariaDB. Dropping it kills the server (SIGKILL) and removes its directory.
pub struct MariaDb {
    dir: TempDir,
    port: u16,
    opts: ServerOptions,
    child: Option<Child>,
    watchdog: Option<Watchdog>,
}

enum StartError {
    PortInUse(String),
    Failed(String),
}

impl MariaDb {
    /// Starts a server with [`ServerOptions::default`].
    pub fn start() -> MariaDb {
        Self::start_with(ServerOptions::default())
    }

    /// Creates a fresh datadir, starts mariadbd on a free port and waits until it answers on both
    /// its socket and its TCP port. Panics with the error log tail if it doesn't within 60 s.
    pub fn start_with(opts: ServerOptions) -> MariaDb {
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("rg")
                .tempdir_in("/tmp")
                .expect("create server tempdir in /tmp");
            install_db(dir.path());
            let mut db = MariaDb {
                dir,
                port: free_port(),
                opts: opts.clone(),
                child: None,
                watchdog: None,
            };
            match db.spawn_and_wait() {
                Ok(()) => return db,
                // `db` drops here with its half-used datadir; the next try starts clean.
                Err(StartError::PortInUse(log)) => last = log,
                Err(StartError::Failed(msg)) => panic!("{msg}"),
            }
        }
        panic!("mariadbd: port in use on {START_ATTEMPTS} attempts; last error log:\n{last}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// "127.0.0.1:PORT"
    pub fn tcp_addr(&self) -> String {
        format!("{}:{}", self.host(), self.port)
    }

    /// The address it listens on: 127.0.0.1, or its namespace's address.
    pub fn host(&self) -> &str {
        self.opts
            .netns
            .as_ref()
            .map_or("127.0.0.1", |(_, addr)| addr)
    }

    pub fn socket_path(&self) -> PathBuf {
        self.dir.path().join("mysqld.sock")
    }

    pub fn datadir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// mysql_async URL as root without password: `mysql://root@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("mysql://root@{}:{}/{db}", self.host(), self.port)
    }

    pub fn error_log_path(&self) -> PathBuf {
        self.dir.path().join("error.log")
    }

    /// The whole error log so far (lossy UTF-8), for failing tests to print.
    pub fn error_log(&self) -> String {
        String::from_utf8_lossy(&fs::read(self.error_log_path()).unwrap_or_default()).into_owned()
    }

    /// The server's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The real `mariadb` client, connected as root through this server's unix socket. Call
    /// `.host_port("127.0.0.1", db.port())` on it to go over TCP instead.
    pub fn client(&self) -> MariadbClient {
        MariadbClient::new().socket(self.socket_path())
    }

    /// Runs statements with `mariadb --batch --skip-column-names -e SQL` and returns stdout as is
    /// (tab-separated rows, each ending in a newline). Panics with stderr on failure.
    #[track_caller]
    pub fn sql(&self, sql: &str) -> String {
        let out = self
            .client()
            .arg("--batch")
            .arg("--skip-column-names")
            .run_sql(sql);
        assert!(
            out.success(),
            "sql failed: {sql}\n{}: {}",
            out.status,
            out.stderr
        );
        out.stdout_str()
    }

    /// The binlog files listed in `binlog.index`, oldest first.
    pub fn binlog_files(&self) -> Vec<PathBuf> {
        let datadir = self.datadir();
        let index = fs::read_to_string(datadir.join("binlog.index")).expect("read binlog.index");
        index
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| datadir.join(line)) // absolute entries replace datadir
            .collect()
    }

    /// Copies the binlog files into `dir`, as an operator saves them; the copies, oldest first.
    pub fn copy_binlogs(&self, dir: &Path) -> Vec<PathBuf> {
        self.binlog_files()
            .into_iter()
            .map(|f| {
                let copy = dir.join(f.file_name().expect("a binlog file name"));
                fs::copy(&f, &copy).unwrap_or_else(|e| panic!("copy {}: {e}", f.display()));
                copy
            })
            .collect()
    }

    /// Starts a new server with `server_id` that replicates from `primary`: over TCP as root, by
    /// GTID (`MASTER_USE_GTID = slave_pos`, so from the primary's first binlog event). Returns once
    /// it has applied everything the primary has logged so far.
    pub fn start_replica_of(primary: &MariaDb, server_id: u32) -> MariaDb {
        let replica = MariaDb::start_with(ServerOptions {
            server_id,
            ..ServerOptions::default()
        });
        replica.sql(&format!(
            "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, MASTER_USER = 'root', \
             MASTER_USE_GTID = slave_pos; START SLAVE",
            primary.port()
        ));
        replica.catch_up_with(primary);
        replica
    }

    /// Waits (up to 60 s) until this replica has applied everything `primary` has logged so far;
    /// panics with its replication status if it doesn't.
    #[track_caller]
    pub fn catch_up_with(&self, primary: &MariaDb) {
        let position = primary.sql("SELECT @@gtid_binlog_pos");
        let reached = self.sql(&format!(
            "SELECT MASTER_GTID_WAIT('{}', 60)",
            position.trim()
        ));
        assert_eq!(
            reached.trim(),
            "0",
            "the replica did not reach {position}: {}",
            self.slave_status()
        );
    }

    /// `SHOW SLAVE STATUS` as `column: value` lines, for failing tests to print.
    pub fn slave_status(&self) -> String {
        let out = self.client().arg("--vertical").run_sql("SHOW SLAVE STATUS");
        out.stdout_str()
    }

    /// `FLUSH BINARY LOGS`: closes the current binlog file and opens the next.
    pub fn flush_binlogs(&self) {
        self.sql("FLUSH BINARY LOGS");
    }

    /// Runs an SQL script (statements on stdin, as a restore runs them), which must succeed.
    #[track_caller]
    pub fn run_script(&self, script: &str) {
        self.client()
            .timeout(Duration::from_secs(600))
            .run_with_stdin(script.as_bytes())
            .assert_success();
    }

    /// `mariadb-binlog ARGS` over all of this server's binlog files.
    pub fn binlog_dump(&self, args: &[&str]) -> Vec<u8> {
        mariadb_binlog(args, &self.binlog_files())
    }

    /// SIGKILLs the server and reaps it (for "target dies mid-stream" tests). Idempotent.
    pub fn kill(&mut self) {
        drop(self.watchdog.take()); // before reaping, so its pid can't be reused meanwhile
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether mariadbd is still running (reaps it if it has exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.kill();
                false
            }
            None => false,
        }
    }

    /// Kills the server if it runs, then starts it again on the same datadir and port (InnoDB
    /// crash recovery after a kill; the binlog continues in a new file). Panics if it can't.
    pub fn restart(&mut self) {
        self.kill();
        match self.spawn_and_wait() {
            Ok(()) => {}
            Err(StartError::PortInUse(log)) => {
                panic!("restart: port {} was taken meanwhile\n{log}", self.port)
            }
            Err(StartError::Failed(msg)) => panic!("restart: {msg}"),
        }
    }

    fn spawn_and_wait(&mut self) -> Result<(), StartError> {
        let dir = self.dir.path();
        let datadir = self.datadir();
        let log_path = self.error_log_path();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open error.log");
        let mut cmd = match &self.opts.netns {
            Some((name, _)) => {
                // `ip netns exec` execs mariadbd itself: the child's pid is the server's.
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", name]).arg(mariadbd_path());
                cmd
            }
            None => Command::new(mariadbd_path()),
        };
        cmd.arg("--no-defaults");
        if running_as_root() {
            cmd.arg("--user=root");
        }
        cmd.arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--bind-address={}", self.host()))
            .arg(format!("--socket={}", self.socket_path().display()))
            .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", log_path.display()))
            .arg(format!("--log-bin={}", datadir.join("binlog").display()))
            .arg(format!("--binlog-format={}", self.opts.binlog_format))
            .arg(format!("--server-id={}", self.opts.server_id))
            .args(INNODB_SIZES)
            .arg(private_tmpdir(dir))
            .args([
                "--innodb-flush-log-at-trx-commit=2",
                "--sync-binlog=0",
                "--skip-name-resolve",
                "--max-allowed-packet=256M",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
            ])
            .args(&self.opts.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup error.log"))
            .stderr(log);
        let child = cmd
            .spawn()
            .map_err(|e| StartError::Failed(format!("spawn mariadbd: {e}")))?;
        self.watchdog = Watchdog::guard(child.id(), dir);
        self.child = Some(child);

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("child just spawned");
            if let Some(status) = child.try_wait().expect("try_wait mariadbd") {
                self.kill();
                let log = tail(&log_path, 40);
                return Err(if log.contains("Address already in use") {
                    StartError::PortInUse(log)
                } else {
                    StartError::Failed(format!(
                        "mariadbd exited during startup ({status}); error log tail:\n{log}"
                    ))
                });
            }
            // mariadbd binds TCP before the socket and exits if TCP fails, so once the socket
            // answers while our child lives, the port is ours; the query over TCP confirms it.
            if UnixStream::connect(self.socket_path()).is_ok()
                && self.admits_root_from_its_network()
                && self.answers_over_tcp()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(StartError::Failed(format!(
                    "mariadbd not ready after {READY_TIMEOUT:?}; error log tail:\n{}",
                    tail(&log_path, 40)
                )));
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// In a namespace, clients come from the link's other end, not from loopback (which the
    /// installed `root@localhost` covers): root may connect from anywhere there.
    fn admits_root_from_its_network(&self) -> bool {
        self.opts.netns.is_none()
            || self
                .client()
                .run_sql(
                    "SET sql_log_bin = 0; CREATE USER IF NOT EXISTS root@'%'; \
                     GRANT ALL PRIVILEGES ON *.* TO root@'%' WITH GRANT OPTION",
                )
                .success()
    }

    /// Whether `select @@socket` over TCP reaches this very server.
    fn answers_over_tcp(&self) -> bool {
        let out = MariadbClient::new()
            .host_port(self.host(), self.port)
            .args(["--batch", "--skip-column-names", "--connect-timeout=2"])
            .timeout(Duration::from_secs(10))
            .run_sql("select @@socket");
        out.success() && out.stdout_str().trim() == self.socket_path().to_string_lossy()
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.kill();
    }
}

fn mariadbd_path() -> &'static str {
    if Path::new("/usr/sbin/mariadbd").exists() {
        "/usr/sbin/mariadbd"
    } else {
        "mariadbd"
    }
}

/// `mariadb-install-db` into `dir/data`, output in `dir/install.log`; panics with it on failure.
/// Each server gets its own tmpdir: concurrent bootstraps sharing /tmp were seen to trip over
/// each other's temporary tables ("Unknown table 'mysql.tmp_user_sys'").
fn private_tmpdir(dir: &Path) -> String {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).expect("create server tmpdir");
    format!("--tmpdir={}", tmp.display())
}

fn install_db(dir: &Path) {
    let log_path = dir.join("install.log");
    let log = File::create(&log_path).expect("create install.log");
    let mut cmd = Command::new("mariadb-install-db");
    cmd.arg("--no-defaults");
    if running_as_root() {
        cmd.arg("--user=root");
    }
    let status = cmd
        .arg(format!("--datadir={}", dir.join("data").display()))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
        .args(INNODB_SIZES)
        .arg(private_tmpdir(dir))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup install.log"))
        .stderr(log)
        .status()
        .expect("spawn mariadb-install-db");
    assert!(
        status.success(),
        "mariadb-install-db failed ({status}):\n{}",
        tail(&log_path, 60)
    );
}
