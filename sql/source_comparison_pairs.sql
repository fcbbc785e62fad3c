-- The target side against its source, per origin and language direction: sizes and ratios.
SELECT
    source_dataset,
    src_lang || '→' || tgt_lang AS direction,
    count(*) AS rows,
    sum(chars_src) AS chars_src,
    sum(chars_tgt) AS chars_tgt,
    round(sum(chars_tgt) / nullif(sum(chars_src), 0), 3) AS chars_ratio,
    sum(tokens_src) AS tokens_src,
    sum(tokens_tgt) AS tokens_tgt,
    round(sum(tokens_tgt) / nullif(sum(tokens_src), 0), 3) AS tokens_ratio,
    sum(identical_to_source::INT) AS rows_identical_to_source
FROM {metrics}
GROUP BY source_dataset, direction
ORDER BY source_dataset, direction
