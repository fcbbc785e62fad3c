-- One row of metrics per instruction record (Arabic `messages` against their English `messages_en`).
-- {records} is a relation with columns: _row (row number), id, source_dataset, messages[{role, content}], messages_en (or NULL).
-- Texts are judged with code blocks, inline code, LaTeX and URLs removed (a regex approximation of
-- pipelines.masking), so a code-heavy answer is not counted as Latin residue. LID and masked-span survival are
-- computed in Python (quality/metrics.py) and joined on id.
WITH base AS (
    SELECT
        _row,
        id,
        coalesce(source_dataset, '(unknown)') AS source_dataset,
        coalesce(len(messages), 0) AS n_turns,
        coalesce(array_to_string(list_transform(messages, lambda m: coalesce(m.content, '')), chr(10) || chr(10)), '') AS text_ar,
        coalesce(array_to_string(list_transform(messages_en, lambda m: coalesce(m.content, '')), chr(10) || chr(10)), '') AS text_en,
        messages_en IS NOT NULL AS has_source,
        list_transform(messages, lambda m: m.role) AS roles,
        list_transform(messages_en, lambda m: m.role) AS roles_en,
        coalesce(list_bool_or(list_transform(messages, lambda m: coalesce(trim(m.content), '') = '')), true) AS empty_content
    FROM {records}
),
stripped AS (
    SELECT *,
        regexp_replace(
            regexp_replace(
                regexp_replace(text_ar, '(?s)```.*?```|~~~.*?~~~|`[^`\n]+`', ' ', 'g'),
                '(?s)\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\$[^\s$][^$\n]*\$', ' ', 'g'),
            'https?://\S+', ' ', 'g') AS prose_ar
    FROM base
),
counted AS (
    SELECT *,
        length(regexp_replace(prose_ar, '[^\x{0621}-\x{063A}\x{0641}-\x{064A}\x{066E}-\x{06D3}\x{06FA}-\x{06FF}]', '', 'g')) AS arabic_letters,
        length(regexp_replace(prose_ar, '[^A-Za-z\x{00C0}-\x{024F}]', '', 'g')) AS latin_letters,
        -- the dedup key: no diacritics or tatweel, one alef/yeh/heh spelling, lowercase, words only
        md5(trim(regexp_replace(lower(translate(
            regexp_replace(text_ar, '[\x{0610}-\x{061A}\x{064B}-\x{065F}\x{0670}\x{0640}]', '', 'g'),
            'أإآٱىة', 'اااايه')), '[^\p{L}\p{N}]+', ' ', 'g'))) AS content_key
    FROM stripped
)
SELECT
    _row,
    id,
    source_dataset,
    n_turns,
    length(text_ar) AS chars_ar,
    length(text_en) AS chars_en,
    len(string_split_regex(trim(text_ar), '\s+')) - (trim(text_ar) = '')::INT AS tokens_ar,
    len(string_split_regex(trim(text_en), '\s+')) - (trim(text_en) = '')::INT AS tokens_en,
    CASE WHEN has_source AND length(text_en) > 0 THEN length(text_ar) / length(text_en) END AS length_ratio,
    CASE WHEN has_source AND length(trim(text_en)) > 0
         THEN (len(string_split_regex(trim(text_ar), '\s+')) - (trim(text_ar) = '')::INT)
              / len(string_split_regex(trim(text_en), '\s+')) END AS token_ratio,
    arabic_letters,
    latin_letters,
    CASE WHEN arabic_letters + latin_letters = 0 THEN 1.0
         ELSE arabic_letters / (arabic_letters + latin_letters) END AS arabic_share,
    -- five or more Latin words in a row outside code: an untranslated sentence left in the Arabic text
    regexp_matches(prose_ar, '(?:[A-Za-z][A-Za-z''’-]*[ ,;:]+){4}[A-Za-z]') AS latin_residue,
    regexp_matches(text_ar, '```|~~~|`[^`\n]+`') AS has_code,
    regexp_matches(text_ar, '(?s)\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\$[^\s$][^$\n]*\$') AS has_latex,
    empty_content,
    coalesce(list_bool_and(list_transform(roles, lambda r: r IN ('system', 'user', 'assistant'))), false)
        AND (NOT has_source OR roles = roles_en) AS roles_ok,
    list_contains(roles, 'assistant') AS has_assistant,
    content_key,
    count(*) OVER (PARTITION BY content_key) AS dup_cluster_size,
    -- 1 for every copy beyond the first of its cluster: the mean of this column is the duplicate share
    (row_number() OVER (PARTITION BY content_key ORDER BY id) > 1)::INT AS duplicate_extra
FROM counted
