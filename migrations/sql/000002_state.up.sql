-- Per-instance state that must survive a restart: replication slot and publication names, the
-- applied LSN, snapshot bookkeeping. Several vecgate instances can share one upstream database,
-- each under its own instance name.
CREATE TABLE vecgate.state (
    instance   text        NOT NULL DEFAULT 'default',
    key        text        NOT NULL,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance, key),
    CONSTRAINT state_key_check CHECK (key <> '')
);

COMMENT ON TABLE vecgate.state IS 'key/value state of each vecgate instance, e.g. replication.slot, replication.applied_lsn';
