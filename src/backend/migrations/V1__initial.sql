-- alp-connex backend, schema version 1: connectors, mappings and their
-- links, the configurations pushed, the audit log and the push outbox.
-- Applied by refinery at start (embedded in the binary); never edited once
-- released: a change is a new V{n}__*.sql.

-- A connector as the API shows it; `settings` is that kind's managed
-- configuration (docs/contract.md). `version` is the ETag: 1 at creation,
-- one more at every change of the connector or of its links.
CREATE TABLE connectors (
    id          text        PRIMARY KEY
                CONSTRAINT connectors_id_form CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    kind        text        NOT NULL
                CONSTRAINT connectors_kind_known
                CHECK (kind IN ('iec104-inbound', 'iec104-server', 'mqtt')),
    name        text        NOT NULL
                CONSTRAINT connectors_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    description text        NOT NULL DEFAULT ''
                CONSTRAINT connectors_description_length CHECK (char_length(description) <= 2000),
    enabled     boolean     NOT NULL DEFAULT true,
    settings    jsonb       NOT NULL DEFAULT '{}'
                CONSTRAINT connectors_settings_object CHECK (jsonb_typeof(settings) = 'object'),
    version     bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- An MQTT mapping: `body` is the contract's `mappings[]` element without
-- its `id` (the row's).
CREATE TABLE mappings (
    id          text        PRIMARY KEY
                CONSTRAINT mappings_id_form CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    name        text        NOT NULL
                CONSTRAINT mappings_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    description text        NOT NULL DEFAULT ''
                CONSTRAINT mappings_description_length CHECK (char_length(description) <= 2000),
    body        jsonb       NOT NULL
                CONSTRAINT mappings_body_object
                CHECK (jsonb_typeof(body) = 'object' AND NOT body ? 'id'),
    version     bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The mappings of an `mqtt` connector, in order. Deleting a connector
-- deletes its links; deleting a mapping that a connector still uses is
-- refused (RESTRICT): it would silently change what a running connector
-- writes into the process image, so the links are removed first, each a
-- recorded change of its connector.
CREATE TABLE connector_mappings (
    connector_id text    NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    mapping_id   text    NOT NULL REFERENCES mappings (id) ON DELETE RESTRICT,
    position     integer NOT NULL CHECK (position >= 0),
    PRIMARY KEY (connector_id, mapping_id),
    CONSTRAINT connector_mappings_position_unique UNIQUE (connector_id, position)
);
CREATE INDEX connector_mappings_by_mapping ON connector_mappings (mapping_id);

-- Every effective managed configuration pushed to a connector, numbered
-- from 1 per connector; gone with the connector (the audit log keeps its
-- last state).
CREATE TABLE config_versions (
    connector_id text        NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    n            bigint      NOT NULL CHECK (n >= 1),
    config       jsonb       NOT NULL,
    actor        text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connector_id, n)
);

-- Who changed what, when, with the entity before and after (NULL for a
-- creation's before and a deletion's after). Written in the transaction
-- of the change.
CREATE TABLE audit (
    id        bigserial   PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text        NOT NULL,
    action    text        NOT NULL,
    entity    text        NOT NULL,
    entity_id text        NOT NULL,
    before    jsonb,
    after     jsonb
);
CREATE INDEX audit_by_time ON audit (at);
CREATE INDEX audit_by_actor ON audit (actor, at);

-- Connectors whose key in Valkey still has to be brought in line with the
-- database, committed in the transaction of the change, so that a Valkey
-- outage loses nothing. No foreign key: a deleted connector's key must
-- still be removed. `generation` counts the changes since the row was
-- made, so that a push finished for an older generation does not drop a
-- newer change.
CREATE TABLE push_outbox (
    connector_id text        PRIMARY KEY,
    generation   bigint      NOT NULL DEFAULT 1,
    since        timestamptz NOT NULL DEFAULT now(),
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text
);
