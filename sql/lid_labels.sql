-- Which language fastText saw in each record's least-expected-language text, most frequent first.
SELECT lid_label, count(*) AS rows
FROM {metrics}
WHERE lid_label IS NOT NULL
GROUP BY lid_label
ORDER BY rows DESC, lid_label
