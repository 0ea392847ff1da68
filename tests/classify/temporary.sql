--- Temporary tables: mariadb-binlog prints `DROP TEMPORARY TABLE IF EXISTS` at session ends.
DROP TEMPORARY TABLE IF EXISTS `tmp_1`
-- expect: drop_table objects=tmp_1 if_exists temporary
DROP TEMPORARY TABLE t1, t2
-- expect: drop_table objects=t1,t2 temporary
DROP /*!40005 TEMPORARY */ TABLE IF EXISTS `t`
-- expect: drop_table objects=t if_exists temporary
CREATE TEMPORARY TABLE t (a int)
-- expect: create_table objects=t temporary
CREATE TEMPORARY TABLE IF NOT EXISTS db.t SELECT * FROM u
-- expect: create_table objects=db.t if_exists temporary
CREATE OR REPLACE TEMPORARY TABLE t (a int)
-- expect: create_table objects=t temporary
