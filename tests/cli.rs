//! The binary's edges: offline config checking, clear errors and exit codes.

use std::process::Command;

fn replaygate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_replaygate"))
        .args(args)
        .output()
        .expect("run replaygate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_accepts_the_shipped_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/replaygate.toml");
    let (code, stdout, _) = replaygate(&[
        "check-config",
        "--config",
        example,
        "--target",
        "/run/mysqld/mysqld.sock",
    ]);
    assert_eq!(code, 0);
    assert!(stdout.contains("configuration is valid"), "{stdout}");
    assert!(
        stdout.contains("mysqld.sock"),
        "flags override the file: {stdout}"
    );
}

#[test]
fn bad_settings_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[charset]\nmode = \"sometimes\"\n").unwrap();
    let (code, _, stderr) = replaygate(&["check-config", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("replaygate: error:") && stderr.contains("bad.toml"),
        "{stderr}"
    );

    let (code, _, stderr) = replaygate(&["check-config", "--listen", "everywhere"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("proxy.listen"), "{stderr}");

    let lag = dir.path().join("lag.toml");
    std::fs::write(
        &lag,
        "[throttle.adaptive]\nuser = \"m\"\nmax_load = 5\nsignal = \"replica_lag\"\n",
    )
    .unwrap();
    let (code, _, stderr) = replaygate(&["check-config", "--config", lag.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("throttle.adaptive.replicas (signal = \"replica_lag\") is required"),
        "{stderr}"
    );

    let (code, _, stderr) =
        replaygate(&["check-config", "--config", "/nonexistent/replaygate.toml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read config file"), "{stderr}");
    // The cause is said once, not once by the error and again by the chain.
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn a_busy_listen_port_is_a_clear_error() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let (code, _, stderr) = replaygate(&["serve", "--listen", &addr, "--target", "127.0.0.1:1"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("in use"),
        "the cause is printed too: {stderr}"
    );
}

#[test]
fn check_config_never_prints_the_control_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rg.toml");
    std::fs::write(
        &path,
        "[throttle.adaptive]\nuser = \"monitor\"\npassword = \"s3cret-pw\"\nmax_load = 10\n",
    )
    .unwrap();
    let (code, stdout, stderr) = replaygate(&["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("monitor"),
        "the settings are printed: {stdout}"
    );
    assert!(
        !stdout.contains("s3cret-pw") && !stderr.contains("s3cret-pw"),
        "{stdout}"
    );
    assert!(stdout.contains("<hidden>"), "{stdout}");
}
