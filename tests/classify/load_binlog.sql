--- LOAD DATA and BINLOG row events.
LOAD DATA LOCAL INFILE '/tmp/SQL_LOAD_MB-1-0' INTO TABLE `t`
-- expect: load_data objects=t
LOAD DATA INFILE '/tmp/x' REPLACE INTO TABLE db.t FIELDS TERMINATED BY ',' (a, b)
-- expect: load_data objects=db.t
LOAD DATA LOW_PRIORITY LOCAL INFILE 'x.csv' IGNORE INTO TABLE `d`.`t` CHARACTER SET utf8mb4
-- expect: load_data objects=d.t
LOAD XML LOCAL INFILE 'a.xml' INTO TABLE t ROWS IDENTIFIED BY '<row>'
-- expect: load_data objects=t
LOAD INDEX INTO CACHE t
-- expect: other
BINLOG '
/DW7Sg8BAAAAXgAAAGIAAAAAAAQANS4wLjg2LWRlYnVnLWxvZwAAAAAAAAAAAAAAAAAAAAAAAAAA
AAAAAAAAAAAAAAAAAAD8NbtKEzgNAAgAEgAEBAQEEgAASwAEGg==
'
-- expect: binlog_event
# at 1000
#241125 17:00:00 server id 1  end_log_pos 1100 CRC32 0x00000000 	Table_map: `shop`.`orders` mapped to number 70
# at 1100
#241125 17:00:00 server id 1  end_log_pos 1200 CRC32 0x00000000 	Delete_rows: table id 70 flags: STMT_END_F
BINLOG '
AAAAAA==
'/*!*/
-- expect: binlog_event
