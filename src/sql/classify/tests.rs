//! Unit tests of the classifier that do not fit the golden files: kind names, non-UTF-8
//! text, target-dependent versioned comments, and random input.

use super::*;
use crate::random_input::XorShift;

fn class(stmt: &[u8]) -> Classification {
    classify(stmt, &LexOptions::default())
}

#[test]
fn kind_names_round_trip_and_match_serde() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Wrapper {
        kind: StatementKind,
    }
    assert_eq!(StatementKind::all().count(), KIND_NAMES.len());
    for kind in StatementKind::all() {
        let name = kind.as_str();
        assert_eq!(StatementKind::parse(name), Some(kind));
        assert_eq!(kind.to_string(), name);
        let written = toml::to_string(&Wrapper { kind }).unwrap();
        assert_eq!(written.trim(), format!("kind = \"{name}\""));
        let read: Wrapper = toml::from_str(&written).unwrap();
        assert_eq!(read.kind, kind);
    }
    assert_eq!(StatementKind::parse("DropTable"), None);
    assert_eq!(StatementKind::parse(""), None);
    assert!(StatementKind::DropOther.is_ddl() && StatementKind::AlterTable.is_ddl());
    assert!(!StatementKind::Grant.is_ddl() && !StatementKind::Insert.is_ddl());
}

#[test]
fn non_utf8_statements_fall_back_to_tokens() {
    let c = class(b"DROP TABLE `caf\xe9`, t2");
    assert_eq!(c.kind, StatementKind::DropTable);
    assert!(c.destructive);
    assert_eq!(c.objects[0].name, "caf\u{fffd}");
    assert_eq!(c.objects[1].name, "t2");

    let c = class(b"DROP \xff\xfe");
    assert_eq!(c.kind, StatementKind::Unparsable);
    assert!(c.destructive);

    let c = class(b"DELETE FROM t WHERE name = '\xe9t\xe9'");
    assert_eq!(c.kind, StatementKind::Delete);
    let c = class(b"UPDATE t SET name = '\xe9t\xe9'");
    assert_eq!(c.kind, StatementKind::UpdateWithoutWhere);
    assert!(c.destructive);
    let c = class(b"INSERT INTO t VALUES (_binary'\x00\xff\xfe')");
    assert_eq!(c.kind, StatementKind::Insert);
    let c = class(b"ALTER TABLE t DROP COLUMN `\xff`");
    assert_eq!(c.kind, StatementKind::AlterTableDrop);
}

#[test]
fn versioned_comments_follow_the_target() {
    let mysql8 = LexOptions {
        target_version: 80036,
        is_mariadb: false,
        ..LexOptions::default()
    };
    // MariaDB skips `/*!50700`+ (MySQL-only syntax) and runs `/*M!`; MySQL does the opposite.
    let text = b"/*!50700 DROP TABLE t */";
    assert_eq!(class(text).kind, StatementKind::Other);
    assert_eq!(classify(text, &mysql8).kind, StatementKind::DropTable);
    let text = b"/*M!100001 DROP TABLE t */";
    assert_eq!(class(text).kind, StatementKind::DropTable);
    assert_eq!(classify(text, &mysql8).kind, StatementKind::Other);
}

#[test]
fn only_the_first_statement_counts() {
    assert_eq!(class(b"SELECT 1; DROP TABLE t").kind, StatementKind::Select);
    assert_eq!(
        class(b"DROP TABLE t; SELECT 1").kind,
        StatementKind::DropTable
    );
    assert_eq!(
        class(b"DELETE FROM t; SELECT 1 WHERE 1").kind,
        StatementKind::DeleteWithoutWhere
    );
}

#[test]
fn bulk_insert_is_classified_from_its_head() {
    // A statement that is a valid INSERT head followed by a megabyte of values: the kind
    // and target come from the first tokens only.
    let mut text = b"INSERT INTO `big` VALUES ".to_vec();
    for i in 0..50_000 {
        text.extend_from_slice(format!("({i},'row {i}'),").as_bytes());
    }
    text.extend_from_slice(b"(0,'end')");
    let c = class(&text);
    assert_eq!(c.kind, StatementKind::Insert);
    assert_eq!(c.objects, vec![ObjectRef::named("big")]);
}

#[test]
fn deep_nesting_is_bounded() {
    let nested = "SET STATEMENT a=1 FOR ".repeat(50) + "DROP TABLE t";
    let c = class(nested.as_bytes());
    assert_eq!(c.kind, StatementKind::Unparsable);
    let parens = "(".repeat(10_000) + "SELECT 1" + &")".repeat(10_000);
    assert_eq!(class(parens.as_bytes()).kind, StatementKind::Select);
    let deep_where = format!(
        "DELETE FROM t WHERE {}1{}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    assert_eq!(class(deep_where.as_bytes()).kind, StatementKind::Delete);
    let deep_no_where = format!("UPDATE t SET a = {}1{}", "(".repeat(5000), ")".repeat(5000));
    let c = class(deep_no_where.as_bytes());
    assert_eq!(c.kind, StatementKind::UpdateWithoutWhere);
    assert!(c.destructive);
}

const FRAGMENTS: &[&[u8]] = &[
    b"DROP ",
    b"TABLE ",
    b"TABLES ",
    b"TEMPORARY ",
    b"IF ",
    b"EXISTS ",
    b"NOT ",
    b"VIEW ",
    b"DATABASE ",
    b"ALTER ",
    b"RENAME ",
    b"TO ",
    b"TRUNCATE ",
    b"DELETE ",
    b"UPDATE ",
    b"SET ",
    b"WHERE ",
    b"FROM ",
    b"USING ",
    b"JOIN ",
    b"INSERT ",
    b"INTO ",
    b"GRANT ",
    b"REVOKE ",
    b"ON ",
    b"CREATE ",
    b"OR REPLACE ",
    b"INDEX ",
    b"USER ",
    b"ROLE ",
    b"LOAD DATA ",
    b"INFILE ",
    b"STATEMENT ",
    b"FOR ",
    b"WITH ",
    b"SELECT ",
    b"COLUMN ",
    b"PARTITION ",
    b"WAIT 1 ",
    b"t",
    b"`a``b`",
    b"\"q\"",
    b"'s'",
    b".",
    b",",
    b"*",
    b"(",
    b")",
    b";",
    b"=",
    b"@",
    b"@@global.x",
    b"\\C ",
    b"/*!40101 ",
    b"/*M!100001 ",
    b"*/",
    b"/* c */",
    b"-- c\n",
    b"# at 4\n",
    b"\n",
    b" ",
    b"\xff",
    b"\xe9",
    b"\0",
    b"1",
    b"0x1F",
];

#[test]
fn random_and_truncated_input_never_panics() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let options = [
        LexOptions::default(),
        LexOptions {
            no_backslash_escapes: true,
            target_version: 50744,
            is_mariadb: false,
            multi_byte: None,
        },
    ];
    for _ in 0..2500 {
        let mut text = Vec::new();
        for _ in 0..rng.below(16) {
            if rng.below(4) == 0 {
                text.push(rng.next() as u8);
            } else {
                text.extend_from_slice(FRAGMENTS[rng.below(FRAGMENTS.len())]);
            }
        }
        for cut in 0..=text.len() {
            for opts in &options {
                let c = classify(&text[..cut], opts);
                // Destructive kinds stay destructive unless a flag explains why not.
                if c.kind.is_destructive() && !c.destructive {
                    assert!(c.temporary, "{:?} -> {c:?}", String::from_utf8_lossy(&text));
                }
            }
        }
    }
}

#[test]
fn no_backslash_escapes_keeps_strings_where_the_server_ends_them() {
    let nbe = LexOptions {
        no_backslash_escapes: true,
        ..LexOptions::default()
    };
    // Under NO_BACKSLASH_ESCAPES the string is 'x\' and the WHERE is real code...
    let text = br"DELETE FROM t WHERE a = 'x\' OR b = '1'";
    assert_eq!(classify(text, &nbe).kind, StatementKind::Delete);
    // ...while here the WHERE is inside the string 'x\' WHERE a = ' for the default mode.
    let text = br"UPDATE t SET a = 'x\' WHERE a = '";
    assert_eq!(class(text).kind, StatementKind::UpdateWithoutWhere);
    assert_eq!(classify(text, &nbe).kind, StatementKind::Update);
}
