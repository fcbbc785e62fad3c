-- Lines (paragraphs, list items) that recur across different records: boilerplate, leaked prompts, stock phrases.
-- {segments} has columns (id, text): one row per message content (instructions) or per target text (pairs).
-- Two passes keep it cheap on millions of lines: the lines long enough to count are kept once with their 64-bit hash
-- (short lines, blank ones between paragraphs among them, never reach memory), the hashes seen more than once are
-- found, then those few lines are counted per record with their text. (tidy_line: sql/macros.sql)
WITH lines AS MATERIALIZED (
    SELECT id, segment, hash(segment) AS h
    FROM (SELECT id, tidy_line(unnest(string_split(text, chr(10)))) AS segment FROM {segments})
    WHERE length(segment) >= {min_chars}
),
repeated AS (
    SELECT h FROM lines GROUP BY h HAVING count(*) > 1
)
SELECT any_value(segment) AS segment, count(DISTINCT id) AS records, count(*) AS occurrences
FROM lines
WHERE h IN (SELECT h FROM repeated)
GROUP BY h
HAVING count(DISTINCT id) > 1
ORDER BY records DESC, occurrences DESC, segment
LIMIT {limit}
