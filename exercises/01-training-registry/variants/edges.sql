-- variants/edges.sql: a hidden dataset of boundaries, NULLs and another shape of data.
--
-- Applied after setup/schema.sql and setup/seed.sql. It holds what the seed lacks:
--   * a run that took exactly one day (not "more than one day"), and one whose
--     completed_at - created_at is over a day while completed_at - started_at is not;
--   * accuracies on failed, cancelled, timed-out and running runs, which only the
--     status filter keeps out of the ranking;
--   * a NULL gpu_hours, a new framework with no success, one run fewer and seven more;
--   * a compute target none of whose runs records gpu_hours: it has no average, which
--     `ORDER BY avg(gpu_hours) DESC` would put first;
--   * a compute target with the highest average gpu_hours that has neither the largest
--     single run nor the largest sum;
--   * other starting values for the 03 updates (mistral's gpu_hours, bert's parameters),
--     so that typing the expected values in instead of computing them misses, another
--     model whose name starts like mistral's, names that contain mistral's and clip's,
--     and other run_ids than the seed's;
--   * a longest run whose name sorts last, accuracies equal to two decimals, an
--     accuracy of exactly 0, zero GPU hours that decide an average, and a model that
--     ran twice in one framework;
--   * a top compute target whose average has a second decimal (32.73) and a queued run
--     without gpu_hours, which counted as 0 would put another target on top;
--   * a failed run that took two days and thirty minutes: long, though neither
--     succeeded nor timed out, and with no whole hour beyond its days;
--   * names that contain whisper's and bert-sentiment's words, as a careless LIKE
--     would find them;
--   * a run of 25 hours across one midnight: longer than a day, though its dates are
--     one apart;
--   * a target whose average (32.725) rounds to the top one's (32.73) and whose name
--     sorts first, and one whose queued run counts: without it, its average would top
--     every target.

update training_runs
set run_id = ('00000000-0000-4000-8000-0000000300' || right(run_id::text, 2))::uuid;

update training_runs set gpu_hours = 40.0 where model_name = 'llm-fine-tune-mistral';
update training_runs set gpu_hours = 20.0 where model_name = 'multimodal-clip-training';
update training_runs
set parameters = '{"learning_rate": 0.0001, "batch_size": 16, "warmup_steps": 500}'
where model_name = 'bert-sentiment-analysis';

delete from training_runs where model_name = 'graph-neural-network';

insert into training_runs
    (run_id, created_by,
     model_name, framework, experiment_name, status,
     accuracy, loss, precision_score, recall_score, f1_score,
     dataset, compute_target, gpu_hours, cpu_hours,
     parameters, created_at, started_at, completed_at, notes)
values
    -- exactly one day from start to completion
    ('00000000-0000-4000-8000-000000030021', 'mlops',
     'bert-distillation', 'tensorflow', 'exp-distil-v1', 'succeeded',
     0.8500, 0.3900, 0.8400, 0.8600, 0.8499,
     'imdb-reviews', 'gcp-vertex-ai-t4', 6.0, 0.5,
     '{"teacher": "bert-base"}',
     timestamptz '2025-10-23 12:00:00+00' - interval '3 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '3 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '2 days',
     null),

    -- waited two days in the queue, then ran for 20 hours; failed with an accuracy
    -- above every succeeded pytorch run
    ('00000000-0000-4000-8000-000000030022', 'mlops',
     'diffusion-finetune', 'pytorch', 'exp-sd-lora', 'failed',
     0.9900, 0.0500, 0.9800, 0.9900, 0.9850,
     'laion-subset', 'k8s-gpu-a100', 9.0, 0.8,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '5 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '3 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '2 days 4 hours',
     null),

    -- cancelled and timed out, each with an accuracy above its framework's succeeded runs
    ('00000000-0000-4000-8000-000000030023', 'mlops',
     'tabnet-tabular', 'xgboost', 'exp-tabnet', 'cancelled',
     0.9700, null, null, null, null,
     'adult-income', 'aws-batch-cpu', 0.0, 3.3,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '2 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '2 days' + interval '1 minute',
     timestamptz '2025-10-23 12:00:00+00' - interval '1 day 22 hours',
     null),

    ('00000000-0000-4000-8000-000000030024', 'mlops',
     'long-context-t5', 'tensorflow', 'exp-t5-16k', 'timeout',
     0.9500, 0.2000, null, null, null,
     'pg19', 'gcp-tpu-v4', 3.5, 0.2,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '4 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '4 days' + interval '2 minutes',
     timestamptz '2025-10-23 12:00:00+00' - interval '3 days 10 hours',
     null),

    -- running, an early accuracy, and a name that starts like mistral's
    ('00000000-0000-4000-8000-000000030025', 'mlops',
     'llm-fine-tune-llama', 'pytorch', 'exp-llama-lora', 'running',
     0.9990, null, null, null, null,
     'alpaca-52k', 'aws-p4d-24xlarge', 5.0, 0.3,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '6 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '5 hours',
     null,
     null),

    -- a new framework with no success, and no gpu_hours recorded
    ('00000000-0000-4000-8000-000000030026', 'mlops',
     'mxnet-legacy-port', 'mxnet', 'exp-port', 'queued',
     null, null, null, null, null,
     'cifar-10', 'k8s-gpu-v100', null, 0.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '1 hour',
     null, null, null),

    -- the longest run, on a target whose queued runs record no GPU hours: its
    -- average (12.00) is low, but without the zeros it would top every target; its
    -- accuracy rounds to the same two decimals as resnet50's, and its name sorts after
    -- the other long runs
    ('00000000-0000-4000-8000-000000030027', 'mlops',
     'wav2vec-pretraining', 'pytorch', 'exp-w2v-large', 'succeeded',
     0.9201, 0.2500, 0.9100, 0.9300, 0.9199,
     'librispeech-960h', 'on-prem-dgx-a100', 36.0, 4.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '5 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '5 days' + interval '1 minute',
     timestamptz '2025-10-23 12:00:00+00' - interval '2 days',
     null),

    -- names that contain mistral's and clip's, as a careless LIKE would find them
    ('00000000-0000-4000-8000-000000030028', 'mlops',
     'mistral-7b-eval', 'pytorch', 'exp-mistral-eval', 'running',
     null, null, null, null, null,
     'mmlu', 'on-prem-dgx-a100', 0.0, 0.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '2 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '1 hour',
     null,
     null),

    ('00000000-0000-4000-8000-000000030029', 'mlops',
     'clip-zero-shot-eval', 'pytorch', 'exp-clip-eval', 'queued',
     null, null, null, null, null,
     'imagenet-1k', 'on-prem-dgx-a100', 0.0, 0.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '20 minutes',
     null, null, null),

    -- a succeeded run whose accuracy is exactly 0
    ('00000000-0000-4000-8000-000000030030', 'mlops',
     'dummy-baseline', 'sklearn', 'exp-baseline', 'succeeded',
     0.0000, 2.3026, 0.0000, 0.0000, 0.0000,
     'adult-income', 'aws-batch-cpu', 0.0, 0.1,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '3 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '3 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '2 hours 59 minutes',
     null),

    -- a second run of a seeded model in the same framework (another experiment), failed
    ('00000000-0000-4000-8000-000000030031', 'mlops',
     'resnet50-classification', 'pytorch', 'exp-resnet50-v2', 'failed',
     0.6100, 1.2000, null, null, null,
     'imagenet-1k', 'k8s-gpu-a100', 2.0, 0.5,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '8 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '8 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '7 hours',
     null),

    -- the only run of its compute target, with no gpu_hours recorded
    ('00000000-0000-4000-8000-000000030032', 'mlops',
     'tpu-smoke-test', 'jax', 'exp-tpu-smoke', 'cancelled',
     null, null, null, null, null,
     'mnist', 'edge-tpu-pod', null, 0.2,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '5 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '5 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '4 hours 30 minutes',
     'Cancelled before the first step.'),

    -- the top target's second run, and a third still queued with no gpu_hours
    ('00000000-0000-4000-8000-000000030033', 'mlops',
     'wide-resnet-probe', 'tensorflow', 'exp-wrn', 'failed',
     null, null, null, null, null,
     'cifar-100', 'gcp-vertex-ai-v100', 33.06, 1.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '7 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '7 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '6 hours',
     null),

    ('00000000-0000-4000-8000-000000030034', 'mlops',
     'wide-resnet-rerun', 'tensorflow', 'exp-wrn', 'queued',
     null, null, null, null, null,
     'cifar-100', 'gcp-vertex-ai-v100', null, 0.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '10 minutes',
     null, null, null),

    -- failed after two days and thirty minutes
    ('00000000-0000-4000-8000-000000030035', 'mlops',
     'graph-transformer', 'jax', 'exp-graphormer', 'failed',
     0.4100, 1.7000, null, null, null,
     'ogbg-molhiv', 'k8s-gpu-a100', 12.0, 1.5,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '4 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '4 days',
     timestamptz '2025-10-23 12:00:00+00' - interval '4 days' + interval '2 days 30 minutes',
     null),

    -- names that contain whisper's and bert-sentiment's words
    ('00000000-0000-4000-8000-000000030036', 'mlops',
     'whisper-large-distill', 'pytorch', 'exp-whisper-distill', 'queued',
     null, null, null, null, null,
     'librispeech-960h', 'k8s-gpu-v100', 0.0, 0.0,
     '{"teacher": "whisper-large"}',
     timestamptz '2025-10-23 12:00:00+00' - interval '15 minutes',
     null, null, null),

    ('00000000-0000-4000-8000-000000030037', 'mlops',
     'sentiment-lexicon-baseline', 'sklearn', 'exp-lexicon', 'succeeded',
     0.7100, 0.6100, 0.7000, 0.7200, 0.7099,
     'imdb-reviews', 'aws-batch-cpu', 0.0, 0.4,
     '{"lexicon": "vader"}',
     timestamptz '2025-10-23 12:00:00+00' - interval '9 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '9 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '8 hours 30 minutes',
     null),

    -- 25 hours, from half past midnight to half past one the next night
    ('00000000-0000-4000-8000-000000030038', 'mlops',
     'catboost-sweep', 'xgboost', 'exp-sweep', 'timeout',
     null, null, null, null, null,
     'criteo-1tb', 'aws-batch-cpu', 0.0, 25.0,
     '{}',
     timestamptz '2025-10-20 00:00:00+00',
     timestamptz '2025-10-20 00:30:00+00',
     timestamptz '2025-10-21 01:30:00+00',
     null),

    -- an average of 32.725, which rounds to the top target's 32.73
    ('00000000-0000-4000-8000-000000030039', 'mlops',
     'trainium-bench-a', 'pytorch', 'exp-trn1', 'failed',
     null, null, null, null, null,
     'c4-subset', 'aws-trn1-32xlarge', 32.72, 1.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '11 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '11 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '10 hours',
     null),

    ('00000000-0000-4000-8000-000000030040', 'mlops',
     'trainium-bench-b', 'pytorch', 'exp-trn1', 'cancelled',
     null, null, null, null, null,
     'c4-subset', 'aws-trn1-32xlarge', 32.73, 1.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '10 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '10 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '9 hours',
     null),

    -- 40 GPU hours, and a queued run that brings the average down to 20
    ('00000000-0000-4000-8000-000000030041', 'mlops',
     'a100-stress', 'jax', 'exp-stress', 'failed',
     null, null, null, null, null,
     'synthetic', 'azure-nd-a100-v4', 40.0, 2.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '12 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '12 hours',
     timestamptz '2025-10-23 12:00:00+00' - interval '11 hours',
     null),

    ('00000000-0000-4000-8000-000000030042', 'mlops',
     'a100-stress-rerun', 'jax', 'exp-stress', 'queued',
     null, null, null, null, null,
     'synthetic', 'azure-nd-a100-v4', 0.0, 0.0,
     '{}',
     timestamptz '2025-10-23 12:00:00+00' - interval '5 minutes',
     null, null, null);
