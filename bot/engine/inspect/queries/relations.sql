-- Sequences no column owns, views and materialized views.
SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END AS definition,
       s.seqtypid::regtype::text AS seq_type, s.seqstart AS seq_start, s.seqincrement AS seq_increment
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
WHERE c.relkind IN ('S', 'v', 'm') AND n.nspname = ANY(%(schemas)s)
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.objid = c.oid AND d.classid = 'pg_catalog.pg_class'::regclass
                    AND ((d.deptype IN ('a', 'i') AND d.refobjsubid > 0) OR d.deptype = 'e'))
ORDER BY n.nspname, c.relname
