-- Rows kept per source dataset, with the source's typical length ratio and Arabic share.
-- {metrics} is the per-record metrics table (sql/metrics_instructions.sql or sql/metrics_pairs.sql).
SELECT
    source_dataset,
    count(*) AS rows,
    round(median(length_ratio), 3) AS median_length_ratio,
    round(avg(arabic_share), 3) AS mean_arabic_share,
    round(avg(n_turns), 2) AS mean_turns,
    sum(has_code::INT) AS rows_with_code,
    sum(has_latex::INT) AS rows_with_latex
FROM {metrics}
GROUP BY source_dataset
ORDER BY rows DESC, source_dataset
