GRANT SELECT ON db.* TO 'u'@'localhost'
-- expect: grant objects=db.*
GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%' WITH GRANT OPTION
-- expect: grant objects=*.*
GRANT SELECT, INSERT ON shop.orders TO app
-- expect: grant objects=shop.orders
GRANT role1 TO 'u'@'h'
-- expect: grant
REVOKE ALL PRIVILEGES ON *.* FROM 'u'@'%'
-- expect: revoke objects=*.* destructive
REVOKE SELECT ON db.t FROM u
-- expect: revoke objects=db.t destructive
DROP USER 'u'@'localhost'
-- expect: drop_user destructive
DROP USER IF EXISTS a@b, `c`@`%`
-- expect: drop_user destructive if_exists
CREATE USER 'u'@'localhost' IDENTIFIED BY 'x'
-- expect: account_change
CREATE USER IF NOT EXISTS u
-- expect: account_change
ALTER USER 'u1'@'localhost' PASSWORD EXPIRE
-- expect: account_change
SET PASSWORD FOR 'u'@'h' = PASSWORD('x')
-- expect: account_change
SET PASSWORD = 'x'
-- expect: account_change
SET DEFAULT ROLE r FOR u
-- expect: account_change
CREATE ROLE r
-- expect: account_change
DROP ROLE r
-- expect: account_change
DROP ROLE IF EXISTS r1, r2
-- expect: account_change if_exists
