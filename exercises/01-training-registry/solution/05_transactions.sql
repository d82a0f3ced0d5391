-- 05_transactions.sql (reference solution)
--
-- Registers a new run and walks it through its life cycle inside one
-- transaction: queued, then running, then succeeded with an F1 score that is
-- derived from the stored precision and recall.

begin;

insert into training_runs (model_name, framework, experiment_name, dataset, compute_target, status)
values ('my-first-model', 'pytorch', 'exp-my-first', 'mnist', 'k8s-gpu-a100', 'queued')
returning run_id, model_name, status;

update training_runs
set status = 'running',
    started_at = now()
where model_name = 'my-first-model';

update training_runs
set status = 'succeeded',
    completed_at = now(),
    precision_score = 0.9,
    recall_score = 0.8
where model_name = 'my-first-model';

-- separate statement on purpose: inside one UPDATE the right-hand sides still
-- see the old (null) precision and recall
update training_runs
set f1_score = round(2 * precision_score * recall_score / (precision_score + recall_score), 4)
where model_name = 'my-first-model';

select model_name, status, precision_score, recall_score, f1_score, started_at, completed_at
from training_runs
where model_name = 'my-first-model';

commit;
