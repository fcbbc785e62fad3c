-- Summary statistics of the metrics table: the numbers a reviewer reads first.
SELECT
    count(*) AS rows,
    count(DISTINCT id) AS distinct_ids,
    round(avg(n_turns), 3) AS mean_turns,
    round(median(length_ratio), 3) AS median_length_ratio,
    round(quantile_cont(length_ratio, 0.05), 3) AS p05_length_ratio,
    round(quantile_cont(length_ratio, 0.95), 3) AS p95_length_ratio,
    round(median(token_ratio), 3) AS median_token_ratio,
    round(avg(arabic_share), 4) AS mean_arabic_share,
    round(min(arabic_share), 4) AS min_arabic_share,
    sum(latin_residue::INT) AS rows_with_latin_residue,
    sum(has_code::INT) AS rows_with_code,
    sum(has_latex::INT) AS rows_with_latex,
    sum(empty_content::INT) AS rows_with_empty_content,
    sum(duplicate_extra) AS duplicate_rows,
    round(avg(duplicate_extra), 4) AS duplicate_share,
    max(dup_cluster_size) AS largest_duplicate_cluster
FROM {metrics}
