-- Protected spans (code, LaTeX, URLs, HTML, JSON) of the source side and whether they came through byte-identical.
-- rows_without_aligned_source: records with no English side of the same shape to compare against.
SELECT sum(spans_total) AS spans_in_source,
       sum((spans_total > 0)::INT) AS rows_with_spans,
       sum((NOT spans_survived)::INT) AS rows_spans_changed,
       sum((spans_survived IS NULL)::INT) AS rows_without_aligned_source
FROM {metrics}
