-- Triggers people write (not the internal ones behind foreign keys), on tables of the schemas
-- in scope that no extension owns. Prisma does not compare these either.
SELECT n.nspname AS schema, c.relname AS table, t.tgname AS name,
       pg_catalog.pg_get_triggerdef(t.oid) AS definition, t.tgenabled AS enabled
FROM pg_catalog.pg_trigger t
JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND n.nspname = ANY(%(schemas)s) AND c.relname <> '_prisma_migrations'
  AND NOT c.relispartition  -- a partition's triggers are clones of its parent's
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                  WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
ORDER BY 1, 2, 3
