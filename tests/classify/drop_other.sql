--- Views, databases and the other DROPs.
DROP VIEW v
-- expect: drop_view objects=v destructive
DROP VIEW IF EXISTS db.v1, v2 CASCADE
-- expect: drop_view objects=db.v1,v2 destructive if_exists
DROP DATABASE shop
-- expect: drop_database objects=shop destructive
DROP SCHEMA IF EXISTS `my db`
-- expect: drop_database objects=`my db` destructive if_exists
DROP INDEX i ON t
-- expect: drop_other objects=t
DROP INDEX `PRIMARY` ON db.t ALGORITHM=INPLACE
-- expect: drop_other objects=db.t
DROP TRIGGER IF EXISTS tr
-- expect: drop_other if_exists
DROP PROCEDURE IF EXISTS p
-- expect: drop_other if_exists
DROP FUNCTION f
-- expect: drop_other
DROP EVENT IF EXISTS e
-- expect: drop_other if_exists
DROP SEQUENCE s
-- expect: drop_other
DROP SERVER s
-- expect: drop_other
