--- ALTER TABLE: any DROP operation makes it alter_table_drop; RENAME [TO|AS] makes it rename_table.
ALTER TABLE t ADD COLUMN a int, DROP COLUMN b
-- expect: alter_table_drop objects=t destructive
ALTER TABLE t ADD COLUMN a int
-- expect: alter_table objects=t
ALTER TABLE t DROP b
-- expect: alter_table_drop objects=t destructive
ALTER TABLE t DROP INDEX i
-- expect: alter_table_drop objects=t destructive
ALTER TABLE t DROP KEY b_key
-- expect: alter_table_drop objects=t destructive
ALTER TABLE t DROP PRIMARY KEY
-- expect: alter_table_drop objects=t destructive
ALTER TABLE t2 DROP FOREIGN KEY t2_ibfk_1
-- expect: alter_table_drop objects=t2 destructive
ALTER TABLE t DROP PARTITION p1
-- expect: alter_table_drop objects=t destructive
ALTER TABLE t DROP PARTITION p1, p2
-- expect: alter_table_drop objects=t destructive
ALTER TABLE t DROP CONSTRAINT c
-- expect: alter_table_drop objects=t destructive
ALTER TABLE t DROP CHECK c
-- expect: alter_table_drop objects=t destructive
ALTER TABLE t DROP SYSTEM VERSIONING
-- expect: alter_table_drop objects=t destructive
ALTER TABLE t TRUNCATE PARTITION p0
-- expect: alter_table_drop objects=t destructive
ALTER TABLE t DISCARD TABLESPACE
-- expect: alter_table_drop objects=t destructive
ALTER TABLE t ALTER COLUMN c DROP DEFAULT
-- expect: alter_table objects=t
ALTER TABLE t MODIFY c varchar(10) COMMENT 'drop it, rename it'
-- expect: alter_table objects=t
ALTER TABLE t1 add new_field char(10) default "new" not null, change blob_col new_blob_col varchar(20), alter short drop default, DROP INDEX utiny, DROP PRIMARY KEY, ADD INDEX (auto)
-- expect: alter_table_drop objects=t1 destructive
ALTER TABLE t ALGORITHM=INPLACE, DROP COLUMN a
-- expect: alter_table_drop objects=t destructive
ALTER ONLINE TABLE t DROP COLUMN a
-- expect: alter_table_drop objects=t destructive
ALTER IGNORE TABLE t ADD UNIQUE (a)
-- expect: alter_table objects=t
ALTER TABLE IF EXISTS db.t DROP COLUMN IF EXISTS a
-- expect: alter_table_drop objects=db.t destructive if_exists
ALTER TABLE t ENGINE=InnoDB
-- expect: alter_table objects=t
ALTER TABLE `test`.`bug47205` FORCE
-- expect: alter_table objects=test.bug47205
ALTER TABLE t PARTITION BY RANGE (a) (PARTITION p0 VALUES LESS THAN (10), PARTITION p1 VALUES LESS THAN MAXVALUE)
-- expect: alter_table objects=t
ALTER TABLE t RENAME COLUMN a TO b
-- expect: alter_table objects=t
ALTER TABLE t RENAME INDEX a TO b
-- expect: alter_table objects=t
ALTER DATABASE shop CHARACTER SET utf8mb4
-- expect: other
ALTER VIEW v AS SELECT 1
-- expect: other
