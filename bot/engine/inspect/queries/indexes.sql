-- Indexes that no constraint owns (those are reported with their constraint), on tables, not partitions.
SELECT n.nspname AS schema, c.relname AS table, i.relname AS name, x.indisunique AS is_unique,
       am.amname AS method,
       ARRAY(SELECT CASE WHEN k.num = 0 THEN NULL ELSE a.attname END
             FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(num, ord)
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.num
             WHERE k.ord <= x.indnkeyatts ORDER BY k.ord)::text[] AS columns,
       ARRAY(SELECT (o & 1) = 1 FROM unnest(x.indoption::int2[]) o)::bool[] AS descending,
       x.indpred IS NOT NULL AS partial,
       -- rendered from its definition: expressions, INCLUDE columns, or an operator class or collation other
       -- than the column's default (gin_trgm_ops over text or varchar: there is no default one for gin)
       x.indexprs IS NOT NULL OR x.indnatts <> x.indnkeyatts
         OR EXISTS (SELECT 1 FROM unnest(x.indclass::oid[]) WITH ORDINALITY o(opc, ord)
                    JOIN pg_catalog.pg_opclass oc ON oc.oid = o.opc WHERE o.ord <= x.indnkeyatts AND NOT oc.opcdefault)
         OR EXISTS (SELECT 1 FROM unnest(x.indcollation::oid[], x.indkey::int2[]) k(coll, num)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.num
                    WHERE k.coll <> 0 AND k.coll <> a.attcollation) AS complex,
       pg_catalog.pg_get_indexdef(x.indexrelid) AS definition,
       x.indisvalid AS valid  -- false: a CREATE INDEX CONCURRENTLY that failed (or is still running)
FROM pg_catalog.pg_index x
JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
JOIN pg_catalog.pg_class c ON c.oid = x.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_am am ON am.oid = i.relam
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p') AND c.relname <> '_prisma_migrations'
  AND NOT c.relispartition  -- a partition's indexes are its parent's, or its own business
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint con WHERE con.conindid = x.indexrelid AND con.contype IN ('p', 'u', 'x'))
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                  WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
ORDER BY n.nspname, c.relname, i.relname
