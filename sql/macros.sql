-- Text measures shared by the metrics queries, as DuckDB macros (created once per connection, before the queries).
-- Cheap tests come first so that most prose never reaches a regular expression: a protected span (code, LaTeX,
-- URL) needs one of its marker characters, a run of English words needs Latin letters.

-- whitespace tokens (what `str.split()` counts)
CREATE OR REPLACE MACRO ws_tokens(t) AS
    len(list_filter(string_split(replace(replace(replace(t, chr(13), ' '), chr(10), ' '), chr(9), ' '), ' '),
                    lambda s: s <> ''));

-- could the text hold a code block, inline code, LaTeX or a URL at all?
CREATE OR REPLACE MACRO may_have_spans(t) AS
    contains(t, '`') OR contains(t, '~~~') OR contains(t, '$') OR contains(t, '\') OR contains(t, '://');

-- the text with code blocks, inline code, LaTeX and URLs replaced by a space (regex approximation of
-- pipelines.masking.strip_protected): what script share and residue are measured on; `hint` is may_have_spans(t)
CREATE OR REPLACE MACRO strip_protected(t, hint) AS
    CASE WHEN hint THEN
        regexp_replace(regexp_replace(regexp_replace(t,
            '(?s)```.*?```|~~~.*?~~~|`[^`\n]+`', ' ', 'g'),
            '(?s)\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\$[^\s$][^$\n]*\$', ' ', 'g'),
            'https?://\S+', ' ', 'g')
    ELSE t END;

CREATE OR REPLACE MACRO has_code(t, hint) AS hint AND regexp_matches(t, '```|~~~|`[^`\n]+`');

CREATE OR REPLACE MACRO has_latex(t, hint) AS
    hint AND regexp_matches(t, '(?s)\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\$[^\s$][^$\n]*\$');

-- Arabic letters (hamza to yeh, the extended Arabic letters; no diacritics, digits or punctuation)
CREATE OR REPLACE MACRO arabic_letters(t) AS
    length(t) - length(regexp_replace(t, '[\x{0621}-\x{063A}\x{0641}-\x{064A}\x{066E}-\x{06D3}\x{06FA}-\x{06FF}]+', '', 'g'));

-- Latin letters (ASCII and Latin-1/Extended-A/B); a search (which stops at the first one) spares the count on
-- texts without any
CREATE OR REPLACE MACRO latin_letters(t) AS
    CASE WHEN regexp_matches(t, '[A-Za-z\x{00C0}-\x{024F}]')
         THEN length(t) - length(regexp_replace(t, '[A-Za-z\x{00C0}-\x{024F}]+', '', 'g'))
         ELSE 0 END;

-- Arabic letters over all script letters; 1.0 when there is no Latin letter (the Arabic count is then not needed)
CREATE OR REPLACE MACRO arabic_share(t, n_latin) AS
    CASE WHEN n_latin = 0 THEN 1.0
         ELSE 1.0 - n_latin / (arabic_letters(t) + n_latin) END;

-- five or more Latin words in a row: an untranslated sentence (call on text without protected spans)
CREATE OR REPLACE MACRO latin_run(t) AS regexp_matches(t, '(?:[A-Za-z][A-Za-z''’-]*[ ,;:]+){4}[A-Za-z]');

-- duplicate key: a 64-bit hash of the text without tashkeel and tatweel (a copy with diacritics added is still a copy)
CREATE OR REPLACE MACRO content_key(t) AS
    hash(regexp_replace(t, '[\x{0610}-\x{061A}\x{064B}-\x{065F}\x{0670}\x{0640}]+', '', 'g'));

-- blank: empty or whitespace only (a search for a non-space stops at the first letter; trim would copy the text)
CREATE OR REPLACE MACRO is_blank(t) AS t IS NULL OR NOT regexp_matches(t, '\S');

-- a line without surrounding whitespace (trim only when there is some: most lines have none)
CREATE OR REPLACE MACRO tidy_line(s) AS
    CASE WHEN starts_with(s, ' ') OR ends_with(s, ' ') OR starts_with(s, chr(9)) OR ends_with(s, chr(13))
         THEN trim(s, ' ' || chr(9) || chr(13)) ELSE s END;
