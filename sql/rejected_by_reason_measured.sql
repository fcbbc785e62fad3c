-- The rejected rows measured like the kept ones, per stage and reason: where each defect shows.
-- {metrics} holds the metrics of the rejected records (quality.metrics.rejected_metrics) and {rejected} their
-- {_row, id, stage, reason, detail}. {kind_flag} is the defect only this kind measures, counted as
-- {kind_flag_name}: `NOT m.roles_ok` (roles_wrong) for instructions, `m.identical_to_source` for pairs.
SELECT r.stage, r.reason, count(*) AS rows,
       round(median(m.length_ratio), 3) AS median_length_ratio,
       round(median(m.arabic_share), 3) AS median_arabic_share,
       round(median(m.lid_score), 3) AS median_lid_score,
       sum(m.latin_residue::INT) AS latin_residue,
       sum((NOT m.spans_survived)::INT) AS spans_changed,
       sum(({kind_flag})::INT) AS {kind_flag_name}
FROM {metrics} m
JOIN {rejected} r USING (_row)
GROUP BY r.stage, r.reason
ORDER BY r.stage, rows DESC, r.reason
