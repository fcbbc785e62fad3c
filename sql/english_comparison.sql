-- The Arabic side against its English source, per source dataset: sizes and how many rows keep the English shape.
SELECT
    source_dataset,
    count(*) AS rows,
    sum(chars_en) AS chars_en,
    sum(chars_ar) AS chars_ar,
    round(sum(chars_ar) / nullif(sum(chars_en), 0), 3) AS chars_ratio,
    sum(tokens_en) AS tokens_en,
    sum(tokens_ar) AS tokens_ar,
    round(sum(tokens_ar) / nullif(sum(tokens_en), 0), 3) AS tokens_ratio,
    sum(roles_ok::INT) AS rows_roles_ok
FROM {metrics}
GROUP BY source_dataset
ORDER BY source_dataset
