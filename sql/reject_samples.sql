-- A few rejected rows per (stage, reason), with the detail the stage gave and the whole record (the report folds it).
-- {rejects} is read_json over OUT/rejects/*/*.jsonl; {per_reason} is how many rows to show per reason.
SELECT stage, reason, id, detail, record
FROM (
    SELECT *, row_number() OVER (PARTITION BY stage, reason ORDER BY id) AS n
    FROM {rejects}
)
WHERE n <= {per_reason}
ORDER BY stage, reason, id
