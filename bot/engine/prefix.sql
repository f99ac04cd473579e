-- One row per schema object the drift check compares (bot/engine/inspect), with a digest of its
-- names and types: what a migration that adds, drops, renames or retypes something changes. Nothing
-- is deparsed (defaults, index and constraint definitions are not read), so it is cheap enough to
-- run after every migration of a long history; the diff stays the judge (bot/engine/prefix.py).
WITH rel AS (
  SELECT c.oid, n.nspname || '.' || c.relname AS name, c.relkind
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname = ANY(%(schemas)s) AND c.relname <> '_prisma_migrations'
), parts AS (
  SELECT a.attrelid AS oid, 'c ' || a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' nn' ELSE '' END || CASE WHEN a.atthasdef THEN ' d' ELSE '' END AS part
    FROM pg_catalog.pg_attribute a JOIN rel ON rel.oid = a.attrelid WHERE a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT k.conrelid, 'k ' || k.conname || ' ' || k.contype::text FROM pg_catalog.pg_constraint k JOIN rel ON rel.oid = k.conrelid
  UNION ALL
  SELECT x.indrelid, 'i ' || i.relname || CASE WHEN x.indisunique THEN ' u' ELSE '' END
    FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid JOIN rel ON rel.oid = x.indrelid
  UNION ALL
  SELECT t.tgrelid, 't ' || t.tgname || ' ' || t.tgenabled::text FROM pg_catalog.pg_trigger t JOIN rel ON rel.oid = t.tgrelid
   WHERE NOT t.tgisinternal
  UNION ALL
  SELECT p.polrelid, 'p ' || p.polname FROM pg_catalog.pg_policy p JOIN rel ON rel.oid = p.polrelid
)
SELECT CASE WHEN rel.relkind IN ('r', 'p') THEN 'table' ELSE 'view' END AS kind, rel.name,
       md5(string_agg(parts.part, ',' ORDER BY parts.part)) AS digest
  FROM rel LEFT JOIN parts ON parts.oid = rel.oid GROUP BY rel.relkind, rel.name
UNION ALL
SELECT 'enum', n.nspname || '.' || t.typname,
       md5(array_to_string(ARRAY(SELECT e.enumlabel FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder), ','))
  FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
 WHERE t.typtype = 'e' AND n.nspname = ANY(%(schemas)s)
UNION ALL
SELECT 'function', n.nspname || '.' || p.proname || '/' || p.pronargs, md5(p.prosrc)
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = ANY(%(schemas)s) AND p.prokind <> 'a'
UNION ALL
SELECT 'sequence', n.nspname || '.' || c.relname, ''
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'S' AND n.nspname = ANY(%(schemas)s)
UNION ALL
SELECT 'extension', x.extname, n.nspname
  FROM pg_catalog.pg_extension x JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace
 WHERE x.extname <> 'plpgsql'
