-- salesforce-import: a durable cursor kept with each object's checkpoint
-- (a Bulk API job's locator): a resumed job continues from it instead of
-- querying again.

ALTER TABLE sf_import_job_objects ADD COLUMN resume_cursor text;
