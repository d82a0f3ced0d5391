-- 02_seed_training_runs.sql (reference solution)
--
-- Loads the 20 sample runs into the instructor's table. Every timestamp is
-- written relative to now(), so the data always looks recent; run_id and
-- created_by come from the column defaults.

insert into training_runs
    (model_name, framework, experiment_name, status,
     accuracy, loss, precision_score, recall_score, f1_score,
     dataset, compute_target, gpu_hours, cpu_hours,
     parameters,
     created_at,
     started_at,
     completed_at,
     notes)
values
    -- 01: succeeded
    ('resnet50-classification', 'pytorch', 'exp-baseline-2025-q1', 'succeeded',
     0.9234, 0.2876, 0.9156, 0.9312, 0.9233,
     'imagenet-1k', 'k8s-gpu-a100', 24.5, 2.1,
     '{"learning_rate": 0.001, "batch_size": 64, "optimizer": "adam", "epochs": 30, "augmentation": true}',
     now() - interval '5 days',
     now() - interval '5 days' + interval '10 minutes',
     now() - interval '4 days 1 hour',
     'Baseline model achieved target accuracy. Ready for deployment.'),

    -- 02: succeeded
    ('bert-sentiment-analysis', 'tensorflow', 'exp-bert-base-v1', 'succeeded',
     0.8923, 0.3245, 0.8856, 0.8991, 0.8923,
     'imdb-reviews', 'aws-sagemaker-p3', 16.2, 1.5,
     '{"learning_rate": 0.00005, "batch_size": 32, "max_length": 512, "model_checkpoint": "bert-base-uncased"}',
     now() - interval '7 days',
     now() - interval '7 days' + interval '5 minutes',
     now() - interval '6 days 8 hours',
     'BERT fine-tuning completed. F1 score meets SLA requirements.'),

    -- 03: succeeded
    ('recommendation-collaborative-filter', 'sklearn', 'exp-svd-baseline', 'succeeded',
     null, 0.1234, null, null, null,
     'movielens-25m', 'on-premise-cpu', 0.0, 45.6,
     '{"algorithm": "SVD", "n_factors": 100, "n_epochs": 20, "lr_all": 0.005, "reg_all": 0.02}',
     now() - interval '3 days',
     now() - interval '3 days' + interval '2 minutes',
     now() - interval '2 days 20 hours',
     'SVD baseline for comparison. RMSE: 0.1234'),

    -- 04: succeeded
    ('object-detection-yolo', 'pytorch', 'exp-yolo-v8-coco', 'succeeded',
     0.7845, 1.2345, 0.7623, 0.8012, 0.7812,
     'coco-2017', 'gcp-vertex-ai-v100', 32.4, 3.2,
     '{"model": "yolov8l", "img_size": 640, "batch_size": 16, "epochs": 50, "iou_threshold": 0.5}',
     now() - interval '10 days',
     now() - interval '10 days' + interval '15 minutes',
     now() - interval '8 days 12 hours',
     'YOLOv8 training complete. mAP@0.5: 0.7845. Deployed to production.'),

    -- 05: succeeded
    ('timeseries-lstm-forecast', 'tensorflow', 'exp-lstm-multistep-v2', 'succeeded',
     null, 0.0456, null, null, null,
     'energy-consumption-hourly', 'aws-batch-gpu', 8.7, 0.9,
     '{"layers": [128, 64, 32], "dropout": 0.2, "sequence_length": 168, "forecast_horizon": 24}',
     now() - interval '2 days',
     now() - interval '2 days' + interval '3 minutes',
     now() - interval '1 day 14 hours',
     'LSTM forecast model. MAE improved by 12% vs baseline.'),

    -- 06: failed
    ('gan-image-generation', 'pytorch', 'exp-stylegan3-highres', 'failed',
     null, null, null, null, null,
     'ffhq-512x512', 'k8s-gpu-a100', 12.3, 1.1,
     '{"resolution": 512, "batch_size": 8, "g_lr": 0.0025, "d_lr": 0.0025}',
     now() - interval '1 day',
     now() - interval '1 day' + interval '8 minutes',
     now() - interval '1 day' + interval '12 hours 20 minutes',
     'Training failed: OOM error. Discriminator loss exploded at iteration 45000. Need to reduce batch size.'),

    -- 07: failed
    ('nlp-transformer-translation', 'jax', 'exp-t5-en-fr', 'failed',
     null, null, null, null, null,
     'wmt14-en-fr', 'gcp-tpu-v3', 0.0, 156.3,
     '{"model": "t5-base", "max_source_length": 128, "max_target_length": 128, "batch_size": 64}',
     now() - interval '4 days',
     now() - interval '4 days' + interval '20 minutes',
     now() - interval '3 days 18 hours',
     'JAX/Flax training failed: TPU out of memory. Reduce batch size from 64 to 32.'),

    -- 08: failed
    ('anomaly-detection-autoencoder', 'tensorflow', 'exp-vae-network-intrusion', 'failed',
     null, null, null, null, null,
     'kdd-cup-99', 'on-premise-gpu', 3.2, 0.4,
     '{"latent_dim": 16, "encoder_layers": [128, 64], "decoder_layers": [64, 128]}',
     now() - interval '6 days',
     now() - interval '6 days' + interval '5 minutes',
     now() - interval '6 days' + interval '3 hours 12 minutes',
     'Training diverged. Loss became NaN after epoch 12. Investigating data preprocessing.'),

    -- 09: running
    ('llm-fine-tune-mistral', 'pytorch', 'exp-mistral-7b-instruct', 'running',
     null, null, null, null, null,
     'custom-instruction-dataset', 'aws-p4d-24xlarge', 48.5, 4.2,
     '{"model": "mistral-7b-v0.1", "lora_r": 16, "lora_alpha": 32, "batch_size": 4, "gradient_accumulation": 8}',
     now() - interval '6 hours',
     now() - interval '5 hours 55 minutes',
     null,
     null),

    -- 10: running
    ('multimodal-clip-training', 'pytorch', 'exp-clip-vit-b32', 'running',
     null, null, null, null, null,
     'laion-400m-subset', 'k8s-gpu-a100-cluster', 156.2, 12.3,
     '{"vision_model": "vit-b-32", "text_model": "bert-base", "batch_size": 256, "num_gpus": 8}',
     now() - interval '2 days 4 hours',
     now() - interval '2 days 3 hours 50 minutes',
     null,
     null),

    -- 11: queued
    ('speech-recognition-whisper', 'pytorch', 'exp-whisper-large-v3', 'queued',
     null, null, null, null, null,
     'librispeech-960h', 'gcp-vertex-ai-a100', 0.0, 0.0,
     '{"model": "whisper-large-v3", "batch_size": 16, "gradient_checkpointing": true}',
     now() - interval '30 minutes',
     null,
     null,
     null),

    -- 12: queued
    ('reinforcement-learning-ppo', 'pytorch', 'exp-ppo-atari-breakout', 'queued',
     null, null, null, null, null,
     'atari-breakout', 'on-premise-gpu', 0.0, 0.0,
     '{"algorithm": "ppo", "num_envs": 16, "num_steps": 128, "num_epochs": 4, "clip_range": 0.2}',
     now() - interval '15 minutes',
     null,
     null,
     null),

    -- 13: cancelled
    ('graph-neural-network', 'pytorch', 'exp-gnn-molecular-properties', 'cancelled',
     null, null, null, null, null,
     'qm9-molecules', 'aws-batch-cpu', 0.0, 12.3,
     '{"model": "gcn", "hidden_dim": 128, "num_layers": 4, "pooling": "mean"}',
     now() - interval '8 days',
     now() - interval '8 days' + interval '10 minutes',
     now() - interval '8 days' + interval '2 hours 5 minutes',
     'Cancelled by user. Dataset preprocessing issues discovered. Will retry with corrected data.'),

    -- 14: timeout
    ('neural-architecture-search', 'tensorflow', 'exp-nas-efficient-net', 'timeout',
     null, null, null, null, null,
     'cifar-100', 'gcp-tpu-v4', 0.0, 456.7,
     '{"search_space": "efficientnet", "num_trials": 1000, "time_budget_hours": 48}',
     now() - interval '12 days',
     now() - interval '12 days' + interval '30 minutes',
     now() - interval '10 days',
     'Exceeded 48-hour time budget. Architecture search incomplete. Consider resuming from checkpoint.'),

    -- 15: succeeded
    ('tabular-xgboost-classification', 'xgboost', 'exp-xgb-fraud-detection', 'succeeded',
     0.9567, 0.1234, 0.9423, 0.9689, 0.9554,
     'credit-card-fraud', 'aws-batch-cpu', 0.0, 8.9,
     '{"max_depth": 6, "learning_rate": 0.1, "n_estimators": 200, "objective": "binary:logistic"}',
     now() - interval '1 day',
     now() - interval '1 day' + interval '2 minutes',
     now() - interval '1 day' + interval '8 hours 45 minutes',
     'XGBoost fraud detection. Precision: 0.9423, Recall: 0.9689. Deployed to prod.'),

    -- 16: succeeded
    ('semantic-segmentation-unet', 'pytorch', 'exp-unet-medical-imaging', 'succeeded',
     0.8834, 0.2145, 0.8756, 0.8912, 0.8833,
     'medical-ct-scans', 'k8s-gpu-v100', 18.9, 1.8,
     '{"architecture": "unet", "encoder": "resnet34", "num_classes": 3, "loss": "dice_ce"}',
     now() - interval '9 days',
     now() - interval '9 days' + interval '12 minutes',
     now() - interval '8 days 6 hours',
     'U-Net segmentation for medical imaging. Dice: 0.8834. Clinical validation pending.'),

    -- 17: succeeded
    ('time-series-prophet-forecast', 'sklearn', 'exp-prophet-sales-forecast', 'succeeded',
     null, 0.0892, null, null, null,
     'retail-sales-monthly', 'on-premise-cpu', 0.0, 2.3,
     '{"seasonality_mode": "multiplicative", "yearly_seasonality": true, "weekly_seasonality": false}',
     now() - interval '5 days',
     now() - interval '5 days' + interval '1 minute',
     now() - interval '5 days' + interval '2 hours 15 minutes',
     'Prophet forecast model. MAPE: 8.92%. Used for quarterly planning.'),

    -- 18: succeeded
    ('bert-question-answering', 'tensorflow', 'exp-squad-v2-distilbert', 'succeeded',
     0.8145, 1.0234, 0.8012, 0.8289, 0.8145,
     'squad-v2', 'gcp-vertex-ai-t4', 12.4, 1.2,
     '{"model": "distilbert-base-uncased", "max_seq_length": 384, "doc_stride": 128, "batch_size": 12}',
     now() - interval '11 days',
     now() - interval '11 days' + interval '8 minutes',
     now() - interval '10 days 14 hours',
     'DistilBERT QA model. F1: 0.8145. 40% faster than BERT-base with minimal accuracy loss.'),

    -- 19: succeeded
    ('image-super-resolution-esrgan', 'pytorch', 'exp-esrgan-4x-upscale', 'succeeded',
     null, null, null, null, null,
     'div2k-flickr2k', 'k8s-gpu-a100', 28.6, 2.4,
     '{"scale_factor": 4, "generator_lr": 0.0001, "discriminator_lr": 0.0001, "perceptual_loss_weight": 1.0}',
     now() - interval '6 days',
     now() - interval '6 days' + interval '18 minutes',
     now() - interval '5 days 4 hours',
     'ESRGAN 4x super-resolution. PSNR: 28.45 dB, SSIM: 0.8234. Visual quality excellent.'),

    -- 20: succeeded
    ('audio-classification-vgg', 'tensorflow', 'exp-audio-vgg-urban-sounds', 'succeeded',
     0.9123, 0.2567, 0.9045, 0.9201, 0.9122,
     'urbansound8k', 'aws-sagemaker-ml-p2', 6.8, 0.7,
     '{"model": "vggish", "sample_rate": 16000, "n_mels": 128, "hop_length": 512}',
     now() - interval '3 days',
     now() - interval '3 days' + interval '4 minutes',
     now() - interval '2 days 18 hours',
     'Audio classification using VGGish. Accuracy: 0.9123 on UrbanSound8K test set.');

-- quick look at what was loaded: 20 rows in total
select count(*) as total_runs
from training_runs;

select status, count(*) as runs
from training_runs
group by status
order by runs desc, status;
