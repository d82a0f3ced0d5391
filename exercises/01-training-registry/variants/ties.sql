-- variants/ties.sql: a hidden dataset of ties and repeated values.
--
-- Applied after setup/schema.sql and setup/seed.sql. The 04 answers and the 03 updates
-- run on it too, and must give this data's right answers. It holds what the seed lacks:
--   * equal accuracies inside a framework, at the top and at the bottom, so that rank(),
--     dense_rank() and row_number() give different numbers;
--   * two runs of the same duration among the long runs (either may come first);
--   * gpu_hours values that repeat, so that sum(DISTINCT ...) is not sum(...), and a
--     compute target with the largest sum of gpu_hours but not the largest average;
--   * other run_ids than the seed's, so that an update aimed at an id misses;
--   * a tie for the highest average gpu_hours (azure-nd-h100 and k8s-gpu-h100,
--     148.00 each) just above a target whose sum, maximum and average of distinct
--     values are the largest (k8s-gpu-a100-cluster, 147.93), and a winner whose runs
--     differ and repeat, so that its sum, min, max and average of distinct values are
--     not its average;
--   * the same model run twice with the same accuracy and the same duration, so that
--     DISTINCT drops a row that belongs in the ranking and among the long runs;
--   * a third run tied at the top of pytorch, added last though its name sorts first.

update training_runs
set run_id = ('00000000-0000-4000-8000-0000000200' || right(run_id::text, 2))::uuid;

insert into training_runs
    (run_id, created_by,
     model_name, framework, experiment_name, status,
     accuracy, loss, precision_score, recall_score, f1_score,
     dataset, compute_target, gpu_hours, cpu_hours,
     parameters, created_at, started_at, completed_at, notes)
values
    -- pytorch: tied with resnet50-classification at the top (0.9234), and as long as
    -- object-detection-yolo (1 day 11:45)
    ('00000000-0000-4000-8000-000000020021', 'mlops',
     'vit-base-classification', 'pytorch', 'exp-vit-b16', 'succeeded',
     0.9234, 0.2711, 0.9201, 0.9188, 0.9194,
     'imagenet-1k', 'k8s-gpu-v100', 24.5, 2.0,
     '{"patch_size": 16, "epochs": 40}',
     timestamptz '2025-10-23 12:00:00+00' - interval '9 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '9 days' + interval '30 minutes',
     timestamptz '2025-10-23 12:00:00+00' - interval '9 days' + interval '30 minutes' + interval '1 day 11 hours 45 minutes',
     'Ties the baseline.'),

    -- tensorflow: tied with bert-question-answering at the bottom (0.8145)
    ('00000000-0000-4000-8000-000000020022', 'mlops',
     'efficientnet-b0-transfer', 'tensorflow', 'exp-effnet-b0', 'succeeded',
     0.8145, 0.4410, 0.8102, 0.8190, 0.8146,
     'food-101', 'k8s-gpu-a100', 48.5, 1.2,
     '{"fine_tune_layers": 20}',
     timestamptz '2025-10-23 12:00:00+00' - interval '6 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '6 days' + interval '4 minutes',
     timestamptz '2025-10-23 12:00:00+00' - interval '5 days 2 hours',
     null),

    -- k8s-gpu-a100 now sums to the most gpu_hours (162.40) while its average (32.48)
    -- stays below k8s-gpu-a100-cluster's 156.20; 48.50 and 12.30 repeat values
    ('00000000-0000-4000-8000-000000020023', 'mlops',
     'wav2vec-asr', 'pytorch', 'exp-wav2vec-large', 'failed',
     null, null, null, null, null,
     'librispeech-960h', 'k8s-gpu-a100', 48.5, 3.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '8 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '8 days' + interval '6 minutes',
     timestamptz '2025-10-23 12:00:00+00' - interval '7 days 3 hours',
     'Diverged.'),

    ('00000000-0000-4000-8000-000000020024', 'mlops',
     'xgboost-churn', 'xgboost', 'exp-churn-v3', 'succeeded',
     0.8700, 0.3100, 0.8600, 0.8800, 0.8699,
     'telco-churn', 'aws-batch-gpu', 12.3, 0.4,
     '{"max_depth": 6}',
     timestamptz '2025-10-23 12:00:00+00' - interval '1 day',
     timestamptz '2025-10-23 12:00:00+00' - interval '1 day' + interval '1 minute',
     timestamptz '2025-10-23 12:00:00+00' - interval '20 hours',
     null),

    -- the tie for the highest average: azure-nd-h100 (147.00, 147.00, 150.00, the last
    -- in another framework) and k8s-gpu-h100 (148.00); k8s-gpu-a100-cluster falls to
    -- 147.93
    ('00000000-0000-4000-8000-000000020025', 'mlops',
     'llama-13b-pretrain', 'pytorch', 'exp-llama-13b', 'failed',
     null, null, null, null, null,
     'redpajama-sample', 'azure-nd-h100', 147.0, 20.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '12 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '12 days' + interval '5 minutes',
     timestamptz '2025-10-23 12:00:00+00' - interval '11 days 18 hours',
     'Out of memory at step 40k.'),

    ('00000000-0000-4000-8000-000000020026', 'mlops',
     'llama-13b-pretrain', 'pytorch', 'exp-llama-13b', 'failed',
     null, null, null, null, null,
     'redpajama-sample', 'azure-nd-h100', 147.0, 20.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '11 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '11 days' + interval '5 minutes',
     timestamptz '2025-10-23 12:00:00+00' - interval '10 days 18 hours',
     'Out of memory again.'),

    ('00000000-0000-4000-8000-000000020027', 'mlops',
     'llama-13b-pretrain-jax', 'jax', 'exp-llama-13b', 'cancelled',
     null, null, null, null, null,
     'redpajama-sample', 'azure-nd-h100', 150.0, 20.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '10 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '10 days' + interval '5 minutes',
     timestamptz '2025-10-23 12:00:00+00' - interval '9 days 18 hours',
     null),

    ('00000000-0000-4000-8000-000000020028', 'mlops',
     'gpt-neo-sweep', 'jax', 'exp-neo-lr', 'timeout',
     null, null, null, null, null,
     'pile-subset', 'k8s-gpu-h100', 148.0, 10.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '4 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '4 days' + interval '2 minutes',
     timestamptz '2025-10-23 12:00:00+00' - interval '3 days 12 hours',
     'Hit the 12-hour limit.'),

    ('00000000-0000-4000-8000-000000020029', 'mlops',
     'siglip-large-finetune', 'pytorch', 'exp-siglip-l14', 'failed',
     null, null, null, null, null,
     'laion-400m-subset', 'k8s-gpu-a100-cluster', 143.8, 8.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '14 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '14 days' + interval '10 minutes',
     timestamptz '2025-10-23 12:00:00+00' - interval '13 days 12 hours',
     null),

    ('00000000-0000-4000-8000-000000020030', 'mlops',
     'siglip-large-finetune', 'pytorch', 'exp-siglip-l14', 'failed',
     null, null, null, null, null,
     'laion-400m-subset', 'k8s-gpu-a100-cluster', 143.8, 8.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '13 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '13 days' + interval '10 minutes',
     timestamptz '2025-10-23 12:00:00+00' - interval '12 days 12 hours',
     null),

    -- vit-base-classification again, a day later: the same accuracy and the same
    -- duration as its first run
    ('00000000-0000-4000-8000-000000020031', 'mlops',
     'vit-base-classification', 'pytorch', 'exp-vit-b16-rerun', 'succeeded',
     0.9234, 0.2709, 0.9199, 0.9190, 0.9194,
     'imagenet-1k', 'k8s-gpu-v100', 24.5, 2.0,
     '{"patch_size": 16, "epochs": 40}',
     timestamptz '2025-10-23 12:00:00+00' - interval '8 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '8 days' + interval '30 minutes',
     timestamptz '2025-10-23 12:00:00+00' - interval '8 days' + interval '30 minutes' + interval '1 day 11 hours 45 minutes',
     'Same seed, same result.'),

    -- a third run tied at the top of pytorch (0.9234), whose name sorts first
    ('00000000-0000-4000-8000-000000020032', 'mlops',
     'alexnet-revisited', 'pytorch', 'exp-alexnet', 'succeeded',
     0.9234, 0.3001, 0.9100, 0.9300, 0.9199,
     'imagenet-1k', 'on-premise-gpu', 3.2, 1.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '2 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '2 days' + interval '3 minutes',
     timestamptz '2025-10-23 12:00:00+00' - interval '1 day 20 hours',
     null);
