-- Row-level security: each table's switches (only where one is on) and its policies; partitions,
-- like their columns, are not part of the schema compared.
-- Prisma compares neither. kind 'table' rows carry the switches, kind 'policy' rows a policy.
SELECT 'table' AS kind, n.nspname AS schema, c.relname AS table, NULL AS name,
       c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced,
       NULL AS command, NULL::boolean AS permissive, NULL::text[] AS roles, NULL AS using, NULL AS with_check
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%(schemas)s) AND (c.relrowsecurity OR c.relforcerowsecurity)
  AND NOT c.relispartition AND c.relname <> '_prisma_migrations'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                  WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
UNION ALL
SELECT 'policy', n.nspname, c.relname, p.polname, NULL, NULL,
       p.polcmd::text, p.polpermissive,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_catalog.pg_get_userbyid(r)::text END
             FROM unnest(p.polroles) r ORDER BY 1),
       pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
FROM pg_catalog.pg_policy p
JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND NOT c.relispartition AND c.relname <> '_prisma_migrations'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                  WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
ORDER BY 1, 2, 3, 4
