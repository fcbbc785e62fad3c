-- Lines (paragraphs, list items) that recur across different records: boilerplate, leaked prompts, stock phrases.
-- {segments} has columns (id, text): one row per message content (instructions) or per target text (pairs).
WITH lines AS (
    SELECT id, trim(unnest(string_split(text, chr(10)))) AS segment
    FROM {segments}
)
SELECT segment, count(DISTINCT id) AS records, count(*) AS occurrences
FROM lines
WHERE length(segment) >= {min_chars}
GROUP BY segment
HAVING count(DISTINCT id) > 1
ORDER BY records DESC, occurrences DESC, segment
LIMIT {limit}
