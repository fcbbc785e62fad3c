-- The texts whose lines are compared for repetition (top_repeated_segments.sql): the target of every pair.
SELECT id, tgt AS text
FROM {records}
