-- 02_hybrid_search.sql (reference solution)
--
-- The tutorial's hybrid search: a metadata filter, then the nearest by cosine distance
-- (`<=>`, the distance the index serves; the tutorial's `<->` is L2 distance, which a
-- vector_cosine_ops index cannot serve, and its `vector_distance` is not a pgvector
-- function). Each file runs on a fresh copy of the data, so the index is made again.

create index documents_embedding_hnsw on documents
    using hnsw (embedding vector_cosine_ops)
    with (m = 16, ef_construction = 200);

-- task: vector.hybrid_search
select id, title
from documents
where metadata ->> 'category' = 'ai'
order by embedding <=> '[0.12,-0.4,0.33,0.8,-0.15,0.05,0.6,-0.27]'
limit 10;
