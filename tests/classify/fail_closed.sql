--- What no grammar reads: destructive when the first keyword is.
DROP TABLE t WITH SOMETHING NEW
-- expect: unparsable destructive
DROP TABLE
-- expect: unparsable destructive
DROP
-- expect: unparsable destructive
DROP TABLE t1 t2
-- expect: unparsable destructive
DROP TABLE a.b.c
-- expect: unparsable destructive
DROP DATABASE a b
-- expect: unparsable destructive
DROP FROBNICATOR x
-- expect: unparsable destructive
TRUNCATE
-- expect: unparsable destructive
TRUNCATE TABLE t EXTRA
-- expect: unparsable destructive
RENAME TABLE a
-- expect: unparsable destructive
RENAME something
-- expect: unparsable destructive
ALTER
-- expect: unparsable destructive
GRANT
-- expect: unparsable destructive
REVOKE SELECT ON t
-- expect: unparsable destructive
FROBNICATE everything
-- expect: unparsable
'a string'
-- expect: unparsable
CREATE
-- expect: unparsable
