-- The texts whose lines are compared for repetition (top_repeated_segments.sql): every message of every record.
SELECT id, m.content AS text
FROM (SELECT id, unnest(messages) AS m FROM {records})
