--- The statements of every replay.
INSERT INTO `actor` VALUES (1,'PENELOPE','GUINESS','2006-02-15 04:34:33'),(2,'NICK','WAHLBERG','2006-02-15 04:34:33')
-- expect: insert objects=actor
INSERT IGNORE INTO shop.t (a, b) VALUES (1, 2)
-- expect: insert objects=shop.t
insert low_priority t set a = 1
-- expect: insert objects=t
INSERT INTO t SELECT * FROM u WHERE 0
-- expect: insert objects=t
REPLACE INTO t VALUES (1)
-- expect: replace objects=t
SELECT 1
-- expect: select
(SELECT 1) UNION (SELECT 2)
-- expect: select
WITH x AS (SELECT 1) SELECT * FROM x
-- expect: select
VALUES (1), (2)
-- expect: select
SET TIMESTAMP=1253783037/*!*/
-- expect: set_session
SET @@session.foreign_key_checks=1, @@session.sql_auto_is_null=1, @@session.unique_checks=1/*!*/
-- expect: set_session
SET @@session.character_set_client=latin1,@@session.collation_connection=8,@@session.collation_server=8/*!*/
-- expect: set_session
SET NAMES utf8mb4 COLLATE utf8mb4_general_ci
-- expect: set_session
SET CHARACTER SET latin1
-- expect: set_session
SET @x = 'a', @y := 2
-- expect: set_session
SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED
-- expect: set_session
SET GLOBAL read_only = 1
-- expect: other
SET @@global.max_connections = 10
-- expect: other
SET sql_mode = 'x', GLOBAL general_log = 0
-- expect: other
BEGIN
-- expect: begin
BEGIN WORK
-- expect: begin
START TRANSACTION WITH CONSISTENT SNAPSHOT
-- expect: begin
BEGIN NOT ATOMIC SELECT 1; END
-- expect: other
COMMIT/*!*/
-- expect: commit
XA START 'x'
-- expect: begin
XA COMMIT 'x' ONE PHASE
-- expect: commit
XA END 'x'
-- expect: other
ROLLBACK
-- expect: rollback
ROLLBACK /* added by mysqlbinlog */
-- expect: rollback
ROLLBACK TO SAVEPOINT s1
-- expect: other
SAVEPOINT s1
-- expect: other
use `test`/*!*/
-- expect: use objects=test
USE shop
-- expect: use objects=shop
CALL p(1, 'x')
-- expect: call
LOCK TABLES `actor` WRITE
-- expect: other
UNLOCK TABLES
-- expect: other
SHOW TABLES
-- expect: other
FLUSH PRIVILEGES
-- expect: other
# at 4
#090924  9:03:56 server id 1  end_log_pos 98 	Start: binlog v 4, server v 5.0.86-debug-log created 090924  9:03:56 at startup
-- expect: other
/* only a comment */
-- expect: other
