-- setup/feature-table.sql: the feature store's table, which setup/features.sql fills
-- with the rows plans are judged on, and variants/another-history.sql with a hidden,
-- smaller history.

create table user_features (
    id            bigint generated always as identity,
    user_id       integer          not null,
    feature_name  text             not null,
    value         double precision not null,
    version       text             not null default 'latest',
    is_active     boolean          not null default true,
    metadata      jsonb            not null default '{}',
    created_at    timestamptz      not null
);
