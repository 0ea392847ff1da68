//! Every shape of server response, fed packet by packet.

use super::*;

const MORE: u16 = 0x0008;
const AUTOCOMMIT: u16 = 0x0002;

fn ok(status: u16) -> Vec<u8> {
    let mut p = vec![0x00, 0, 0];
    p.extend_from_slice(&status.to_le_bytes());
    p.extend_from_slice(&0u16.to_le_bytes());
    p
}

fn eof(status: u16) -> Vec<u8> {
    let mut p = vec![0xfe, 0, 0];
    p.extend_from_slice(&status.to_le_bytes());
    p
}

fn ok_eof(status: u16) -> Vec<u8> {
    let mut p = ok(status);
    p[0] = 0xfe;
    p
}

fn err(code: u16, msg: &str) -> Vec<u8> {
    let mut p = vec![0xff];
    p.extend_from_slice(&code.to_le_bytes());
    p.extend_from_slice(b"#42S02");
    p.extend_from_slice(msg.as_bytes());
    p
}

fn caps(deprecate_eof: bool) -> CapabilityFlags {
    let mut c = CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::CLIENT_TRANSACTIONS;
    if deprecate_eof {
        c |= CapabilityFlags::CLIENT_DEPRECATE_EOF;
    }
    c
}

fn run(shape: ReplyShape, deprecate_eof: bool, packets: &[Vec<u8>]) -> (Vec<Step>, Outcome) {
    let mut t = ResponseTracker::new(shape, caps(deprecate_eof));
    let mut steps = Vec::new();
    for p in packets {
        steps.push(t.feed(p).unwrap());
    }
    match steps.last() {
        Some(Step::Done(o)) => {
            let o = o.clone();
            (steps, o)
        }
        other => panic!("response did not finish: {other:?}"),
    }
}

#[test]
fn ok_ends_a_query() {
    let (steps, outcome) = run(ReplyShape::ResultSets, false, &[ok(AUTOCOMMIT)]);
    assert_eq!(steps.len(), 1);
    assert_eq!(outcome.succeeded, 1);
    assert!(outcome.error.is_none());
    assert!(
        outcome
            .status
            .unwrap()
            .contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT)
    );
}

#[test]
fn err_ends_a_query_with_the_server_error() {
    let (_, outcome) = run(ReplyShape::ResultSets, false, &[err(1146, "no such table")]);
    let e = outcome.error.unwrap();
    assert_eq!(
        (e.code, e.sql_state.as_str(), e.message.as_str()),
        (1146, "42S02", "no such table")
    );
    assert_eq!(outcome.succeeded, 0);
}

#[test]
fn classic_result_set_ends_after_the_second_eof() {
    let packets = [
        vec![2],
        b"coldef1".to_vec(),
        b"coldef2".to_vec(),
        eof(0),
        b"\x01a\x01b".to_vec(),
        eof(AUTOCOMMIT),
    ];
    let (steps, outcome) = run(ReplyShape::ResultSets, false, &packets);
    assert!(steps[..4].iter().all(|s| *s == Step::More));
    assert_eq!(steps[4], Step::Row);
    assert_eq!(outcome.succeeded, 1);
}

#[test]
fn deprecate_eof_result_set_ends_at_the_ok_terminator() {
    let packets = [
        vec![1],
        b"coldef".to_vec(),
        b"\x01a".to_vec(),
        ok_eof(AUTOCOMMIT),
    ];
    let (steps, outcome) = run(ReplyShape::ResultSets, true, &packets);
    assert_eq!(steps.len(), 4);
    assert_eq!(outcome.succeeded, 1);
}

#[test]
fn a_row_starting_with_0xfe_is_not_a_terminator() {
    // A row whose first column is a string of 2^24 bytes or more starts with 0xfe.
    let mut big_row = vec![0xfe];
    big_row.extend_from_slice(&(1u64 << 24).to_le_bytes());
    big_row.resize(9 + 40, b'x');
    let packets = [vec![1], b"coldef".to_vec(), eof(0), big_row, eof(0)];
    let (steps, _) = run(ReplyShape::ResultSets, false, &packets);
    assert_eq!(steps[3], Step::Row);
}

#[test]
fn multiple_results_follow_more_results_exists() {
    let packets = [
        ok(MORE),
        vec![1],
        b"coldef".to_vec(),
        eof(0),
        b"\x011".to_vec(),
        eof(MORE),
        ok(0),
    ];
    let (steps, outcome) = run(ReplyShape::ResultSets, false, &packets);
    assert_eq!(steps[0], Step::More);
    assert_eq!(outcome.succeeded, 3);
}

#[test]
fn error_in_second_statement_reports_one_success() {
    let (_, outcome) = run(
        ReplyShape::ResultSets,
        true,
        &[ok(MORE), err(1064, "syntax")],
    );
    assert_eq!(outcome.succeeded, 1);
    assert_eq!(outcome.error.unwrap().code, 1064);
}

#[test]
fn local_infile_hands_the_turn_to_the_client() {
    let mut t = ResponseTracker::new(ReplyShape::ResultSets, caps(true));
    assert_eq!(t.feed(b"\xfb/tmp/data.csv").unwrap(), Step::LocalInfile);
    assert!(matches!(t.feed(&ok(0)).unwrap(), Step::Done(o) if o.succeeded == 1));
}

#[test]
fn progress_reports_are_not_errors() {
    let mut progress = vec![0xff, 0xff, 0xff, 1, 1, 2];
    progress.extend_from_slice(&[0, 0, 0, 0]);
    let (steps, outcome) = run(ReplyShape::ResultSets, false, &[progress, ok(0)]);
    assert_eq!(steps[0], Step::More);
    assert!(outcome.error.is_none());
}

#[test]
fn prepare_with_params_and_columns() {
    // [00] stmt_id=1 columns=2 params=1 filler warnings
    let prepare_ok = vec![0, 1, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0];
    let classic = [
        prepare_ok.clone(),
        b"param".to_vec(),
        eof(0),
        b"col1".to_vec(),
        b"col2".to_vec(),
        eof(0),
    ];
    let (steps, _) = run(ReplyShape::Prepare, false, &classic);
    assert_eq!(steps.len(), 6);
    let modern = [
        prepare_ok,
        b"param".to_vec(),
        b"col1".to_vec(),
        b"col2".to_vec(),
    ];
    let (steps, _) = run(ReplyShape::Prepare, true, &modern);
    assert_eq!(steps.len(), 4);
}

#[test]
fn prepare_without_params_or_columns_is_one_packet() {
    let (steps, _) = run(
        ReplyShape::Prepare,
        false,
        &[vec![0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
    );
    assert_eq!(steps.len(), 1);
}

#[test]
fn cursor_execute_ends_after_column_definitions() {
    const CURSOR: u16 = 0x0040;
    let (steps, _) = run(
        ReplyShape::ResultSets,
        false,
        &[vec![1], b"col".to_vec(), eof(CURSOR)],
    );
    assert_eq!(steps.len(), 3);
}

#[test]
fn field_list_and_fetch_end_at_eof() {
    let (steps, _) = run(
        ReplyShape::FieldList,
        false,
        &[b"f1".to_vec(), b"f2".to_vec(), eof(0)],
    );
    assert_eq!(steps.len(), 3);
    let (steps, _) = run(ReplyShape::Rows, true, &[b"\x00\x00r".to_vec(), ok_eof(0)]);
    assert_eq!(steps.len(), 2);
}

#[test]
fn single_packet_replies() {
    let (_, o) = run(
        ReplyShape::Single,
        false,
        &[b"Uptime: 5  Threads: 1".to_vec()],
    );
    assert_eq!(o.succeeded, 1);
    let (_, o) = run(ReplyShape::Single, false, &[eof(0)]);
    assert!(o.status.is_some());
}

#[test]
fn malformed_packets_are_errors_not_panics() {
    let mut t = ResponseTracker::new(ReplyShape::ResultSets, caps(false));
    assert!(t.feed(&[]).is_err());
    let mut t = ResponseTracker::new(ReplyShape::ResultSets, caps(false));
    assert!(t.feed(&[0xff]).is_err());
    let mut t = ResponseTracker::new(ReplyShape::Prepare, caps(false));
    assert!(t.feed(&[0, 1]).is_err());
}
