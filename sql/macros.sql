-- Text measures shared by the metrics queries, as DuckDB macros (created once per connection, before the queries).
-- A regular expression costs a pass over the whole text, so cheap tests come first and a search runs only on the rows
-- whose `hint` says it may match: a protected span (code, LaTeX, URL) needs one of its marker characters, Latin
-- letters and Arabic marks are looked for by one search that most Arabic prose fails. The guard is always a CASE, never
-- an AND: in a SELECT list DuckDB evaluates both sides of an AND on every row, a CASE branch only on its own rows.

-- whitespace tokens: pieces between spaces, tabs, carriage returns and newlines (tabs and carriage returns are rare,
-- so a search for them spares two copies of most texts)
CREATE OR REPLACE MACRO ws_tokens(t) AS
    len(list_filter(string_split(replace(
        CASE WHEN contains(t, chr(9)) OR contains(t, chr(13))
             THEN replace(replace(t, chr(13), ' '), chr(9), ' ') ELSE t END,
        chr(10), ' '), ' '), lambda s: s <> ''));

-- could the text hold a code block, inline code, LaTeX or a URL at all?
CREATE OR REPLACE MACRO may_have_spans(t) AS
    contains(t, '`') OR contains(t, '~~~') OR contains(t, '$') OR contains(t, '\') OR contains(t, '://');

-- the text with code blocks, inline code, LaTeX and URLs replaced by a space (regex approximation of
-- pipelines.masking.strip_protected): what script share and residue are measured on; `hint` is may_have_spans(t).
-- Each of the three passes runs only when the text holds its marker (replacing adds none): a code-only text is
-- searched once, not three times. `t` is the original text (its markers), `s` the text after the earlier passes.
CREATE OR REPLACE MACRO strip_code(t, s) AS
    CASE WHEN contains(t, '`') OR contains(t, '~~~')
         THEN regexp_replace(s, '(?s)```.*?```|~~~.*?~~~|`[^`\n]+`', ' ', 'g') ELSE s END;

CREATE OR REPLACE MACRO strip_latex(t, s) AS
    CASE WHEN contains(t, '$') OR contains(t, '\')
         THEN regexp_replace(s, '(?s)\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\$[^\s$][^$\n]*\$', ' ', 'g') ELSE s END;

CREATE OR REPLACE MACRO strip_urls(t, s) AS
    CASE WHEN contains(t, '://') THEN regexp_replace(s, 'https?://\S+', ' ', 'g') ELSE s END;

CREATE OR REPLACE MACRO strip_protected(t, hint) AS
    CASE WHEN hint THEN strip_urls(t, strip_latex(t, strip_code(t, t))) ELSE t END;

CREATE OR REPLACE MACRO has_code(t, hint) AS
    CASE WHEN hint THEN regexp_matches(t, '```|~~~|`[^`\n]+`') ELSE false END;

CREATE OR REPLACE MACRO has_latex(t, hint) AS
    CASE WHEN hint THEN regexp_matches(t, '(?s)\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\$[^\s$][^$\n]*\$') ELSE false END;

-- Arabic letters (hamza to yeh, the extended Arabic letters; no diacritics, digits or punctuation)
CREATE OR REPLACE MACRO arabic_letters(t) AS
    length(t) - length(regexp_replace(t, '[\x{0621}-\x{063A}\x{0641}-\x{064A}\x{066E}-\x{06D3}\x{06FA}-\x{06FF}]+', '', 'g'));

-- could the text hold a Latin letter (ASCII, Latin-1, Extended-A/B) or an Arabic mark (tashkeel, tatweel)?
CREATE OR REPLACE MACRO may_have_latin_or_marks(t) AS
    regexp_matches(t, '[A-Za-z\x{00C0}-\x{024F}\x{0610}-\x{061A}\x{064B}-\x{065F}\x{0670}\x{0640}]');

-- Latin letters; `hint` false means the text has none (may_have_latin_or_marks), else a search (which stops at the
-- first one) spares the count on texts without any
CREATE OR REPLACE MACRO latin_letters(t, hint) AS
    CASE WHEN NOT hint THEN 0
         WHEN regexp_matches(t, '[A-Za-z\x{00C0}-\x{024F}]')
         THEN length(t) - length(regexp_replace(t, '[A-Za-z\x{00C0}-\x{024F}]+', '', 'g'))
         ELSE 0 END;

-- Arabic letters over all script letters; 1.0 when there is no Latin letter (the Arabic count is then not needed)
CREATE OR REPLACE MACRO arabic_share(t, n_latin) AS
    CASE WHEN n_latin = 0 THEN 1.0
         ELSE 1.0 - n_latin / (arabic_letters(t) + n_latin) END;

-- five or more Latin words in a row: an untranslated sentence (call on text without protected spans); only searched
-- when the text has at least five Latin letters (`n_latin`, from latin_letters)
CREATE OR REPLACE MACRO latin_residue(t, n_latin) AS
    CASE WHEN n_latin >= 5 THEN regexp_matches(t, '(?:[A-Za-z][A-Za-z''’-]*[ ,;:]+){4}[A-Za-z]') ELSE false END;

-- duplicate key: a 64-bit hash of the text without tashkeel and tatweel (a copy with diacritics added is still a copy);
-- `hint` false means the text has no mark (may_have_latin_or_marks), else a search spares the copy on texts without any
CREATE OR REPLACE MACRO content_key(t, hint) AS
    hash(CASE WHEN NOT hint THEN t
              WHEN regexp_matches(t, '[\x{0610}-\x{061A}\x{064B}-\x{065F}\x{0670}\x{0640}]')
              THEN regexp_replace(t, '[\x{0610}-\x{061A}\x{064B}-\x{065F}\x{0670}\x{0640}]+', '', 'g')
              ELSE t END);

-- blank: empty or whitespace only (a search for a non-space stops at the first letter; trim would copy the text)
CREATE OR REPLACE MACRO is_blank(t) AS t IS NULL OR NOT regexp_matches(t, '\S');

-- a line without surrounding whitespace (trim only when there is some: most lines have none)
CREATE OR REPLACE MACRO tidy_line(s) AS
    CASE WHEN starts_with(s, ' ') OR ends_with(s, ' ') OR starts_with(s, chr(9)) OR ends_with(s, chr(13))
         THEN trim(s, ' ' || chr(9) || chr(13)) ELSE s END;
