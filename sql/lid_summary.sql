-- fastText language ID over the records: how many could be judged, how sure it was, how many fall below the
-- suite's minimum ({lid_score_min}, from the `lid_score` band of the kind's expectation suite).
SELECT count(lid_score) AS judged,
       count(*) - count(lid_score) AS too_short_to_judge,
       round(median(lid_score), 4) AS median_lid_score,
       round(min(lid_score), 4) AS min_lid_score,
       {lid_score_min} AS lid_score_min,
       sum((lid_score < {lid_score_min})::INT) AS rows_lid_below_min
FROM {metrics}
