--- UPDATE/DELETE: only a top-level WHERE makes them safe.
DELETE FROM t WHERE id = 1
-- expect: delete objects=t
DELETE FROM t
-- expect: delete_without_where objects=t destructive
DELETE FROM t LIMIT 10
-- expect: delete_without_where objects=t destructive
DELETE FROM shop.orders ORDER BY id LIMIT 10
-- expect: delete_without_where objects=shop.orders destructive
DELETE FROM t WHERE a IN (SELECT a FROM u WHERE b = 1)
-- expect: delete objects=t
DELETE FROM t ORDER BY (SELECT max(a) FROM u WHERE b = 1)
-- expect: delete_without_where objects=t destructive
DELETE LOW_PRIORITY QUICK IGNORE FROM `t` WHERE a > 0
-- expect: delete objects=t
DELETE t1 FROM t1 JOIN t2 ON t1.a = t2.a WHERE t2.b = 1
-- expect: delete objects=t1
DELETE t1, t2 FROM t1 JOIN t2 ON t1.a = t2.a
-- expect: delete_without_where objects=t1,t2 destructive
DELETE t1.*, t2.* FROM t1 JOIN t2 ON t1.a = t2.a
-- expect: delete_without_where objects=t1,t2 destructive
DELETE FROM t1, t2 USING t1 JOIN t2 ON t1.a = t2.a
-- expect: delete_without_where objects=t1,t2 destructive
DELETE FROM t1 USING t1 JOIN t2 WHERE t1.a = t2.a
-- expect: delete objects=t1
DELETE FROM t /* WHERE id = 1 */
-- expect: delete_without_where objects=t destructive
DELETE FROM t -- WHERE id = 1
-- expect: delete_without_where objects=t destructive
DELETE FROM t WHERE note = 'WHERE'
-- expect: delete objects=t
DELETE FROM `where` WHERE `where`.id = 1
-- expect: delete objects=where
DELETE FROM t PARTITION (p1) WHERE a = 1
-- expect: delete objects=t
UPDATE t SET a = 1 WHERE id = 2
-- expect: update objects=t
UPDATE t SET a = 1
-- expect: update_without_where objects=t destructive
UPDATE t SET a = 1 LIMIT 5
-- expect: update_without_where objects=t destructive
UPDATE t SET a = (SELECT max(b) FROM u WHERE c = 1)
-- expect: update_without_where objects=t destructive
UPDATE t1 JOIN t2 ON t1.a = t2.a SET t1.b = 1 WHERE t2.c = 2
-- expect: update objects=t1,t2
UPDATE t1 JOIN t2 ON t1.a = t2.a SET t1.b = 1
-- expect: update_without_where objects=t1,t2 destructive
UPDATE LOW_PRIORITY IGNORE shop.t AS x SET x.a = 'it''s WHERE' WHERE x.id = 3
-- expect: update objects=shop.t
UPDATE t1, t2 SET t1.a = t2.a WHERE t1.id = t2.id
-- expect: update objects=t1,t2
update   `t`   set   `a`=1   where   `id`=1
-- expect: update objects=t
WITH x AS (SELECT id FROM u WHERE a = 1) DELETE FROM t WHERE id IN (SELECT id FROM x)
-- expect: delete objects=t
WITH x AS (SELECT id FROM u WHERE a = 1) UPDATE t SET a = 1
-- expect: update_without_where objects=t destructive
SET STATEMENT foreign_key_checks=0 FOR DELETE FROM t
-- expect: delete_without_where objects=t destructive
SET STATEMENT max_statement_time=60 FOR DROP TABLE t
-- expect: drop_table objects=t destructive
DELETE HISTORY FROM t BEFORE SYSTEM_TIME '2020-01-01 00:00:00'
-- expect: delete_without_where objects=t destructive
