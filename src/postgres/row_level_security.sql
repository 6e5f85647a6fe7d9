-- Row-level security for salesforce-import's tables: a row is visible and
-- writable only while the session setting `app.current_org` names its
-- tenant. Idempotent; covers the tables that exist.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'sf_import_jobs', 'sf_import_job_objects', 'sf_import_job_log',
        'sf_import_id_map', 'sf_import_connections',
        'crm_accounts', 'crm_contacts', 'crm_opportunities', 'crm_products',
        'crm_product_prices', 'crm_orders', 'crm_order_lines', 'crm_quotes',
        'crm_quote_lines'
    ] LOOP
        IF to_regclass(t) IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
            EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
            EXECUTE format('DROP POLICY IF EXISTS sf_import_tenant ON %I', t);
            EXECUTE format(
                'CREATE POLICY sf_import_tenant ON %I '
                'USING (tenant_id = current_setting(''app.current_org'', true)) '
                'WITH CHECK (tenant_id = current_setting(''app.current_org'', true))',
                t);
        END IF;
    END LOOP;
END
$$;
