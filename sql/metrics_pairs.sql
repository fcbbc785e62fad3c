-- One row of metrics per bilingual pair (`tgt` judged against `src`).
-- {records} is a relation with columns: _row (row number), id, source_dataset, src_lang, tgt_lang, src, tgt,
-- judge_verdict. Text measures are the macros of sql/macros.sql; the Arabic-side measures (arabic_share,
-- latin_residue) are taken on whichever side is Arabic (`tgt` unless only `src_lang` is Arabic). LID and exact
-- masked-span survival are computed in Python (quality/metrics.py) and joined on _row.
WITH base AS (
    SELECT
        _row,
        id,
        coalesce(source_dataset, '(unknown)') AS source_dataset,
        coalesce(src_lang, 'en') AS src_lang,
        coalesce(tgt_lang, 'ar') AS tgt_lang,
        coalesce(src, '') AS src,
        coalesce(tgt, '') AS tgt,
        judge_verdict
    FROM {records}
),
sided AS (
    SELECT *, CASE WHEN src_lang LIKE 'ar%' AND tgt_lang NOT LIKE 'ar%' THEN src ELSE tgt END AS side_ar,
           src || chr(10) || tgt AS both_sides
    FROM base
),
measured AS (
    SELECT *,
        ws_tokens(src) AS tokens_src,
        ws_tokens(tgt) AS tokens_tgt,
        strip_protected(side_ar, may_have_spans(side_ar)) AS prose_ar,
        may_have_spans(both_sides) AS hint
    FROM sided
),
scripts AS (
    SELECT *, latin_letters(prose_ar, true) AS n_latin FROM measured
)
SELECT
    _row,
    id,
    source_dataset,
    src_lang,
    tgt_lang,
    1 AS n_turns,
    length(src) AS chars_src,
    length(tgt) AS chars_tgt,
    tokens_src,
    tokens_tgt,
    CASE WHEN length(src) > 0 THEN length(tgt) / length(src) END AS length_ratio,
    CASE WHEN tokens_src > 0 THEN tokens_tgt / tokens_src END AS token_ratio,
    n_latin AS latin_letters,
    arabic_share(prose_ar, n_latin) AS arabic_share,
    latin_residue(prose_ar, n_latin) AS latin_residue,
    has_code(both_sides, hint) AS has_code,
    has_latex(both_sides, hint) AS has_latex,
    is_blank(src) OR is_blank(tgt) AS empty_content,
    CASE WHEN NOT is_blank(src) AND abs(length(src) - length(tgt)) <= 16 THEN trim(src) = trim(tgt) ELSE false END
        AS identical_to_source,
    judge_verdict,
    content_key(src || chr(31) || tgt, true) AS content_key
FROM scripts
