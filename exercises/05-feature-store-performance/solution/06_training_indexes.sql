-- 06_training_indexes.sql (reference solution)
--
-- Section 3's training-data indexes: one for reading a dataset batch by batch, one for
-- the newest samples first.

-- task: index.training_batch
create index training_data_batch on training_data (dataset_id, batch_id)
    include (features, labels, processed_at);

create index training_data_time_series on training_data (created_at desc, dataset_id)
    include (sample_id, status);
