-- Rows per source dataset and stage: what each stage read, kept and rejected of every source.
-- A rejected row's source is read from the record the stage wrote (`source.dataset` of an instruction record, else
-- a pair's `origin`, as the metrics tables do); a raw input row that never became a record counts as '(unknown)'.
-- A stage kept what the final data holds plus what later stages rejected, so read = kept + rejected per row here.
-- {metrics}: the per-record metrics table of the kept rows; {rejects}: rows {id, stage, reason, detail, record};
-- {stages}: the stage names in run order, as a list literal.
WITH rejected AS (
    SELECT stage,
           coalesce(CASE WHEN json_valid(record) THEN coalesce(json_extract_string(record, '$.source.dataset'),
                                                               json_extract_string(record, '$.origin')) END,
                    '(unknown)') AS source_dataset,
           count(*) AS rejected
    FROM {rejects}
    GROUP BY ALL
),
kept AS (
    SELECT source_dataset, count(*) AS kept_in_data FROM {metrics} GROUP BY source_dataset
),
stage_order AS (
    SELECT unnest({stages}) AS stage, generate_subscripts({stages}, 1) AS position
),
per_stage AS (
    SELECT s.stage, s.position, src.source_dataset, coalesce(r.rejected, 0) AS rejected,
           coalesce(k.kept_in_data, 0) AS kept_in_data
    FROM stage_order s
    CROSS JOIN (SELECT source_dataset FROM kept UNION SELECT source_dataset FROM rejected) src
    LEFT JOIN rejected r ON r.stage = s.stage AND r.source_dataset = src.source_dataset
    LEFT JOIN kept k ON k.source_dataset = src.source_dataset
),
read_per_stage AS (
    SELECT *, kept_in_data + sum(rejected) OVER (PARTITION BY source_dataset ORDER BY position
                                                 ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS read
    FROM per_stage
)
SELECT source_dataset, stage, read::BIGINT AS read, (read - rejected)::BIGINT AS kept, rejected::BIGINT AS rejected
FROM read_per_stage
ORDER BY source_dataset, position
