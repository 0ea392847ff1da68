//! Unit tests of the throttle: caps, pause and the adaptive controls, on tokio's paused clock.

use super::*;

fn one_statement() -> Cost {
    Cost {
        statements: 1,
        bytes: 100,
        transactions: 1,
    }
}

/// How long `n` one-statement admissions take, one after the other.
async fn admit_statements(t: &Throttle, n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        t.admit(one_statement()).await.unwrap();
    }
    start.elapsed()
}

#[test]
fn transactions_are_commits_and_autocommit_work() {
    use StatementKind::*;
    let count = |kinds: &[StatementKind], mut in_tx: bool| {
        kinds
            .iter()
            .filter(|k| ends_transaction(**k, &mut in_tx))
            .count()
    };
    assert_eq!(count(&[Insert, Update, CreateTable], false), 3);
    assert_eq!(
        count(&[SetSession, Use, Begin, Insert, Insert, Commit], false),
        1
    );
    assert_eq!(count(&[Begin, Insert, Rollback, Insert], false), 1);
    assert_eq!(count(&[Insert, Commit], true), 1, "inside a transaction");
}

#[tokio::test(start_paused = true)]
async fn no_caps_never_wait() {
    let t = Throttle::new(Caps::default());
    assert_eq!(admit_statements(&t, 1000).await, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn ten_statements_per_second_spreads_100_statements_over_about_ten_seconds() {
    let t = Throttle::new(Caps {
        statements_per_sec: 10,
        ..Caps::default()
    });
    let took = admit_statements(&t, 100).await;
    assert!(
        took >= Duration::from_secs(9) && took <= Duration::from_secs(10),
        "{took:?}"
    );
    assert!(t.status().throttled_secs >= 9.0);
}

/// A session that loses time between its turns (a round trip per statement, a late wake-up
/// now and then) still gets the rate the cap names: the lost time is made good from the
/// catch-up credit instead of lowering the rate.
#[tokio::test(start_paused = true)]
async fn time_lost_between_turns_does_not_lower_the_rate() {
    let t = Throttle::new(Caps {
        statements_per_sec: 1000,
        ..Caps::default()
    });
    let start = Instant::now();
    for i in 0..2000 {
        t.admit(one_statement()).await.unwrap();
        if i % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(4)).await;
        }
    }
    let took = start.elapsed();
    // 2000 at 1000/s is 2 s. Without credit, each 4 ms stall would cost 3 ms on top: 2.6 s.
    assert!(
        took >= Duration::from_millis(1950) && took <= Duration::from_millis(2100),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn bytes_and_transactions_caps_hold() {
    let t = Throttle::new(Caps {
        bytes_per_sec: 1000,
        ..Caps::default()
    });
    // 10,000 bytes at 1000/s: about ten seconds (a burst of 50 bytes, then the rate).
    let took = admit_statements(&t, 100).await;
    assert!(
        took >= Duration::from_secs(8) && took <= Duration::from_secs(10),
        "{took:?}"
    );

    // One statement larger than the bucket passes, at the average rate.
    let start = Instant::now();
    t.admit(Cost {
        bytes: 5000,
        ..Cost::default()
    })
    .await
    .unwrap();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took <= Duration::from_secs(6),
        "{took:?}"
    );

    let t = Throttle::new(Caps {
        transactions_per_sec: 5,
        ..Caps::default()
    });
    let took = admit_statements(&t, 50).await;
    assert!(
        took >= Duration::from_secs(9) && took <= Duration::from_secs(10),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cap_changed_at_runtime_takes_effect_even_for_a_waiting_session() {
    let t = Arc::new(Throttle::new(Caps {
        statements_per_sec: 1,
        ..Caps::default()
    }));
    t.admit(one_statement()).await.unwrap();
    // The next statement would wait a second; raising the cap lets it through at once.
    let waiter = tokio::spawn({
        let t = Arc::clone(&t);
        async move { t.admit(one_statement()).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    t.set_caps(CapsUpdate {
        statements_per_sec: Some(1000),
        ..CapsUpdate::default()
    });
    let waited = waiter.await.unwrap();
    assert!(waited < Duration::from_millis(100), "{waited:?}");

    let took = admit_statements(&t, 1000).await;
    assert!(took <= Duration::from_millis(1100), "{took:?}");

    // 0 removes the cap.
    t.set_caps(CapsUpdate {
        statements_per_sec: Some(0),
        ..CapsUpdate::default()
    });
    assert_eq!(admit_statements(&t, 1000).await, Duration::ZERO);
    assert_eq!(t.caps(), Caps::default());
}

#[tokio::test(start_paused = true)]
async fn a_paused_replay_waits_until_resumed() {
    let t = Arc::new(Throttle::new(Caps::default()));
    assert!(t.pause());
    assert!(!t.pause(), "pausing twice changes nothing");
    let waiter = tokio::spawn({
        let t = Arc::clone(&t);
        async move { t.admit(one_statement()).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!waiter.is_finished());
    assert!(t.status().paused_for_secs.unwrap() >= 60.0);
    assert!(t.resume());
    let waited = waiter.await.unwrap();
    assert!(waited >= Duration::from_secs(60), "{waited:?}");
    assert!(!t.is_paused());
    assert!(t.status().paused_for_secs.is_none());
}

#[tokio::test(start_paused = true)]
async fn the_adaptive_cap_only_lowers_the_operator_cap_and_its_pause_is_separate() {
    assert_eq!(combine_caps(0, 0), 0);
    assert_eq!(combine_caps(100, 0), 100);
    assert_eq!(combine_caps(0, 40), 40);
    assert_eq!(
        combine_caps(100, 400),
        100,
        "never above the operator's cap"
    );
    let t = Arc::new(Throttle::new(Caps {
        statements_per_sec: 10,
        ..Caps::default()
    }));
    t.set_adaptive_cap(1000);
    assert!(
        admit_statements(&t, 20).await >= Duration::from_secs(1),
        "still 10/s"
    );
    assert_eq!(t.caps().statements_per_sec, 10, "operator caps unchanged");
    t.set_caps(CapsUpdate {
        statements_per_sec: Some(0),
        ..CapsUpdate::default()
    });
    t.set_adaptive_cap(5);
    // A burst of 2 (the catch-up credit), then 10 more at 5/s.
    assert!(
        admit_statements(&t, 12).await >= Duration::from_secs(2),
        "adaptive 5/s"
    );
    t.set_adaptive_cap(0);
    assert_eq!(t.admitted_statements(), 32);

    // An adaptive pause holds sessions; an operator's resume does not lift it.
    t.set_adaptive_pause(true);
    assert!(!t.resume());
    let waiter = tokio::spawn({
        let t = Arc::clone(&t);
        async move { t.admit(one_statement()).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!waiter.is_finished());
    t.set_adaptive_pause(false);
    assert!(waiter.await.unwrap() >= Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn an_abort_refuses_waiting_and_later_admissions_for_good() {
    let t = Arc::new(Throttle::new(Caps::default()));
    t.set_adaptive_pause(true);
    let waiter = tokio::spawn({
        let t = Arc::clone(&t);
        async move { t.admit(one_statement()).await }
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!waiter.is_finished(), "paused");
    let abort = Abort::new("query", 9.0, 6.0);
    assert!(t.abort(abort.clone()));
    assert_eq!(
        waiter.await.unwrap(),
        Err(abort.clone()),
        "a session waiting in the pause is woken and refused"
    );
    assert!(
        !t.abort(Abort::new("query", 20.0, 6.0)),
        "the first reason stays"
    );
    // Nothing lifts it: not the end of the adaptive pause, not an operator's resume, not caps.
    t.set_adaptive_pause(false);
    t.resume();
    assert_eq!(t.admit(one_statement()).await, Err(abort.clone()));
    assert_eq!(t.status().aborted, Some(abort.clone()));
    assert!(
        abort.reason
            == "adaptive load signal query = 9 reached critical_load 6 (on_critical = \"abort\")",
        "{}",
        abort.reason
    );
}
