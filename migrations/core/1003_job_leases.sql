-- salesforce-import: job leases. A running job is leased to one process
-- (lease_owner) until lease_expires_at, renewed by its heartbeat; a running
-- job whose lease lapsed is stranded and may be taken over. lease_token is
-- the fencing token: it grows with every acquisition and is kept when the
-- lease is released, so a stale owner's writes can always be told apart.

ALTER TABLE sf_import_jobs
    ADD COLUMN lease_owner      text,
    ADD COLUMN lease_token      bigint NOT NULL DEFAULT 0,
    ADD COLUMN lease_expires_at timestamptz;

-- Recovery: running jobs by the end of their lease.
CREATE INDEX sf_import_jobs_stranded
    ON sf_import_jobs (lease_expires_at NULLS FIRST)
    WHERE status IN ('PENDING', 'IN_PROGRESS');
