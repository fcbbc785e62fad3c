-- Duplicate clusters over the metrics table: rows sharing a content key (text without tashkeel and tatweel).
-- dup_cluster_size counts the cluster's rows; duplicate_extra is 1 for every copy beyond the first (by _row), so its
-- mean is the dataset's duplicate share.
WITH clusters AS (
    SELECT content_key, count(*) AS dup_cluster_size, min(_row) AS first_row
    FROM {metrics}
    GROUP BY content_key
)
SELECT m.*, c.dup_cluster_size, (m._row <> c.first_row)::INT AS duplicate_extra
FROM {metrics} m
JOIN clusters c USING (content_key)
