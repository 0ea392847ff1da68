CREATE TABLE t (a int)
-- expect: create_table objects=t
CREATE TABLE IF NOT EXISTS `shop`.`orders` (id int PRIMARY KEY)
-- expect: create_table objects=shop.orders if_exists
CREATE TABLE t LIKE u
-- expect: create_table objects=t
CREATE TABLE t SELECT * FROM u
-- expect: create_table objects=t
CREATE TABLE `actor` (
  `actor_id` smallint(5) unsigned NOT NULL AUTO_INCREMENT,
  `first_name` varchar(45) NOT NULL,
  `last_update` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (`actor_id`),
  KEY `idx_actor_last_name` (`first_name`)
) ENGINE=InnoDB AUTO_INCREMENT=201 DEFAULT CHARSET=utf8mb4
-- expect: create_table objects=actor
CREATE TABLE t1 (a int) PARTITION BY KEY (a) PARTITIONS 4
-- expect: create_table objects=t1
CREATE OR REPLACE TABLE t (a int)
-- expect: create_table objects=t destructive
CREATE DATABASE IF NOT EXISTS d
-- expect: create_database objects=d if_exists
CREATE SCHEMA `my db` DEFAULT CHARACTER SET utf8mb4
-- expect: create_database objects=`my db`
CREATE INDEX i ON t (a)
-- expect: create_other objects=t
CREATE UNIQUE INDEX i ON db.t (a)
-- expect: create_other objects=db.t
CREATE VIEW v AS SELECT 1
-- expect: create_other objects=v
CREATE OR REPLACE VIEW v AS SELECT 1
-- expect: create_other objects=v
/*!50001 CREATE ALGORITHM=UNDEFINED */
/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */
/*!50001 VIEW `actor_info` AS select 1 */
-- expect: create_other objects=actor_info
CREATE DEFINER=`root`@`localhost` TRIGGER `customer_create_date` BEFORE INSERT ON `customer` FOR EACH ROW SET NEW.create_date = NOW()
-- expect: create_other
CREATE DEFINER=`root`@`localhost` PROCEDURE `film_in_stock`(IN p_film_id INT) READS SQL DATA BEGIN SELECT 1; END
-- expect: create_other
CREATE FUNCTION f() RETURNS int RETURN 1
-- expect: create_other
CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t
-- expect: create_other
CREATE SEQUENCE s START WITH 1
-- expect: create_other
