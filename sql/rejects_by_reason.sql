-- Rejected rows per stage and reason, from the JSONL rows every stage writes under OUT/rejects/<stage>/.
-- {rejects} is read_json over those files ({id, stage, reason, detail, record}).
SELECT stage, reason, count(*) AS rows
FROM {rejects}
GROUP BY stage, reason
ORDER BY stage, rows DESC, reason
