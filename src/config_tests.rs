//! Unit tests of the configuration: file parsing, overrides, validation.

use super::*;

#[test]
fn the_shipped_example_parses_and_resolves() {
    let text = include_str!("../config/replaygate.toml");
    let file = ConfigFile::parse(text).expect("config/replaygate.toml parses");
    let settings = file.resolve(Overrides::default()).expect("and validates");
    assert_eq!(settings.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(settings.charset.mode, CharsetMode::Pin);
    assert_eq!(settings.charset.default, "utf8mb4");
    assert_eq!(settings.caps, Caps::default());
    assert_eq!(settings.admin, None);
    assert_eq!(settings.progress_interval, Some(Duration::from_secs(5)));
}

#[test]
fn the_shipped_adaptive_example_parses_when_uncommented() {
    // The section is commented out in the example (it needs an account); uncomment its keys
    // and check every documented one is known and valid.
    let text = include_str!("../config/replaygate.toml");
    let start = text.find("# [throttle.adaptive]").expect("documented");
    let end = start
        + text[start..]
            .find("\n[admin]")
            .expect("followed by [admin]");
    let mut keys = 0;
    let section: String = text[start..end]
        .lines()
        .filter_map(|l| {
            let l = l.strip_prefix("# ")?;
            let is_key = l.starts_with('[')
                || l.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                });
            keys += usize::from(is_key && !l.starts_with('['));
            is_key.then(|| format!("{l}\n"))
        })
        .collect();
    assert_eq!(keys, 12, "every key of AdaptiveSection: {section}");
    let file = ConfigFile::parse(&section).expect("the adaptive example parses");
    let mut adaptive = file.throttle.adaptive.expect("section present");
    assert_eq!(
        adaptive.password_env.as_deref(),
        Some("REPLAYGATE_MONITOR_PASSWORD")
    );
    adaptive.password_env = None;
    // The example documents the keys of every signal; each signal reads only its own.
    assert_eq!(
        adaptive.signal,
        Some(crate::adaptive::Signal::ThreadsRunning)
    );
    let (query, replicas) = (adaptive.query.take(), adaptive.replicas.take());
    let s = adaptive.clone().resolve().expect("and validates");
    assert_eq!(s.user, "replaygate_monitor");
    assert_eq!(s.interval, Duration::from_secs(1));
    assert_eq!(s.limits.max_load, 25.0);
    assert_eq!(s.limits.critical_load, 50.0);
    let with_query = crate::adaptive::AdaptiveSection {
        signal: Some(crate::adaptive::Signal::Query),
        query,
        ..adaptive.clone()
    };
    with_query.resolve().expect("the query example validates");
    let with_replicas = crate::adaptive::AdaptiveSection {
        signal: Some(crate::adaptive::Signal::ReplicaLag),
        replicas,
        ..adaptive
    };
    let s = with_replicas
        .resolve()
        .expect("the replica_lag example validates");
    assert_eq!(
        s.replicas,
        [
            Target::Tcp("replica1.example:3306".into()),
            Target::Unix("/run/mysqld/replica2.sock".into())
        ]
    );
}

#[test]
fn throttle_and_admin_come_from_the_file_and_the_command_line() {
    let file = ConfigFile::parse(
        "[throttle]\nmax_statements_per_sec = 10\nmax_bytes_per_sec = 1000\n\
         [admin]\nlisten = \"9400\"\n[log]\nprogress_secs = 0\n",
    )
    .unwrap();
    let s = file
        .resolve(Overrides {
            max_statements_per_sec: Some(20),
            max_transactions_per_sec: Some(3),
            ..Overrides::default()
        })
        .unwrap();
    assert_eq!(
        s.caps,
        Caps {
            statements_per_sec: 20,
            bytes_per_sec: 1000,
            transactions_per_sec: 3
        }
    );
    assert_eq!(s.admin, Some("127.0.0.1:9400".parse().unwrap()));
    assert_eq!(s.progress_interval, None);
    assert!(parse_admin("nowhere").is_err());
}

#[test]
fn defaults_listen_on_loopback_and_pin_utf8mb4() {
    let s = ConfigFile::default().resolve(Overrides::default()).unwrap();
    assert!(s.listen.ip().is_loopback());
    assert_eq!(s.target, Target::Tcp("127.0.0.1:3306".into()));
    assert_eq!(s.charset.mode, CharsetMode::Pin);
    assert!(s.charset.validate);
    assert_eq!((s.socket, s.busy_poll), (None, Duration::ZERO));
}

#[test]
fn socket_and_busy_poll_come_from_either_place_and_the_poll_is_capped() {
    let file =
        ConfigFile::parse("[proxy]\nsocket = \"/run/rg.sock\"\nbusy_poll_us = 50\n").unwrap();
    let s = file.resolve(Overrides::default()).unwrap();
    assert_eq!(s.socket, Some(PathBuf::from("/run/rg.sock")));
    assert_eq!(s.busy_poll, Duration::from_micros(50));
    let s = ConfigFile::default()
        .resolve(Overrides {
            busy_poll_us: Some(1_000_000),
            ..Overrides::default()
        })
        .unwrap();
    assert_eq!(s.busy_poll, Duration::from_micros(MAX_BUSY_POLL_US));
}

#[test]
fn command_line_overrides_the_file() {
    let file =
        ConfigFile::parse("[proxy]\ntarget = \"db:3306\"\n[charset]\nmode = \"pin\"\n").unwrap();
    let s = file
        .resolve(Overrides {
            target: Some("/run/mysqld/mysqld.sock".into()),
            charset_mode: Some(CharsetMode::Honor),
            ..Overrides::default()
        })
        .unwrap();
    assert_eq!(s.target, Target::Unix("/run/mysqld/mysqld.sock".into()));
    assert_eq!(s.charset.mode, CharsetMode::Honor);
}

#[test]
fn bad_values_are_named() {
    let err = ConfigFile::default()
        .resolve(Overrides {
            target: Some("nohost".into()),
            ..Overrides::default()
        })
        .unwrap_err();
    assert!(err.to_string().contains("proxy.target"), "{err}");
    let err = ConfigFile::default()
        .resolve(Overrides {
            charset: Some("utf8mb4; DROP".into()),
            ..Overrides::default()
        })
        .unwrap_err();
    assert!(err.to_string().contains("charset.default"), "{err}");
    let err = ConfigFile::default()
        .resolve(Overrides {
            collation: Some("latin1_swedish_ci".into()),
            ..Overrides::default()
        })
        .unwrap_err();
    assert!(err.to_string().contains("belong"), "{err}");
    assert!(
        ConfigFile::parse("[proxy]\nlisten_on = 1\n").is_err(),
        "unknown keys are refused"
    );
}

#[test]
fn targets_are_host_port_or_socket_paths_and_a_bad_one_says_how_to_write_it() {
    let unix = |p: &str| Ok(Target::Unix(p.into()));
    assert_eq!("./mysqld.sock".parse(), unix("./mysqld.sock"));
    assert_eq!("db.sock".parse(), unix("db.sock"));
    assert_eq!("run/mysqld.sock".parse(), unix("run/mysqld.sock"));
    assert_eq!("unix:mysqld".parse(), unix("mysqld"));
    assert_eq!("db:3306".parse(), Ok(Target::Tcp("db:3306".into())));
    assert_eq!("[::1]:3306".parse(), Ok(Target::Tcp("[::1]:3306".into())));
    for bad in ["db", "db:", ":3306", "db:port"] {
        let err = bad.parse::<Target>().unwrap_err().to_string();
        assert!(
            err.contains("./mysqld.sock") && err.contains("unix:"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn the_tls_section_is_read_and_an_unverifiable_target_leg_is_refused() {
    let file = ConfigFile::parse("[tls]\ntarget = \"required\"\n").unwrap();
    let err = file.resolve(Overrides::default()).unwrap_err().to_string();
    assert!(
        err.starts_with("tls: ") && err.contains("--target-ca"),
        "{err}"
    );
    let file = ConfigFile::parse("[tls]\ntarget = \"sometimes\"\n");
    assert!(file.is_err(), "only disabled, preferred and required");
    let settings = ConfigFile::parse("[tls]\ntarget = \"disabled\"\n")
        .unwrap()
        .resolve(Overrides::default())
        .unwrap();
    assert!(settings.tls.client.is_none() && settings.tls.target.is_none());
}

#[test]
fn a_silent_target_is_given_up_on_after_30_seconds_unless_told_otherwise() {
    let resolve = |text: &str, cli: Option<u64>| {
        let overrides = Overrides {
            target_dead_after_secs: cli,
            ..Overrides::default()
        };
        ConfigFile::parse(text)
            .unwrap()
            .resolve(overrides)
            .unwrap()
            .target_dead_after
    };
    assert_eq!(resolve("", None), Some(Duration::from_secs(30)));
    let file = "[proxy]\ntarget_dead_after_secs = 5\n";
    assert_eq!(resolve(file, None), Some(Duration::from_secs(5)));
    assert_eq!(resolve(file, Some(12)), Some(Duration::from_secs(12)));
    // 0: the kernel's own limits.
    assert_eq!(resolve(file, Some(0)), None);
}

#[test]
fn replies_are_waited_for_as_long_as_they_take_unless_a_limit_is_set() {
    let resolve = |cli: Option<u64>| {
        let overrides = Overrides {
            reply_timeout_secs: cli,
            ..Overrides::default()
        };
        ConfigFile::parse("[proxy]\nreply_timeout_secs = 600\n")
            .unwrap()
            .resolve(overrides)
            .unwrap()
            .reply_timeout
    };
    assert_eq!(resolve(None), Some(Duration::from_secs(600)));
    assert_eq!(resolve(Some(5)), Some(Duration::from_secs(5)));
    assert_eq!(resolve(Some(0)), None);
    let default = ConfigFile::parse("").unwrap();
    assert_eq!(
        default.resolve(Overrides::default()).unwrap().reply_timeout,
        None
    );
}
