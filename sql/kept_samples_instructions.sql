-- A few kept rows per source, for the report's English / Arabic side-by-side sample ({per_source} per source, by id).
-- {records} is the records table (quality/metrics.py load_records).
SELECT source_dataset, id, to_json(messages_en) AS english, to_json(messages) AS arabic
FROM (
    SELECT *, row_number() OVER (PARTITION BY source_dataset ORDER BY id) AS n
    FROM {records}
)
WHERE n <= {per_source}
ORDER BY source_dataset, id
