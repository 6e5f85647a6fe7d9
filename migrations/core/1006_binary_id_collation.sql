-- salesforce-import: the id map's key columns compare bytes (COLLATE "C").
-- Salesforce ids, object names and tenant ids are identifiers, never text
-- to sort for people, and Salesforce orders ids by their bytes. Under the
-- database's own collation (en_US.UTF-8, C.UTF-8, ...) every comparison in
-- the primary key's B-tree calls the locale's strcoll; "C" is a memcmp:
-- recording and resolving a page's ids costs the server less.
--
-- Rewrites the table and rebuilds its primary key once.

ALTER TABLE sf_import_id_map
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN object    TYPE text COLLATE "C",
    ALTER COLUMN sf_id     TYPE text COLLATE "C";
