-- Records deleted in Salesforce are kept, marked with when they were
-- deleted (a sync deletes them through `CrmSink::delete_batch`); a later
-- write of the same record (restored from the recycle bin) clears it.
ALTER TABLE crm_accounts       ADD COLUMN deleted_at timestamptz;
ALTER TABLE crm_contacts       ADD COLUMN deleted_at timestamptz;
ALTER TABLE crm_opportunities  ADD COLUMN deleted_at timestamptz;
ALTER TABLE crm_products       ADD COLUMN deleted_at timestamptz;
ALTER TABLE crm_product_prices ADD COLUMN deleted_at timestamptz;
ALTER TABLE crm_orders         ADD COLUMN deleted_at timestamptz;
ALTER TABLE crm_order_lines    ADD COLUMN deleted_at timestamptz;
ALTER TABLE crm_quotes         ADD COLUMN deleted_at timestamptz;
ALTER TABLE crm_quote_lines    ADD COLUMN deleted_at timestamptz;
