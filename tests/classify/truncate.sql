TRUNCATE TABLE t
-- expect: truncate objects=t destructive
TRUNCATE t
-- expect: truncate objects=t destructive
truncate   table `shop`.`orders`
-- expect: truncate objects=shop.orders destructive
TRUNCATE TABLE t WAIT 2
-- expect: truncate objects=t destructive
