-- salesforce-import: job store, id map and token vault tables.
-- Applied by `salesforce_import::postgres::migrate` (migrations table
-- `_sf_import_migrations`). Every table carries `tenant_id`, and every
-- query of the crate filters by it.

CREATE TABLE sf_import_jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    text        NOT NULL,
    status       text        NOT NULL CHECK (status IN
                     ('PENDING', 'IN_PROGRESS', 'COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELLED')),
    started_by   text        NOT NULL,
    mode         text        NOT NULL CHECK (mode IN ('skip_existing', 'update')),
    created_at   timestamptz NOT NULL,
    started_at   timestamptz,
    completed_at timestamptz,
    message      text
);

-- One running import per tenant, enforced by the database: two application
-- servers racing to start an import for one tenant cannot both succeed.
CREATE UNIQUE INDEX sf_import_jobs_one_running
    ON sf_import_jobs (tenant_id) WHERE status IN ('PENDING', 'IN_PROGRESS');

-- History: newest first per tenant.
CREATE INDEX sf_import_jobs_history ON sf_import_jobs (tenant_id, created_at DESC, id DESC);

CREATE TABLE sf_import_job_objects (
    tenant_id  text   NOT NULL,
    job_id     bigint NOT NULL REFERENCES sf_import_jobs (id) ON DELETE CASCADE,
    position   int    NOT NULL,
    object     text   NOT NULL,
    state      text   NOT NULL CHECK (state IN
                   ('PENDING', 'IMPORTING', 'DONE', 'FAILED', 'UNAVAILABLE', 'CANCELLED')),
    total      bigint,
    imported   bigint NOT NULL DEFAULT 0,
    skipped    bigint NOT NULL DEFAULT 0,
    errors     bigint NOT NULL DEFAULT 0,
    warnings   bigint NOT NULL DEFAULT 0,
    -- The last Salesforce id whose page was recorded: resume after it.
    checkpoint text,
    PRIMARY KEY (job_id, object)
);

CREATE TABLE sf_import_job_log (
    job_id    bigint NOT NULL REFERENCES sf_import_jobs (id) ON DELETE CASCADE,
    seq       bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id text   NOT NULL,
    severity  text   NOT NULL CHECK (severity IN ('ERROR', 'WARNING')),
    object    text   NOT NULL,
    sf_id     text,
    field     text   NOT NULL,
    message   text   NOT NULL,
    problem   jsonb  NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- Salesforce id -> CRM id, unique per tenant, object and Salesforce id.
CREATE TABLE sf_import_id_map (
    tenant_id   text        NOT NULL,
    object      text        NOT NULL,
    sf_id       text        NOT NULL,
    crm_id      text        NOT NULL,
    job_id      bigint,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, object, sf_id)
);

-- One Salesforce connection per tenant. Tokens are Fernet ciphertext
-- (never plain text); a deactivated connection keeps its row without tokens.
CREATE TABLE sf_import_connections (
    tenant_id     text        PRIMARY KEY,
    instance_url  text        NOT NULL,
    access_token  text,
    refresh_token text,
    identity_url  text,
    connected_by  text        NOT NULL,
    connected_at  timestamptz NOT NULL,
    refreshed_at  timestamptz,
    active        boolean     NOT NULL DEFAULT true,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
