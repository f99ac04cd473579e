-- Tables (ordinary and partitioned) and their columns, in attnum order.
-- Objects that belong to an extension (pg_depend 'e') are not the project's schema.
SELECT n.nspname AS schema, c.relname AS table, a.attname AS column, a.attnum AS position,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       t.typtype = 'e' OR (t.typcategory = 'A' AND et.typtype = 'e') AS is_enum,
       a.attnotnull AS not_null,
       pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS default,
       a.attidentity AS identity, a.attgenerated AS generated,
       -- the sequence a serial column owns: its default is then just "serial"
       (SELECT s.relname FROM pg_catalog.pg_depend dep JOIN pg_catalog.pg_class s ON s.oid = dep.objid
         WHERE dep.refclassid = 'pg_catalog.pg_class'::regclass AND dep.refobjid = c.oid AND dep.refobjsubid = a.attnum
           AND dep.classid = 'pg_catalog.pg_class'::regclass
           AND dep.deptype = 'a' AND s.relkind = 'S' LIMIT 1) AS owned_sequence
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type et ON et.oid = t.typelem
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%(schemas)s) AND NOT c.relispartition
  AND c.relname <> '_prisma_migrations'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                  WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
ORDER BY n.nspname, c.relname, a.attnum
