-- salesforce-import: change-aware re-runs and incremental sync.
-- The id map keeps each record's SystemModstamp (a re-run rewrites only
-- records Salesforce changed since) and whether it was deleted; each job
-- object keeps its counts of updated and deleted records, its keyset
-- position in (SystemModstamp, Id) order, and its watermark: where the
-- tenant's next sync of the object starts.

ALTER TABLE sf_import_jobs DROP CONSTRAINT sf_import_jobs_mode_check;
ALTER TABLE sf_import_jobs
    ADD CONSTRAINT sf_import_jobs_mode_check
        CHECK (mode IN ('skip_existing', 'update', 'update_changed')),
    ADD COLUMN sync boolean NOT NULL DEFAULT false;

ALTER TABLE sf_import_job_objects
    ADD COLUMN updated             bigint NOT NULL DEFAULT 0,
    ADD COLUMN deleted             bigint NOT NULL DEFAULT 0,
    ADD COLUMN checkpoint_modstamp timestamptz,
    ADD COLUMN watermark           timestamptz;

-- A sync's start: the greatest watermark of a done object per tenant.
CREATE INDEX sf_import_job_objects_watermark
    ON sf_import_job_objects (tenant_id, object, watermark DESC)
    WHERE state = 'DONE' AND watermark IS NOT NULL;

ALTER TABLE sf_import_id_map
    ADD COLUMN modstamp timestamptz,
    ADD COLUMN deleted  boolean NOT NULL DEFAULT false;
