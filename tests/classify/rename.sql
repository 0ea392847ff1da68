RENAME TABLE a TO b
-- expect: rename_table objects=a destructive
RENAME TABLE a TO b, c.d TO e.f
-- expect: rename_table objects=a,c.d destructive
RENAME TABLE IF EXISTS a TO b
-- expect: rename_table objects=a destructive if_exists
RENAME TABLES `old` WAIT 1 TO `new`
-- expect: rename_table objects=old destructive
ALTER TABLE t RENAME TO u
-- expect: rename_table objects=t destructive
ALTER TABLE t RENAME AS u
-- expect: rename_table objects=t destructive
ALTER TABLE T1 RENAME T2
-- expect: rename_table objects=T1 destructive
ALTER TABLE  `t+1` RENAME `t+2`
-- expect: rename_table objects=`t+1` destructive
ALTER TABLE t1 CHANGE int_field unsigned_int_field INTEGER UNSIGNED NOT NULL, RENAME t2
-- expect: rename_table objects=t1 destructive
ALTER TABLE t1 DROP COLUMN a, RENAME TO t2
-- expect: alter_table_drop objects=t1 destructive
RENAME USER a TO b
-- expect: account_change
