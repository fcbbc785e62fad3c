-- Lines (paragraphs, list items) that recur across different records: boilerplate, leaked prompts, stock phrases.
-- {segments} has columns (id, text): one row per message content (instructions) or per target text (pairs).
-- Two passes keep it cheap on millions of lines: first only 64-bit hashes are grouped to find the lines seen more
-- than once, then those few lines are counted per record with their text. (tidy_line: sql/macros.sql)
WITH lines AS MATERIALIZED (
    SELECT id, tidy_line(unnest(string_split(text, chr(10)))) AS segment
    FROM {segments}
),
repeated AS (
    SELECT hash(segment) AS h
    FROM lines
    WHERE length(segment) >= {min_chars}
    GROUP BY h
    HAVING count(*) > 1
)
SELECT any_value(segment) AS segment, count(DISTINCT id) AS records, count(*) AS occurrences
FROM lines
WHERE hash(segment) IN (SELECT h FROM repeated) AND length(segment) >= {min_chars}
GROUP BY hash(segment)
HAVING count(DISTINCT id) > 1
ORDER BY records DESC, occurrences DESC, segment
LIMIT {limit}
