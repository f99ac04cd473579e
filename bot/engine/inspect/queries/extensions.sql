-- Extensions installed in the database (plpgsql comes with every database).
SELECT x.extname AS name, n.nspname AS schema
FROM pg_catalog.pg_extension x JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace
WHERE x.extname <> 'plpgsql'
ORDER BY x.extname
