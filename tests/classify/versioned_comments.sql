--- Executed versioned comments are code; skipped ones are comments (target: MariaDB 10.11).
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */
-- expect: set_session
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */
-- expect: set_session
/*!40101 SET NAMES utf8mb4 */
-- expect: set_session
/*!50001 DROP VIEW IF EXISTS `v1`*/
-- expect: drop_view objects=v1 destructive if_exists
/*!50001 DROP TABLE IF EXISTS `v1`*/
-- expect: drop_table objects=v1 destructive if_exists
/*!40000 ALTER TABLE `actor` DISABLE KEYS */
-- expect: alter_table objects=actor
/*!40000 ALTER TABLE `actor` ENABLE KEYS */
-- expect: alter_table objects=actor
/*!50003 DROP PROCEDURE IF EXISTS `p` */
-- expect: drop_other if_exists
/*M!100001 SET @@session.gtid_domain_id=0*//*!*/
-- expect: set_session
/*!50700 DROP TABLE t */
-- expect: other
/*!999999 DROP TABLE t */ SELECT 1
-- expect: select
/*M!999999\- enable the sandbox mode */
-- expect: other
/*!\C utf8mb4 *//*!*/
-- expect: set_session
DROP TABLE /*!32312 IF EXISTS*/ `t`
-- expect: drop_table objects=t destructive if_exists
/*!40103 SET TIME_ZONE='+00:00' */
-- expect: set_session
