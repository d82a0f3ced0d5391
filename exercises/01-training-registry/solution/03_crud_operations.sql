-- 03_crud_operations.sql (reference solution)
--
-- Runs on the 20 seeded runs. Reads a little, then makes exactly four changes,
-- each one aimed at a single run through its model_name.

-- read first: what the four runs look like now
select model_name, status, started_at, completed_at, gpu_hours, parameters
from training_runs
where model_name in ('speech-recognition-whisper', 'llm-fine-tune-mistral',
                     'multimodal-clip-training', 'bert-sentiment-analysis')
order by model_name;

-- the scheduler picks up the queued whisper run
update training_runs
set status = 'running',
    started_at = now()
where model_name = 'speech-recognition-whisper'
returning model_name, status, started_at, completed_at;

-- the mistral fine-tune finishes; its final 18.5 GPU hours are added on top
-- of the 48.5 already recorded
update training_runs
set status = 'succeeded',
    completed_at = now(),
    accuracy = 0.9456,
    loss = 0.1892,
    precision_score = 0.9423,
    recall_score = 0.9489,
    f1_score = 0.9456,
    gpu_hours = gpu_hours + 18.5,
    notes = 'Fine-tune finished; metrics recorded at completion.'
where model_name = 'llm-fine-tune-mistral'
returning model_name, status, accuracy, gpu_hours, completed_at;

-- the CLIP run dies
update training_runs
set status = 'failed',
    completed_at = now()
where model_name = 'multimodal-clip-training'
returning model_name, status, completed_at;

-- merge two keys into the BERT run's hyperparameters (existing keys stay)
update training_runs
set parameters = parameters || '{"tuned": true, "final_lr": 0.00001}'::jsonb
where model_name = 'bert-sentiment-analysis'
returning model_name, parameters;
