-- A few kept pairs per source, for the report's English / Arabic side-by-side sample ({per_source} per source, by id).
-- {records} is the records table (quality/metrics.py load_records); the Arabic side is the one whose language is ar.
SELECT source_dataset, id,
       CASE WHEN src_lang = 'ar' THEN tgt ELSE src END AS english,
       CASE WHEN src_lang = 'ar' THEN src ELSE tgt END AS arabic
FROM (
    SELECT *, row_number() OVER (PARTITION BY source_dataset ORDER BY id) AS n
    FROM {records}
)
WHERE n <= {per_source}
ORDER BY source_dataset, id
