-- salesforce-import: OAuth authorizations waiting for their callback
-- (`PgPendingAuthorizations`), shared by every application server so that
-- the callback may land on another server than the one that started it.
--
-- - The `state` is kept only as its SHA-256 (32 bytes): a leaked table
--   gives no state a callback would accept.
-- - The PKCE verifier is Fernet ciphertext made by the TokenCipher, like
--   the tokens in `sf_import_connections`.
-- - Rows are deleted when taken (single use) or, once expired, by a later
--   insert; `expires_at` is indexed for that.
-- - No row-level security: the callback looks a row up by the state alone,
--   before it knows the row's tenant, so a tenant policy would hide every
--   row. The state (unguessable, single use) is the access control, and the
--   caller then checks the row's tenant and user. See
--   `salesforce_import::postgres::PgPendingAuthorizations`.

CREATE TABLE sf_import_oauth_states (
    state_hash   bytea       PRIMARY KEY CHECK (octet_length(state_hash) = 32),
    tenant_id    text        NOT NULL,
    requested_by text        NOT NULL,
    verifier     text        NOT NULL,
    login_url    text        NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

CREATE INDEX sf_import_oauth_states_expiry ON sf_import_oauth_states (expires_at);
