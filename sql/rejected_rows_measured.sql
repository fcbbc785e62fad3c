-- Rejected rows one by one with their measures and the stage's detail (first {limit} by stage, reason, id).
-- {metrics}/{rejected} as in rejected_by_reason_measured.sql; {kind_column} is `m.roles_ok` (instructions) or
-- `m.identical_to_source` (pairs).
SELECT r.stage, r.reason, m.id,
       round(m.length_ratio, 3) AS length_ratio,
       round(m.arabic_share, 3) AS arabic_share,
       round(m.lid_score, 3) AS lid_score,
       m.lid_label,
       m.latin_residue,
       m.spans_survived,
       {kind_column},
       left(r.detail, 120) AS detail
FROM {metrics} m
JOIN {rejected} r USING (_row)
ORDER BY r.stage, r.reason, m.id
LIMIT {limit}
