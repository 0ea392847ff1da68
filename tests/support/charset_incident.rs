//! The charset incident's stream: a statement-format binlog of utf8 text, decoded without its
//! charset lines (as old mysqlbinlog output was), and what a user compares afterwards.

use super::client::mariadb_binlog;
use super::server::MariaDb;

/// Names that break in different ways under latin1: umlaut, caron, CJK, Cyrillic, an emoji
/// (4-byte UTF-8), and a combining mark (e + U+0301).
pub const NAMES: [&str; 6] = [
    "Müller",
    "Žižek",
    "山田",
    "Ольга",
    "Party 🎉",
    "Cafe\u{301}",
];

/// HEX of every customer name and order reference, in key order.
pub fn fingerprint(db: &MariaDb) -> String {
    db.sql(
        "SELECT GROUP_CONCAT(HEX(name) ORDER BY HEX(name)) FROM shop.customers \
         UNION ALL SELECT GROUP_CONCAT(HEX(customer) ORDER BY id) FROM shop.orders",
    )
}

/// Builds the incident's source server and returns the decoded binlog with its charset lines
/// removed.
pub fn incident_stream(source: &MariaDb) -> Vec<u8> {
    let mut workload = String::from(
        "CREATE DATABASE shop;\nUSE shop;\n\
         CREATE TABLE customers (name VARCHAR(100) PRIMARY KEY) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\
         CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(100) NOT NULL, \
         FOREIGN KEY (customer) REFERENCES customers(name)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n",
    );
    for (i, name) in NAMES.iter().enumerate() {
        workload.push_str(&format!("INSERT INTO customers VALUES ('{name}');\n"));
        workload.push_str(&format!("INSERT INTO orders VALUES ({i}, '{name}');\n"));
    }
    source
        .client()
        .arg("--default-character-set=utf8mb4")
        .run_with_stdin(workload.as_bytes())
        .assert_success();
    let decoded = mariadb_binlog(&[], &source.binlog_files());
    let text = String::from_utf8(decoded).expect("the workload is utf8");
    assert!(
        text.contains("character_set_client"),
        "mariadb-binlog wrote charset lines"
    );
    text.lines()
        .filter(|l| !l.contains("character_set_client") && !l.starts_with("/*!\\C"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes()
}
