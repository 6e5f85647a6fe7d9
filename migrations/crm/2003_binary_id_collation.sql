-- salesforce-import: the Salesforce id columns of the reference CRM compare
-- bytes (COLLATE "C"), as Salesforce orders them: the (tenant_id, sf_id)
-- key every page's upsert probes no longer calls the locale's strcoll.
-- Rewrites each table and rebuilds its indexes once.

ALTER TABLE crm_accounts       ALTER COLUMN sf_id TYPE text COLLATE "C";
ALTER TABLE crm_contacts       ALTER COLUMN sf_id TYPE text COLLATE "C";
ALTER TABLE crm_opportunities  ALTER COLUMN sf_id TYPE text COLLATE "C";
ALTER TABLE crm_products       ALTER COLUMN sf_id TYPE text COLLATE "C";
ALTER TABLE crm_product_prices ALTER COLUMN sf_id TYPE text COLLATE "C";
ALTER TABLE crm_orders         ALTER COLUMN sf_id TYPE text COLLATE "C";
ALTER TABLE crm_order_lines    ALTER COLUMN sf_id TYPE text COLLATE "C";
ALTER TABLE crm_quotes         ALTER COLUMN sf_id TYPE text COLLATE "C";
ALTER TABLE crm_quote_lines    ALTER COLUMN sf_id TYPE text COLLATE "C";
