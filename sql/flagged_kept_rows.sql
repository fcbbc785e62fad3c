-- Kept rows a reviewer should look at: outside a band of the kind's expectation suite (the thresholds are filled
-- from quality/expectations/<suite>.json, so they are the gate's own), or carrying a structural defect.
-- A band the suite does not set is NULL here and flags nothing.
SELECT id, source_dataset,
       round(length_ratio, 3) AS length_ratio,
       round(arabic_share, 3) AS arabic_share,
       round(lid_score, 3) AS lid_score,
       latin_residue, spans_survived, dup_cluster_size
FROM {metrics}
WHERE length_ratio NOT BETWEEN {length_ratio_min} AND {length_ratio_max}
   OR arabic_share < {arabic_share_min}
   OR lid_score < {lid_score_min}
   OR latin_residue
   OR NOT spans_survived
   OR dup_cluster_size > 1
   OR empty_content
ORDER BY _row
LIMIT {limit}
