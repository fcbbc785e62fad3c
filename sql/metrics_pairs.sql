-- One row of metrics per bilingual pair (`tgt` judged against `src`).
-- {records} is a relation with columns: _row (row number), id, source_dataset, src_lang, tgt_lang, src, tgt, judge_verdict.
-- The Arabic-side measures (arabic_share, latin_residue) are taken on whichever side is Arabic (`tgt` unless only
-- `src_lang` is Arabic), with code, LaTeX and URLs removed. LID and masked-span survival are joined in Python.
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
stripped AS (
    SELECT *,
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    CASE WHEN src_lang LIKE 'ar%' AND tgt_lang NOT LIKE 'ar%' THEN src ELSE tgt END,
                    '(?s)```.*?```|~~~.*?~~~|`[^`\n]+`', ' ', 'g'),
                '(?s)\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\$[^\s$][^$\n]*\$', ' ', 'g'),
            'https?://\S+', ' ', 'g') AS prose_ar
    FROM base
),
counted AS (
    SELECT *,
        length(regexp_replace(prose_ar, '[^\x{0621}-\x{063A}\x{0641}-\x{064A}\x{066E}-\x{06D3}\x{06FA}-\x{06FF}]', '', 'g')) AS arabic_letters,
        length(regexp_replace(prose_ar, '[^A-Za-z\x{00C0}-\x{024F}]', '', 'g')) AS latin_letters,
        md5(trim(regexp_replace(lower(translate(
            regexp_replace(src || chr(31) || tgt, '[\x{0610}-\x{061A}\x{064B}-\x{065F}\x{0670}\x{0640}]', '', 'g'),
            'أإآٱىة', 'اااايه')), '[^\p{L}\p{N}\x{001F}]+', ' ', 'g'))) AS content_key
    FROM stripped
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
    len(string_split_regex(trim(src), '\s+')) - (trim(src) = '')::INT AS tokens_src,
    len(string_split_regex(trim(tgt), '\s+')) - (trim(tgt) = '')::INT AS tokens_tgt,
    CASE WHEN length(src) > 0 THEN length(tgt) / length(src) END AS length_ratio,
    CASE WHEN trim(src) <> ''
         THEN (len(string_split_regex(trim(tgt), '\s+')) - (trim(tgt) = '')::INT)
              / len(string_split_regex(trim(src), '\s+')) END AS token_ratio,
    arabic_letters,
    latin_letters,
    CASE WHEN arabic_letters + latin_letters = 0 THEN 1.0
         ELSE arabic_letters / (arabic_letters + latin_letters) END AS arabic_share,
    regexp_matches(prose_ar, '(?:[A-Za-z][A-Za-z''’-]*[ ,;:]+){4}[A-Za-z]') AS latin_residue,
    regexp_matches(src || tgt, '```|~~~|`[^`\n]+`') AS has_code,
    regexp_matches(src || tgt, '(?s)\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\$[^\s$][^$\n]*\$') AS has_latex,
    trim(src) = '' OR trim(tgt) = '' AS empty_content,
    trim(src) = trim(tgt) AND trim(src) <> '' AS identical_to_source,
    judge_verdict,
    content_key,
    count(*) OVER (PARTITION BY content_key) AS dup_cluster_size,
    (row_number() OVER (PARTITION BY content_key ORDER BY id) > 1)::INT AS duplicate_extra
FROM counted
