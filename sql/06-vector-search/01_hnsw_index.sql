-- 01_hnsw_index.sql
--
-- Create an HNSW index on documents.embedding for cosine distance, with m = 16 and
-- ef_construction = 200 (the tutorial's Pattern 2).
--
-- Graded task: vector.hnsw_index (40).

-- task: vector.hnsw_index
