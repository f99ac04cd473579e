-- Functions and procedures (not aggregates, not an extension's), with what defines them.
-- Prisma does not compare these at all; driftbot does (a body edited by hand in production).
-- body: the source text as written, or, for a SQL-standard body (BEGIN ATOMIC), its deparsed form.
SELECT n.nspname AS schema, p.proname AS name,
       pg_catalog.pg_get_function_identity_arguments(p.oid) AS arguments,
       p.prokind AS kind,
       COALESCE(pg_catalog.pg_get_function_result(p.oid), '') AS result,
       l.lanname AS language,
       /*sqlbody*/ p.prosrc AS body,
       p.provolatile AS volatility, p.proisstrict AS strict, p.prosecdef AS security_definer,
       COALESCE(p.proconfig, '{}')::text[] AS config,
       pg_catalog.pg_get_functiondef(p.oid) AS definition
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE n.nspname = ANY(%(schemas)s) AND p.prokind <> 'a'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                  WHERE e.classid = 'pg_catalog.pg_proc'::regclass AND e.objid = p.oid AND e.deptype = 'e')
ORDER BY 1, 2, 3
