-- Schema and seed for the lab's qnwis_prod database: the part of the 60+ LMIS tables that the
-- QNWIS app stand-in (lab/daemons/qnwis-app.ts) and the runbook's diagnostics touch.
--
-- Applied by the lab as a superuser, once per fresh database and again on every `lab up`, so every
-- statement is idempotent: CREATE ... IF NOT EXISTS, and each seed runs only when its table is
-- empty. Plain SQL only (no psql meta-commands) so it can be sent as one simple-query string from
-- node-pg as well as with `psql -f`.
--
-- Seeds are deterministic (derived from generate_series, never random()) so every lab run and
-- every test sees the same data and the same query plans.

SET client_min_messages = warning;

-- ---------------------------------------------------------------------------------------------
-- Quarterly employment statistics: what every app query reads.
-- The value lists here must match lab/daemons/qnwis-app/workload.ts (SECTORS, NATIONALITIES,
-- quarters 2019-Q1 .. 2025-Q4), or the app's queries return empty results.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.qtr_employment_stats (
  id          bigserial PRIMARY KEY,
  quarter     text          NOT NULL,          -- '2024-Q3'
  sector      text          NOT NULL,
  nationality text          NOT NULL,
  gender      text          NOT NULL,          -- 'Male' | 'Female'
  employed    integer       NOT NULL,
  avg_salary  numeric(10,2) NOT NULL,          -- QAR per month
  created_at  timestamptz   NOT NULL DEFAULT now()
);

-- The simple queries filter on (quarter, sector); the backup drill and dashboards read by time.
-- Deliberately no index on gender or nationality: the complex queries filter on them and scan
-- the table, which is what the runbook's "missing indexes" check (seq_scan) should find.
CREATE INDEX IF NOT EXISTS qtr_employment_stats_quarter_sector_idx
  ON public.qtr_employment_stats (quarter, sector);
CREATE INDEX IF NOT EXISTS qtr_employment_stats_created_at_idx
  ON public.qtr_employment_stats (created_at);

INSERT INTO public.qtr_employment_stats (quarter, sector, nationality, gender, employed, avg_salary, created_at)
SELECT
  q.label,
  (ARRAY['Construction', 'Wholesale and retail trade', 'Manufacturing',
         'Accommodation and food services', 'Transportation and storage',
         'Financial and insurance activities', 'Public administration and defence', 'Education',
         'Human health and social work', 'Mining and quarrying', 'Information and communication',
         'Activities of households as employers'])[1 + (g / 28) % 12],
  -- Multiplicative hashes keep nationality and gender independent of quarter and sector;
  -- repeated entries skew the mix towards the largest communities, as in the real data.
  (ARRAY['Indian', 'Indian', 'Indian', 'Nepali', 'Nepali', 'Bangladeshi', 'Bangladeshi',
         'Filipino', 'Egyptian', 'Pakistani', 'Sri Lankan', 'Qatari', 'Other Arab',
         'Other'])[1 + ((g::bigint * 2654435761) % 1000003) % 14],
  CASE WHEN ((g::bigint * 40503) % 65521) % 5 = 0 THEN 'Female' ELSE 'Male' END,
  20 + (g * 7919) % 4980,
  round((1800 + (g::bigint * 104729) % 38000 + ((g * 31) % 100) / 100.0)::numeric, 2),
  q.starts + ((g * 37) % 90) * interval '1 day'
FROM generate_series(0, 49999) AS g
CROSS JOIN LATERAL (
  SELECT
    (2019 + (g % 28) / 4)::text || '-Q' || (1 + g % 4)::text AS label,
    make_date(2019 + (g % 28) / 4, 1 + 3 * (g % 4), 1)::timestamptz AS starts
) AS q
WHERE NOT EXISTS (SELECT 1 FROM public.qtr_employment_stats);

-- ---------------------------------------------------------------------------------------------
-- Other LMIS tables. Plausible shapes and volumes; foreign keys without indexes on purpose
-- (work_permits.establishment_id, .status, .nationality), so seq_scan diagnostics and
-- EXPLAIN ANALYZE have something real to show. Some medium app queries read work_permits.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.occupations (
  isco_code   text PRIMARY KEY,                -- ISCO-08 unit group
  title       text NOT NULL,
  skill_level smallint NOT NULL
);

INSERT INTO public.occupations (isco_code, title, skill_level)
VALUES
  ('1120', 'Managing directors and chief executives', 4),
  ('2142', 'Civil engineers', 4),
  ('2221', 'Nursing professionals', 4),
  ('2512', 'Software developers', 4),
  ('3112', 'Civil engineering technicians', 3),
  ('4110', 'General office clerks', 2),
  ('5120', 'Cooks', 2),
  ('5223', 'Shop sales assistants', 2),
  ('7112', 'Bricklayers and related workers', 2),
  ('7115', 'Carpenters and joiners', 2),
  ('7411', 'Building and related electricians', 2),
  ('8322', 'Car, taxi and van drivers', 2),
  ('9112', 'Cleaners and helpers in offices and hotels', 1),
  ('9313', 'Building construction labourers', 1),
  ('9111', 'Domestic cleaners and helpers', 1)
ON CONFLICT (isco_code) DO NOTHING;

CREATE TABLE IF NOT EXISTS public.establishments (
  id            bigserial PRIMARY KEY,
  name          text        NOT NULL,
  sector        text        NOT NULL,
  municipality  text        NOT NULL,
  size_band     text        NOT NULL,          -- '1-9' | '10-49' | '50-249' | '250+'
  registered_at timestamptz NOT NULL
);

INSERT INTO public.establishments (name, sector, municipality, size_band, registered_at)
SELECT
  'Establishment ' || lpad(g::text, 5, '0') || ' W.L.L.',
  (ARRAY['Construction', 'Wholesale and retail trade', 'Manufacturing',
         'Accommodation and food services', 'Transportation and storage',
         'Financial and insurance activities', 'Public administration and defence', 'Education',
         'Human health and social work', 'Mining and quarrying', 'Information and communication',
         'Activities of households as employers'])[1 + (g * 5) % 12],
  (ARRAY['Doha', 'Al Rayyan', 'Al Wakrah', 'Umm Salal', 'Al Khor', 'Al Daayen', 'Al Shamal',
         'Al Shahaniya'])[1 + (g * 3) % 8],
  (ARRAY['1-9', '10-49', '50-249', '250+'])[1 + (g * 11) % 4],
  timestamptz '2005-01-01' + ((g * 7919) % 7300) * interval '1 day'
FROM generate_series(1, 5000) AS g
WHERE NOT EXISTS (SELECT 1 FROM public.establishments);

CREATE TABLE IF NOT EXISTS public.work_permits (
  id               bigserial PRIMARY KEY,
  establishment_id bigint      NOT NULL REFERENCES public.establishments (id),
  nationality      text        NOT NULL,
  isco_code        text        NOT NULL REFERENCES public.occupations (isco_code),
  status           text        NOT NULL,       -- 'active' | 'expired' | 'cancelled' | 'pending'
  issued_at        timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL
);

INSERT INTO public.work_permits (establishment_id, nationality, isco_code, status, issued_at, expires_at)
SELECT
  1 + (g * 7919) % 5000,
  (ARRAY['Qatari', 'Indian', 'Nepali', 'Bangladeshi', 'Filipino', 'Egyptian', 'Pakistani',
         'Sri Lankan', 'Other Arab', 'Other'])[1 + (g * 3) % 10],
  (ARRAY['1120', '2142', '2221', '2512', '3112', '4110', '5120', '5223', '7112', '7115', '7411',
         '8322', '9112', '9313', '9111'])[1 + (g * 17) % 15],
  (ARRAY['active', 'active', 'active', 'expired', 'cancelled', 'pending'])[1 + (g * 13) % 6],
  issued.at,
  issued.at + interval '2 years'
FROM generate_series(1, 60000) AS g
CROSS JOIN LATERAL (
  SELECT timestamptz '2022-01-01' + ((g::bigint * 104729) % 1460) * interval '1 day' AS at
) AS issued
WHERE NOT EXISTS (SELECT 1 FROM public.work_permits);

-- ---------------------------------------------------------------------------------------------
-- Audit trail: one row per query the app runs (runbook: security monitoring, backup drill).
-- ---------------------------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE IF NOT EXISTS audit.query_log (
  id          bigserial PRIMARY KEY,
  user_id     text        NOT NULL,
  query_id    text        NOT NULL,
  query_type  text        NOT NULL,            -- 'simple' | 'medium' | 'complex'
  status      text        NOT NULL,            -- 'ok' | 'error'
  duration_ms integer     NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- "SELECT ... FROM audit.query_log WHERE created_at > now() - interval '1 hour' GROUP BY user_id"
CREATE INDEX IF NOT EXISTS query_log_created_at_idx ON audit.query_log (created_at);

-- Fresh statistics so the first plans (and pg_stat_user_tables) look like a settled database.
ANALYZE public.qtr_employment_stats;
ANALYZE public.occupations;
ANALYZE public.establishments;
ANALYZE public.work_permits;
ANALYZE audit.query_log;

-- ---------------------------------------------------------------------------------------------
-- Rights of the application role: SELECT and INSERT on the tables of both schemas, USAGE on
-- their sequences. (The app itself only reads public.* and inserts into audit.query_log.)
-- The role is `qnwis` (runbook: `psql -U qnwis -d qnwis_prod`); a session may name another one
-- with `SET qnwis.app_role = '...'` before applying this file (the integration test does, to use
-- a throw-away role). Skipped with a notice when the role does not exist yet, so the file can
-- run before the lab creates its roles; the lab then re-applies it (it is idempotent).
-- ---------------------------------------------------------------------------------------------
DO $grants$
DECLARE
  app_role text := coalesce(nullif(current_setting('qnwis.app_role', true), ''), 'qnwis');
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app_role) THEN
    RAISE NOTICE 'role % does not exist: grants skipped', app_role;
    RETURN;
  END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), app_role);
  EXECUTE format('GRANT USAGE ON SCHEMA public, audit TO %I', app_role);
  EXECUTE format('GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public, audit TO %I', app_role);
  -- INSERT into a bigserial table calls nextval(): USAGE on the sequence is required.
  EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA public, audit TO %I', app_role);
END
$grants$;

RESET client_min_messages;
