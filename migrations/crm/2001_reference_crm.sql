-- salesforce-import: a reference CRM schema, following BottleCRM, that a
-- host can adopt as is (`salesforce_import::postgres::migrate_crm`).
--
-- Every table has `tenant_id` and the record's Salesforce id, unique per
-- tenant: the sink's idempotency key. References between records are
-- composite foreign keys on (tenant_id, id), so a record can only refer to a
-- record of its own tenant.
--
-- Constraints are named `<table>__<column>__<rule>`: the sink reads the
-- column from the name to report which Salesforce field a rejected record
-- broke.

CREATE TABLE crm_accounts (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           text        NOT NULL,
    sf_id               text        NOT NULL,
    name                text        NOT NULL,
    email               text,
    phone               text,
    website             text,
    industry            text,
    account_type        text,
    number_of_employees bigint,
    annual_revenue      numeric,
    currency            text,
    billing_street      text,
    billing_city        text,
    billing_state       text,
    billing_postcode    text,
    billing_country     text,
    description         text,
    parent_id           uuid,
    custom_fields       jsonb       NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT crm_accounts__sf_id__key UNIQUE (tenant_id, sf_id),
    CONSTRAINT crm_accounts__id__tenant UNIQUE (tenant_id, id),
    CONSTRAINT crm_accounts__name__blank CHECK (btrim(name) <> ''),
    CONSTRAINT crm_accounts__phone__len CHECK (char_length(phone) <= 20),
    CONSTRAINT crm_accounts__email__len CHECK (char_length(email) <= 254),
    CONSTRAINT crm_accounts__billing_country__iso CHECK (billing_country ~ '^[A-Z]{2}$'),
    CONSTRAINT crm_accounts__currency__iso CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT crm_accounts__number_of_employees__range CHECK (number_of_employees >= 0),
    CONSTRAINT crm_accounts__parent_id__fkey FOREIGN KEY (tenant_id, parent_id)
        REFERENCES crm_accounts (tenant_id, id)
);
-- BottleCRM: account names are unique per organisation, ignoring case.
CREATE UNIQUE INDEX crm_accounts__name__unique ON crm_accounts (tenant_id, lower(name));

CREATE TABLE crm_contacts (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         text        NOT NULL,
    sf_id             text        NOT NULL,
    first_name        text,
    last_name         text        NOT NULL,
    email             text,
    phone             text,
    title             text,
    department        text,
    do_not_call       boolean     NOT NULL DEFAULT false,
    mailing_street    text,
    mailing_city      text,
    mailing_state     text,
    mailing_postcode  text,
    mailing_country   text,
    description       text,
    account_id        uuid,
    custom_fields     jsonb       NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT crm_contacts__sf_id__key UNIQUE (tenant_id, sf_id),
    CONSTRAINT crm_contacts__id__tenant UNIQUE (tenant_id, id),
    CONSTRAINT crm_contacts__last_name__blank CHECK (btrim(last_name) <> ''),
    CONSTRAINT crm_contacts__phone__len CHECK (char_length(phone) <= 20),
    CONSTRAINT crm_contacts__email__len CHECK (char_length(email) <= 254),
    CONSTRAINT crm_contacts__mailing_country__iso CHECK (mailing_country ~ '^[A-Z]{2}$'),
    CONSTRAINT crm_contacts__account_id__fkey FOREIGN KEY (tenant_id, account_id)
        REFERENCES crm_accounts (tenant_id, id)
);

CREATE TABLE crm_opportunities (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        text        NOT NULL,
    sf_id            text        NOT NULL,
    name             text        NOT NULL,
    stage            text        NOT NULL,
    amount           numeric,
    probability      numeric,
    closed_on        date,
    lead_source      text,
    opportunity_type text,
    currency         text,
    description      text,
    account_id       uuid,
    contact_id       uuid,
    custom_fields    jsonb       NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT crm_opportunities__sf_id__key UNIQUE (tenant_id, sf_id),
    CONSTRAINT crm_opportunities__id__tenant UNIQUE (tenant_id, id),
    CONSTRAINT crm_opportunities__name__blank CHECK (btrim(name) <> ''),
    CONSTRAINT crm_opportunities__stage__known CHECK (stage IN
        ('PROSPECTING', 'QUALIFICATION', 'PROPOSAL', 'NEGOTIATION', 'CLOSED_WON', 'CLOSED_LOST')),
    CONSTRAINT crm_opportunities__probability__range CHECK (probability BETWEEN 0 AND 100),
    CONSTRAINT crm_opportunities__currency__iso CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT crm_opportunities__account_id__fkey FOREIGN KEY (tenant_id, account_id)
        REFERENCES crm_accounts (tenant_id, id),
    CONSTRAINT crm_opportunities__contact_id__fkey FOREIGN KEY (tenant_id, contact_id)
        REFERENCES crm_contacts (tenant_id, id)
);

CREATE TABLE crm_products (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     text        NOT NULL,
    sf_id         text        NOT NULL,
    name          text        NOT NULL,
    sku           text,
    description   text,
    is_active     boolean     NOT NULL DEFAULT true,
    family        text,
    price         numeric,
    currency      text,
    custom_fields jsonb       NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT crm_products__sf_id__key UNIQUE (tenant_id, sf_id),
    CONSTRAINT crm_products__id__tenant UNIQUE (tenant_id, id),
    CONSTRAINT crm_products__name__blank CHECK (btrim(name) <> ''),
    CONSTRAINT crm_products__currency__iso CHECK (currency ~ '^[A-Z]{3}$')
);

-- Price book entries: each names its product; the standard price book's
-- entry sets the product's price.
CREATE TABLE crm_product_prices (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  text        NOT NULL,
    sf_id      text        NOT NULL,
    product_id uuid        NOT NULL,
    price      numeric,
    currency   text,
    is_active  boolean     NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT crm_product_prices__sf_id__key UNIQUE (tenant_id, sf_id),
    CONSTRAINT crm_product_prices__currency__iso CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT crm_product_prices__product_id__fkey FOREIGN KEY (tenant_id, product_id)
        REFERENCES crm_products (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE crm_orders (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         text        NOT NULL,
    sf_id             text        NOT NULL,
    name              text,
    order_number      text,
    status            text        NOT NULL,
    order_date        date,
    activated_at      timestamptz,
    total_amount      numeric,
    currency          text,
    billing_street    text,
    billing_city      text,
    billing_state     text,
    billing_postcode  text,
    billing_country   text,
    shipping_street   text,
    shipping_city     text,
    shipping_state    text,
    shipping_postcode text,
    shipping_country  text,
    description       text,
    account_id        uuid        NOT NULL,
    contact_id        uuid,
    opportunity_id    uuid,
    custom_fields     jsonb       NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT crm_orders__sf_id__key UNIQUE (tenant_id, sf_id),
    CONSTRAINT crm_orders__id__tenant UNIQUE (tenant_id, id),
    CONSTRAINT crm_orders__status__known CHECK (status IN ('DRAFT', 'ACTIVATED', 'COMPLETED', 'CANCELLED')),
    CONSTRAINT crm_orders__currency__iso CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT crm_orders__billing_country__iso CHECK (billing_country ~ '^[A-Z]{2}$'),
    CONSTRAINT crm_orders__shipping_country__iso CHECK (shipping_country ~ '^[A-Z]{2}$'),
    CONSTRAINT crm_orders__account_id__fkey FOREIGN KEY (tenant_id, account_id)
        REFERENCES crm_accounts (tenant_id, id),
    CONSTRAINT crm_orders__contact_id__fkey FOREIGN KEY (tenant_id, contact_id)
        REFERENCES crm_contacts (tenant_id, id),
    CONSTRAINT crm_orders__opportunity_id__fkey FOREIGN KEY (tenant_id, opportunity_id)
        REFERENCES crm_opportunities (tenant_id, id)
);

CREATE TABLE crm_order_lines (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       text        NOT NULL,
    sf_id           text        NOT NULL,
    order_id        uuid        NOT NULL,
    product_id      uuid,
    name            text,
    quantity        numeric     NOT NULL,
    unit_price      numeric     NOT NULL,
    discount_amount numeric     NOT NULL DEFAULT 0,
    total           numeric     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT crm_order_lines__sf_id__key UNIQUE (tenant_id, sf_id),
    CONSTRAINT crm_order_lines__discount_amount__range CHECK (discount_amount >= 0),
    CONSTRAINT crm_order_lines__order_id__fkey FOREIGN KEY (tenant_id, order_id)
        REFERENCES crm_orders (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT crm_order_lines__product_id__fkey FOREIGN KEY (tenant_id, product_id)
        REFERENCES crm_products (tenant_id, id)
);

CREATE TABLE crm_quotes (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      text        NOT NULL,
    sf_id          text        NOT NULL,
    title          text        NOT NULL,
    quote_number   text,
    status         text        NOT NULL,
    subtotal       numeric,
    discount       numeric,
    tax            numeric,
    total          numeric,
    currency       text,
    expiry_date    date,
    notes          text,
    account_id     uuid,
    contact_id     uuid,
    opportunity_id uuid,
    custom_fields  jsonb       NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT crm_quotes__sf_id__key UNIQUE (tenant_id, sf_id),
    CONSTRAINT crm_quotes__id__tenant UNIQUE (tenant_id, id),
    CONSTRAINT crm_quotes__title__blank CHECK (btrim(title) <> ''),
    CONSTRAINT crm_quotes__status__known CHECK (status IN ('DRAFT', 'SENT', 'ACCEPTED', 'DECLINED')),
    CONSTRAINT crm_quotes__discount__range CHECK (discount BETWEEN 0 AND 100),
    CONSTRAINT crm_quotes__currency__iso CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT crm_quotes__account_id__fkey FOREIGN KEY (tenant_id, account_id)
        REFERENCES crm_accounts (tenant_id, id),
    CONSTRAINT crm_quotes__contact_id__fkey FOREIGN KEY (tenant_id, contact_id)
        REFERENCES crm_contacts (tenant_id, id),
    CONSTRAINT crm_quotes__opportunity_id__fkey FOREIGN KEY (tenant_id, opportunity_id)
        REFERENCES crm_opportunities (tenant_id, id)
);

CREATE TABLE crm_quote_lines (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  text        NOT NULL,
    sf_id      text        NOT NULL,
    quote_id   uuid        NOT NULL,
    product_id uuid,
    name       text,
    quantity   numeric     NOT NULL,
    unit_price numeric     NOT NULL,
    discount   numeric,
    total      numeric     NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT crm_quote_lines__sf_id__key UNIQUE (tenant_id, sf_id),
    CONSTRAINT crm_quote_lines__discount__range CHECK (discount BETWEEN 0 AND 100),
    CONSTRAINT crm_quote_lines__quote_id__fkey FOREIGN KEY (tenant_id, quote_id)
        REFERENCES crm_quotes (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT crm_quote_lines__product_id__fkey FOREIGN KEY (tenant_id, product_id)
        REFERENCES crm_products (tenant_id, id)
);
