-- Target/source character-length ratio in bins of 0.1 (rows without a source side are left out).
SELECT floor(length_ratio * 10) / 10 AS bin_start, count(*) AS rows
FROM {metrics}
WHERE length_ratio IS NOT NULL
GROUP BY bin_start
ORDER BY bin_start
