-- Lines (paragraphs, list items) that recur across different records: boilerplate, leaked prompts, stock phrases.
-- {segments} has columns (id, text): one row per message content (instructions) or per target text (pairs).
-- Only 64-bit hashes are kept and grouped (the lines' text would hold the corpus a second time in memory: 2.2 GB
-- more at 4M records): each line long enough to count as (id, hash); the groups of the hashes seen in more than one
-- record; then the text of only the groups that can reach the top {limit} (those that tie with the {limit}th too,
-- since the text breaks ties) from a second split of only the texts of the records holding them.
-- (tidy_line: sql/macros.sql)
WITH lines AS MATERIALIZED (
    SELECT id, hash(segment) AS h
    FROM (SELECT id, tidy_line(unnest(string_split(text, chr(10)))) AS segment FROM {segments})
    WHERE length(segment) >= {min_chars}
),
counted AS MATERIALIZED (
    SELECT h, count(DISTINCT id) AS records, count(*) AS occurrences
    FROM lines
    WHERE h IN (SELECT h FROM lines GROUP BY h HAVING count(*) > 1)
    GROUP BY h
    HAVING count(DISTINCT id) > 1
),
cut AS (
    SELECT records, occurrences FROM counted ORDER BY records DESC, occurrences DESC LIMIT 1 OFFSET {limit} - 1
),
candidates AS (
    SELECT c.* FROM counted c
    WHERE NOT EXISTS (SELECT 1 FROM cut) OR (c.records, c.occurrences) >= (SELECT (records, occurrences) FROM cut)
),
texts AS (
    SELECT hash(segment) AS h, any_value(segment) AS segment
    FROM (SELECT tidy_line(unnest(string_split(text, chr(10)))) AS segment FROM {segments}
          WHERE id IN (SELECT id FROM lines WHERE h IN (SELECT h FROM candidates)))
    WHERE length(segment) >= {min_chars} AND hash(segment) IN (SELECT h FROM candidates)
    GROUP BY hash(segment)
)
SELECT t.segment, c.records, c.occurrences
FROM candidates c JOIN texts t USING (h)
ORDER BY c.records DESC, c.occurrences DESC, t.segment
LIMIT {limit}
