-- How many conversations have 1, 2, 3, ... messages.
SELECT n_turns, count(*) AS rows
FROM {metrics}
GROUP BY n_turns
ORDER BY n_turns
