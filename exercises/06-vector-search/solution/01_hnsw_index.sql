-- 01_hnsw_index.sql (reference solution)
--
-- The tutorial's HNSW index for cosine distance. Its operator class decides which
-- distance the index serves: vector_cosine_ops serves `<=>` and nothing else.

-- task: vector.hnsw_index
create index documents_embedding_hnsw on documents
    using hnsw (embedding vector_cosine_ops)
    with (m = 16, ef_construction = 200);
