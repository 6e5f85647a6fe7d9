-- Row-level security for salesforce-import's tables: a row is visible and
-- writable only while the session setting `app.current_org` names its
-- tenant. Idempotent; covers the tables that exist.
--
-- - FORCE: the policies bind the tables' owner too (an application that
--   ran the migrations itself owns them). Superusers and roles with
--   BYPASSRLS are never bound.
-- - NULLIF: once a session has set `app.current_org` (even transaction-
--   locally), it reads '' rather than NULL after the transaction; '' must
--   match no tenant, like the unset setting.
-- - A table already in this state (RLS enabled and forced, the policy
--   marked with this version's comment) is left alone: ALTER TABLE would
--   lock it against every query, so running this at every start costs
--   only catalog reads. An advisory lock keeps two servers from doing the
--   work at once.
-- - Not listed, on purpose: sf_import_oauth_states (pending OAuth
--   authorizations). The callback finds its row by the OAuth state alone,
--   before it knows the tenant, so a tenant policy would hide every row.
--   The state is random and single use (only the user's browser holds it,
--   the table keeps its SHA-256), and the flow then refuses a row issued
--   to another tenant or user.
DO $$
DECLARE
    marker constant text := 'salesforce-import tenant policy v2';
    t text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('salesforce_import.row_level_security'));
    FOREACH t IN ARRAY ARRAY[
        'sf_import_jobs', 'sf_import_job_objects', 'sf_import_job_log',
        'sf_import_id_map', 'sf_import_connections',
        'crm_accounts', 'crm_contacts', 'crm_opportunities', 'crm_products',
        'crm_product_prices', 'crm_orders', 'crm_order_lines', 'crm_quotes',
        'crm_quote_lines'
    ] LOOP
        CONTINUE WHEN to_regclass(t) IS NULL;
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid
            WHERE c.oid = to_regclass(t)
              AND c.relrowsecurity AND c.relforcerowsecurity
              AND p.polname = 'sf_import_tenant'
              AND obj_description(p.oid, 'pg_policy') = marker);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS sf_import_tenant ON %I', t);
        EXECUTE format(
            'CREATE POLICY sf_import_tenant ON %I FOR ALL '
            'USING (tenant_id = NULLIF(current_setting(''app.current_org'', true), '''')) '
            'WITH CHECK (tenant_id = NULLIF(current_setting(''app.current_org'', true), ''''))',
            t);
        EXECUTE format('COMMENT ON POLICY sf_import_tenant ON %I IS %L', t, marker);
    END LOOP;
END
$$;
