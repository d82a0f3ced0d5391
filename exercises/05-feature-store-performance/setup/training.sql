-- setup/training.sql: the training samples that the batch and time-series indexes serve.
--
-- 40 datasets of 500 samples each, in batches of 50, created over two months; every
-- value is arithmetic on the sample's numbers, so the rows are the same everywhere.

create table training_data (
    sample_id     bigint generated always as identity primary key,
    dataset_id    integer     not null,
    batch_id      integer     not null,
    features      real[]      not null,
    labels        integer     not null,
    status        text        not null,
    processed_at  timestamptz,
    created_at    timestamptz not null
);

insert into training_data (dataset_id, batch_id, features, labels, status, processed_at, created_at)
select d, s / 50,
       array[((d * 7 + s) % 100) / 100.0, ((d + s * 3) % 50) / 50.0, ((d * s) % 10) / 10.0]::real[],
       (d + s) % 3,
       (array['new', 'queued', 'processed'])[1 + (d + s) % 3],
       case when (d + s) % 3 = 2
            then timestamptz '2024-01-01 00:00:00+00' + make_interval(hours => d * 24 + s % 24, mins => 30)
       end,
       timestamptz '2024-01-01 00:00:00+00' + make_interval(hours => d * 24 + s % 24)
from generate_series(1, 40) d, generate_series(0, 499) s
order by d, s;

vacuum (analyze) training_data;
