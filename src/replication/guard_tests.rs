//! The event guard over streams built as a MariaDB primary writes them.

use super::*;
use crate::binlog::ChecksumAlg;
use crate::binlog::checksum::verify_crc32;
use crate::binlog::query::flags2;
use crate::binlog::write;
use crate::policy::RuleConfig;

/// Builds the events of one binlog file, each ending where the next starts.
struct Primary {
    pos: u32,
    checksum: ChecksumAlg,
    seq: u64,
}

impl Primary {
    fn new(checksum: ChecksumAlg) -> Self {
        Primary {
            pos: 4,
            checksum,
            seq: 0,
        }
    }

    fn packet(&mut self, t: EventType, body: &[u8]) -> BytesMut {
        let size = (19 + body.len() + self.checksum.trailer_len()) as u32;
        self.pos += size;
        let event = write::event(t, 1, 1_700_000_000, self.pos, 0, body, self.checksum);
        let mut p = BytesMut::from(&[0u8][..]);
        p.extend_from_slice(&event);
        p
    }

    /// The stream's opening: fake rotate and format description.
    fn start(&mut self) -> Vec<BytesMut> {
        let rotate = write::fake_rotate("binlog.000001", 4, 1, self.checksum);
        let mut first = BytesMut::from(&[0u8][..]);
        first.extend_from_slice(&rotate);
        let mut body = 4u16.to_le_bytes().to_vec();
        let mut version = b"10.11.19-MariaDB-log".to_vec();
        version.resize(50, 0);
        body.extend_from_slice(&version);
        body.extend_from_slice(&0u32.to_le_bytes());
        body.push(19);
        let mut post = vec![0u8; 171];
        for (t, len) in [
            (1, 56),
            (2, 13),
            (4, 8),
            (15, 84),
            (17, 4),
            (18, 26),
            (19, 8),
        ] {
            post[t - 1] = len;
        }
        for t in 23..=25 {
            post[t - 1] = 8;
        }
        for (t, len) in [(162, 19), (163, 4), (161, 4), (165, 13)] {
            post[t - 1] = len;
        }
        body.extend_from_slice(&post);
        body.push(self.checksum.byte());
        // The format description always carries a checksum slot.
        body.extend_from_slice(&[0; 4]);
        self.pos += (19 + body.len()) as u32;
        let mut fd = write::event(
            EventType::FORMAT_DESCRIPTION,
            1,
            0,
            self.pos,
            0,
            &body,
            ChecksumAlg::Off,
        );
        crate::binlog::checksum::seal_crc32(&mut fd);
        let mut second = BytesMut::from(&[0u8][..]);
        second.extend_from_slice(&fd);
        vec![first, second]
    }

    fn gtid(&mut self, standalone: bool) -> BytesMut {
        self.seq += 1;
        let mut body = self.seq.to_le_bytes().to_vec();
        body.extend_from_slice(&0u32.to_le_bytes());
        body.push(if standalone { 1 } else { 0 });
        body.extend_from_slice(&[0; 6]);
        self.packet(EventType::GTID, &body)
    }

    fn query(&mut self, thread: u32, db: &str, fk_checks: bool, text: &str) -> BytesMut {
        let mut status = vec![0];
        let f2 = if fk_checks {
            0
        } else {
            flags2::NO_FOREIGN_KEY_CHECKS
        };
        status.extend_from_slice(&f2.to_le_bytes());
        // sql_mode, catalog and charset, as MariaDB 10.11 writes them.
        status.push(1);
        status.extend_from_slice(&0x5420_0000u64.to_le_bytes());
        status.extend_from_slice(&[6, 3, b's', b't', b'd']);
        status.push(4);
        status.extend_from_slice(&[45, 0, 45, 0, 45, 0]);
        let mut body = thread.to_le_bytes().to_vec();
        body.extend_from_slice(&0u32.to_le_bytes());
        body.push(db.len() as u8);
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(status.len() as u16).to_le_bytes());
        body.extend_from_slice(&status);
        body.extend_from_slice(db.as_bytes());
        body.push(0);
        body.extend_from_slice(text.as_bytes());
        self.packet(EventType::QUERY, &body)
    }

    fn xid(&mut self) -> BytesMut {
        self.packet(EventType::XID, &7u64.to_le_bytes())
    }

    /// A table map of `db.table (id INT)`.
    fn table_map(&mut self, id: u8, db: &str, table: &str) -> BytesMut {
        let mut body = vec![id, 0, 0, 0, 0, 0, 1, 0];
        body.push(db.len() as u8);
        body.extend_from_slice(db.as_bytes());
        body.push(0);
        body.push(table.len() as u8);
        body.extend_from_slice(table.as_bytes());
        body.push(0);
        body.extend_from_slice(&[1, 3, 0, 0]);
        self.packet(EventType::TABLE_MAP, &body)
    }

    /// A delete of `rows` rows of the table mapped to `id`.
    fn delete_rows(&mut self, id: u8, rows: u32) -> BytesMut {
        let mut body = vec![id, 0, 0, 0, 0, 0, 1, 0, 1, 0b1];
        for r in 0..rows {
            body.push(0);
            body.extend_from_slice(&r.to_le_bytes());
        }
        self.packet(EventType::DELETE_ROWS_V1, &body)
    }
}

fn settings() -> GuardSettings {
    GuardSettings {
        hold_bytes: 1 << 20,
        journal: true,
        mariadb_replica: false,
    }
}

fn policy(toml_rules: &str) -> Policy {
    if toml_rules.is_empty() {
        return Policy::from_config(None).unwrap();
    }
    let rules: Vec<RuleConfig> = toml::from_str::<toml::Table>(toml_rules).unwrap()["rule"]
        .clone()
        .try_into()
        .unwrap();
    Policy::from_config(Some(&rules)).unwrap()
}

fn allow_all() -> Policy {
    policy("[[rule]]\nname = \"all\"\naction = \"allow\"\n")
}

/// Feeds every packet; returns what was sent and the last output's halt.
fn run(guard: &mut EventGuard, policy: &Policy, packets: Vec<BytesMut>) -> (Vec<BytesMut>, Output) {
    let mut sent = Vec::new();
    let mut all = Output::default();
    for p in packets {
        let mut out = Output::default();
        guard.feed(p, policy, &mut out);
        sent.append(&mut out.send);
        all.withheld.append(&mut out.withheld);
        all.logged.append(&mut out.logged);
        if out.quarantined_origin.is_some() {
            all.quarantined_origin = out.quarantined_origin;
        }
        if out.halt.is_some() {
            all.halt = out.halt;
        }
    }
    (sent, all)
}

/// The incident: application traffic, then a restore script (thread 9) under
/// foreign_key_checks=0, then more application traffic.
fn incident(p: &mut Primary) -> Vec<BytesMut> {
    let mut s = p.start();
    s.push(p.gtid(false));
    s.push(p.query(4, "shop", true, "INSERT INTO orders VALUES (3)"));
    s.push(p.xid());
    s.push(p.gtid(true));
    s.push(p.query(
        9,
        "shop",
        false,
        "DROP TABLE IF EXISTS `orders` /* generated by server */",
    ));
    s.push(p.gtid(true));
    s.push(p.query(9, "shop", false, "CREATE TABLE `orders` (id INT)"));
    s.push(p.gtid(false));
    s.push(p.query(9, "shop", false, "INSERT INTO `orders` VALUES (1),(2)"));
    s.push(p.xid());
    s.push(p.gtid(false));
    s.push(p.query(4, "shop", true, "INSERT INTO orders VALUES (4)"));
    s.push(p.xid());
    s
}

#[test]
fn with_nothing_withheld_every_event_passes_byte_for_byte() {
    for checksum in [ChecksumAlg::Crc32, ChecksumAlg::Off] {
        let mut p = Primary::new(checksum);
        let stream = incident(&mut p);
        let mut guard = EventGuard::new(settings(), HashMap::new());
        guard.assume_checksum(checksum);
        let (sent, out) = run(&mut guard, &allow_all(), stream.clone());
        assert!(out.halt.is_none(), "{:?}", out.halt);
        assert_eq!(sent, stream, "{checksum:?}");
        assert_eq!(guard.sent().end, u64::from(p.pos));
        assert_eq!(guard.sent().gtid.as_deref(), Some("0-1-5"));
        assert_eq!(guard.sent().file, "binlog.000001");
    }
}

#[test]
fn the_default_policy_halts_before_the_first_drop_and_sends_nothing_of_it() {
    let mut p = Primary::new(ChecksumAlg::Crc32);
    let stream = incident(&mut p);
    let mut guard = EventGuard::new(settings(), HashMap::new());
    guard.assume_checksum(ChecksumAlg::Crc32);
    let (sent, out) = run(&mut guard, &policy(""), stream.clone());
    let halt = out.halt.expect("halted");
    assert_eq!(halt.rule, "destructive-ddl-without-fk-checks");
    assert_eq!(halt.kind, "drop_table");
    assert_eq!(halt.thread_id, Some(9));
    assert_eq!(halt.at.gtid.as_deref(), Some("0-1-2"));
    assert_eq!(halt.at.file, "binlog.000001");
    // Everything up to the first transaction's Xid, not the DROP's GTID event.
    assert_eq!(sent, stream[..5].to_vec());
    let drop_start = halt.at.start.unwrap();
    let gtid_end = EventHeader::parse(&stream[5][1..]).unwrap().log_pos;
    assert_eq!(
        drop_start,
        u64::from(gtid_end),
        "the position is the DROP's `# at`"
    );
    assert!(halt.message().contains("DROP TABLE IF EXISTS `orders`"));
}

#[test]
fn quarantine_origin_replaces_the_script_with_same_size_no_ops_and_applies_the_rest() {
    let mut p = Primary::new(ChecksumAlg::Crc32);
    let stream = incident(&mut p);
    let rules = policy(
        "[[rule]]\nname = \"restore-script\"\nkinds = [\"drop_table\"]\nforeign_key_checks = 0\naction = \"quarantine-origin\"\n",
    );
    let mut guard = EventGuard::new(settings(), HashMap::new());
    guard.assume_checksum(ChecksumAlg::Crc32);
    let (sent, out) = run(&mut guard, &rules, stream.clone());
    assert!(out.halt.is_none(), "{:?}", out.halt);
    assert_eq!(sent.len(), stream.len(), "one event out for each in");
    for (i, (got, original)) in sent.iter().zip(&stream).enumerate() {
        assert_eq!(got.len(), original.len(), "event {i} keeps its size");
        let (g, o) = (
            EventHeader::parse(&got[1..]).unwrap(),
            EventHeader::parse(&original[1..]).unwrap(),
        );
        assert_eq!(g.log_pos, o.log_pos, "event {i} keeps its position");
        verify_crc32(&got[1..]).unwrap();
    }
    // The script's statements (events 6, 8 and 10) became comments; GTIDs, Xids and the
    // application's transactions are untouched.
    for i in [6, 8, 10] {
        assert_ne!(sent[i], stream[i]);
        assert!(
            sent[i][1..].windows(11).any(|w| w == b"replaygate:"),
            "event {i}"
        );
    }
    for i in [0, 1, 2, 3, 4, 5, 7, 9, 11, 12, 13, 14] {
        assert_eq!(sent[i], stream[i], "event {i}");
    }
    assert_eq!(out.quarantined_origin, Some((9, "restore-script".into())));
    let kinds: Vec<_> = out.withheld.iter().map(|w| w.kind.as_str()).collect();
    assert_eq!(kinds, ["drop_table", "create_table", "insert"]);
    assert!(out.withheld.iter().all(|w| w.thread_id == Some(9)));
    assert_eq!(out.withheld[0].database.as_deref(), Some("shop"));
    assert!(!out.withheld[0].foreign_key_checks);
    assert_eq!(
        guard.quarantined_origins().get(&9).map(String::as_str),
        Some("restore-script")
    );
}

#[test]
fn an_origin_quarantined_on_an_earlier_connection_stays_quarantined() {
    let mut p = Primary::new(ChecksumAlg::Off);
    let mut stream = p.start();
    stream.push(p.gtid(false));
    stream.push(p.query(9, "shop", true, "INSERT INTO t VALUES (1)"));
    stream.push(p.xid());
    let mut guard = EventGuard::new(settings(), HashMap::from([(9, "earlier".to_owned())]));
    let (sent, out) = run(&mut guard, &allow_all(), stream.clone());
    assert_ne!(sent[3], stream[3]);
    assert_eq!(out.withheld.len(), 1);
    assert_eq!(out.withheld[0].rule, "earlier");
}

#[test]
fn a_mass_delete_in_row_events_matches_rows_deleted_over() {
    let rules =
        policy("[[rule]]\nname = \"mass-delete\"\nrows_deleted_over = 5\naction = \"halt\"\n");
    let mut p = Primary::new(ChecksumAlg::Crc32);
    let mut stream = p.start();
    stream.push(p.gtid(false));
    stream.push(p.table_map(38, "shop", "orders"));
    stream.push(p.delete_rows(38, 3));
    stream.push(p.xid());
    stream.push(p.gtid(false));
    stream.push(p.table_map(38, "shop", "orders"));
    stream.push(p.delete_rows(38, 4));
    stream.push(p.delete_rows(38, 4));
    stream.push(p.xid());
    let mut guard = EventGuard::new(settings(), HashMap::new());
    guard.assume_checksum(ChecksumAlg::Crc32);
    let (sent, out) = run(&mut guard, &rules, stream.clone());
    assert_eq!(sent, stream[..6].to_vec(), "the 3-row delete passes");
    let halt = out.halt.expect("the 8-row delete halts");
    assert_eq!(halt.rule, "mass-delete");
    assert!(
        halt.statement.contains("8 rows deleted from shop.orders"),
        "{}",
        halt.statement
    );
}

#[test]
fn a_wrong_checksum_halts_and_the_event_is_not_sent() {
    let mut p = Primary::new(ChecksumAlg::Crc32);
    let mut stream = incident(&mut p);
    let last = stream.len() - 2;
    let n = stream[last].len();
    stream[last][n - 6] ^= 0x01;
    let mut guard = EventGuard::new(settings(), HashMap::new());
    guard.assume_checksum(ChecksumAlg::Crc32);
    let (sent, out) = run(&mut guard, &allow_all(), stream.clone());
    let halt = out.halt.expect("halted");
    assert_eq!(halt.rule, "event checksum");
    assert!(
        halt.why.as_deref().unwrap().contains("checksum mismatch"),
        "{halt:?}"
    );
    assert_eq!(sent.len(), last - 1, "nothing of the damaged transaction");
}

#[test]
fn rewrite_turns_the_drop_into_a_rename_of_the_same_size() {
    let mut p = Primary::new(ChecksumAlg::Crc32);
    let stream = incident(&mut p);
    let mut guard = EventGuard::new(settings(), HashMap::new());
    guard.assume_checksum(ChecksumAlg::Crc32);
    let mut rules = policy("");
    rules.set_destructive_action(Action::Rewrite);
    let (sent, out) = run(&mut guard, &rules, stream.clone());
    assert!(out.halt.is_none(), "{:?}", out.halt);
    assert_eq!(sent[6].len(), stream[6].len());
    let event = Event::parse(&sent[6][1..], ChecksumAlg::Crc32).unwrap();
    event.verify_checksum().unwrap();
    let format = FormatDescription::assumed_v4(ChecksumAlg::Crc32);
    let EventData::Query(q) = event.decode(&format).unwrap() else {
        panic!("a query");
    };
    let start = EventHeader::parse(&stream[6][1..])
        .unwrap()
        .start_position()
        .unwrap();
    let expected =
        format!("RENAME TABLE IF EXISTS `orders` TO `_replaygate_dropped_orders_{start}`");
    assert_eq!(std::str::from_utf8(&q.query).unwrap().trim_end(), expected);
    assert_eq!(q.database, b"shop", "runs in the event's database");
    // The CREATE TABLE after it is not destructive: sent as it was.
    assert_eq!(sent[8], stream[8]);
}

#[test]
fn without_a_journal_or_within_an_oversized_transaction_a_quarantine_halts() {
    let rules = policy("[[rule]]\nname = \"q\"\nkinds = [\"insert\"]\naction = \"quarantine\"\n");
    let mut p = Primary::new(ChecksumAlg::Off);
    let mut stream = p.start();
    stream.push(p.gtid(false));
    stream.push(p.query(4, "shop", true, "INSERT INTO t VALUES (1)"));
    stream.push(p.xid());
    let mut no_journal = EventGuard::new(
        GuardSettings {
            journal: false,
            ..settings()
        },
        HashMap::new(),
    );
    let (_, out) = run(&mut no_journal, &rules, stream.clone());
    assert!(out.halt.unwrap().why.unwrap().contains("no journal"));

    let mut p = Primary::new(ChecksumAlg::Off);
    let mut stream = p.start();
    stream.push(p.gtid(false));
    stream.push(p.query(
        4,
        "shop",
        true,
        &format!("UPDATE t SET v = '{}'", "x".repeat(300)),
    ));
    stream.push(p.query(4, "shop", true, "INSERT INTO t VALUES (1)"));
    stream.push(p.xid());
    let mut small_hold = EventGuard::new(
        GuardSettings {
            hold_bytes: 100,
            ..settings()
        },
        HashMap::new(),
    );
    let (sent, out) = run(&mut small_hold, &rules, stream.clone());
    let halt = out.halt.expect("halted");
    assert!(halt.why.unwrap().contains("hold_bytes"));
    assert_eq!(
        sent,
        stream[..4].to_vec(),
        "the big UPDATE went ahead, nothing after it"
    );
}
