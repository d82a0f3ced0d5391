-- 04_analysis_queries.sql (reference solution)
--
-- Five questions about the seeded runs. Each answer is the last query that
-- returns rows after its "-- task:" line.

-- task: analysis.success_rate
-- percentage of each framework's runs that succeeded
select framework,
       round(100.0 * count(*) filter (where status = 'succeeded') / count(*), 2) as success_rate
from training_runs
group by framework
order by framework;

-- task: analysis.top_gpu_target
-- the compute target whose runs use the most GPU hours on average
select compute_target,
       round(avg(gpu_hours), 2) as avg_gpu_hours
from training_runs
group by compute_target
order by avg(gpu_hours) desc nulls last, compute_target
limit 1;

-- task: analysis.long_runs
-- runs that took more than a day from start to completion, longest first
select model_name,
       completed_at - started_at as duration
from training_runs
where completed_at - started_at > interval '1 day'
order by duration desc;

-- task: analysis.total_gpu_cost
-- what all recorded GPU hours cost at $2.50 per hour
select round(sum(gpu_hours) * 2.50, 2) as total_cost
from training_runs;

-- task: analysis.rank_in_framework
-- successful runs with an accuracy, ranked by accuracy inside their framework
select model_name,
       framework,
       accuracy,
       rank() over (partition by framework order by accuracy desc) as rank_in_framework
from training_runs
where status = 'succeeded'
  and accuracy is not null
order by framework, rank_in_framework, model_name;
