-- One row of metrics per instruction record (Arabic `messages` against their English `messages_en`).
-- {records} is a relation with columns: _row (row number), id, source_dataset, messages[{role, content}],
-- messages_en (or NULL). Text measures are the macros of sql/macros.sql. Script share and Latin residue are measured
-- with code, LaTeX and URLs removed, so a code-heavy answer is not counted as English. LID and exact masked-span
-- survival are computed in Python (quality/metrics.py) and joined on _row.
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
        coalesce(list_bool_or(list_transform(messages, lambda m: is_blank(m.content))), true) AS empty_content
    FROM {records}
),
hinted AS (
    SELECT *, may_have_spans(text_ar) AS hint, may_have_latin_or_marks(text_ar) AS latin_or_marks FROM base
),
measured AS (
    SELECT *,
        ws_tokens(text_ar) AS tokens_ar,
        ws_tokens(text_en) AS tokens_en,
        strip_protected(text_ar, hint) AS prose_ar
    FROM hinted
),
scripts AS (
    SELECT *, latin_letters(prose_ar, latin_or_marks) AS n_latin FROM measured
)
SELECT
    _row,
    id,
    source_dataset,
    n_turns,
    length(text_ar) AS chars_ar,
    length(text_en) AS chars_en,
    tokens_ar,
    tokens_en,
    CASE WHEN has_source AND length(text_en) > 0 THEN length(text_ar) / length(text_en) END AS length_ratio,
    CASE WHEN has_source AND tokens_en > 0 THEN tokens_ar / tokens_en END AS token_ratio,
    n_latin AS latin_letters,
    arabic_share(prose_ar, n_latin) AS arabic_share,
    latin_residue(prose_ar, n_latin) AS latin_residue,
    has_code(text_ar, hint) AS has_code,
    has_latex(text_ar, hint) AS has_latex,
    empty_content,
    coalesce(list_bool_and(list_transform(roles, lambda r: r IN ('system', 'user', 'assistant'))), false)
        AND (NOT has_source OR roles = roles_en) AS roles_ok,
    list_contains(roles, 'assistant') AS has_assistant,
    content_key(text_ar, latin_or_marks) AS content_key
FROM scripts
