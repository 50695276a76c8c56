/*
 * schema_regex.c: JSON Schema's regular expressions (`pattern`,
 * `patternProperties`, `format: regex`) are ECMA-262 with the u flag, and
 * kumo matches them with PCRE2. This file rewrites an ECMA-262 pattern
 * into PCRE2 syntax with the same meaning, one token at a time, and
 * refuses what the two dialects would read differently or what ECMA-262
 * does not have, naming the byte offset in the pattern as written.
 *
 * Rewritten: \uXXXX (a surrogate pair becomes one code point), \u{X...},
 * \v (one character in ECMA-262, a class in PCRE2), \0, \s and \S
 * (ECMA-262's white space is Unicode's, PCRE2's without UCP is ASCII),
 * '.' (ECMA-262 excludes \r, U+2028 and U+2029 too), [] and [^], '[' inside
 * a class (PCRE2 would read [:alpha:]), backreferences (as \g{N}: PCRE2
 * reads some \NN as octal), and \p{...}: long General_Category names and
 * gc=, Script=/sc=, Script_Extensions=/scx=, and Assigned.
 *
 * Refused: escapes ECMA-262 does not have (\A, \z, \Q, \h, ...), group
 * syntax other than (?: (?= (?! (?<= (?<! (?<name>, PCRE2 verbs (*...),
 * possessive quantifiers, a '{' that is not a quantifier, lone surrogates,
 * and property names that are not ECMA-262's: PCRE2 would read \p{Greek}
 * as Script_Extensions=Greek and \p{L&} as cased letters, where ECMA-262
 * has no such forms. PCRE2's own compile error covers the rest (an unknown
 * script, an unbalanced parenthesis).
 *
 * \d, \w and \b need nothing: without UCP, PCRE2 keeps them ASCII as
 * ECMA-262 does. \d\w\b under the i flag do not arise: JSON Schema has no
 * flags.
 */
#include "openapi/schema_regex.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_MAX (1u << 20) /* translated pattern bytes */

/* ECMA-262 WhiteSpace and LineTerminator, as class contents, and their
 * complement over all code points. */
#define WS                                                                                                             \
    "\\t\\n\\x0b\\f\\r\\x20\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}"
#define NOT_WS                                                                                                         \
    "\\x00-\\x08\\x0e-\\x1f\\x21-\\x{9f}\\x{a1}-\\x{167f}\\x{1681}-\\x{1fff}\\x{200b}-\\x{2027}\\x{202a}-\\x{202e}"    \
    "\\x{2030}-\\x{205e}\\x{2060}-\\x{2fff}\\x{3001}-\\x{fefe}\\x{ff00}-\\x{10ffff}"
#define DOT "[^\\n\\r\\x{2028}\\x{2029}]"
#define ANY "[\\x{0}-\\x{10ffff}]"
#define NOTHING "(?!)"

typedef struct tr {
    char *out;
    size_t len, cap;
    size_t (*marks)[2]; /* {output offset, input offset} at each token */
    size_t nmarks, capmarks;
    int oom, too_long;
    int class_escape; /* in a class, the last token was \s, \d, \p{...}, ...: no range may follow */
    int range_dash;   /* in a class, the last token was a '-' between two members */
    char *why;
    size_t why_len;
} tr;

static void put(tr *t, const char *s, size_t n)
{
    if (t->oom || t->too_long)
        return;
    if (t->len + n + 1 > OUT_MAX) {
        t->too_long = 1;
        return;
    }
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *o = realloc(t->out, cap);
        if (o == NULL) {
            t->oom = 1;
            return;
        }
        t->out = o;
        t->cap = cap;
    }
    memcpy(t->out + t->len, s, n);
    t->len += n;
    t->out[t->len] = '\0';
}

static void puts_(tr *t, const char *s)
{
    put(t, s, strlen(s));
}

static void mark(tr *t, size_t in)
{
    if (t->oom)
        return;
    if (t->nmarks == t->capmarks) {
        size_t cap = t->capmarks ? t->capmarks * 2 : 32;
        void *m = realloc(t->marks, cap * sizeof(*t->marks));
        if (m == NULL) {
            t->oom = 1;
            return;
        }
        t->marks = m;
        t->capmarks = cap;
    }
    t->marks[t->nmarks][0] = t->len;
    t->marks[t->nmarks][1] = in;
    t->nmarks++;
}

static int refuse(tr *t, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(tr *t, size_t at, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(t->why, t->why_len, "%s, at offset %zu", msg, at);
    return -EINVAL;
}

/* ---- Unicode properties ------------------------------------------------- */

static const char *const gc_names[][2] = {
    {"L", "Letter"},
    {"LC", "Cased_Letter"},
    {"Lu", "Uppercase_Letter"},
    {"Ll", "Lowercase_Letter"},
    {"Lt", "Titlecase_Letter"},
    {"Lm", "Modifier_Letter"},
    {"Lo", "Other_Letter"},
    {"M", "Mark"},
    {"M", "Combining_Mark"},
    {"Mn", "Nonspacing_Mark"},
    {"Mc", "Spacing_Mark"},
    {"Me", "Enclosing_Mark"},
    {"N", "Number"},
    {"Nd", "Decimal_Number"},
    {"Nd", "digit"},
    {"Nl", "Letter_Number"},
    {"No", "Other_Number"},
    {"P", "Punctuation"},
    {"P", "punct"},
    {"Pc", "Connector_Punctuation"},
    {"Pd", "Dash_Punctuation"},
    {"Ps", "Open_Punctuation"},
    {"Pe", "Close_Punctuation"},
    {"Pi", "Initial_Punctuation"},
    {"Pf", "Final_Punctuation"},
    {"Po", "Other_Punctuation"},
    {"S", "Symbol"},
    {"Sm", "Math_Symbol"},
    {"Sc", "Currency_Symbol"},
    {"Sk", "Modifier_Symbol"},
    {"So", "Other_Symbol"},
    {"Z", "Separator"},
    {"Zs", "Space_Separator"},
    {"Zl", "Line_Separator"},
    {"Zp", "Paragraph_Separator"},
    {"C", "Other"},
    {"Cc", "Control"},
    {"Cc", "cntrl"},
    {"Cf", "Format"},
    {"Cs", "Surrogate"},
    {"Co", "Private_Use"},
    {"Cn", "Unassigned"},
};

/* ECMA-262's binary properties (table-binary-unicode-properties): the long
 * name, which is what PCRE2 is given, and the short alias. */
static const char *const binary_names[][2] = {
    {"ASCII", "ASCII"},
    {"ASCII_Hex_Digit", "AHex"},
    {"Alphabetic", "Alpha"},
    {"Any", "Any"},
    {"Assigned", "Assigned"},
    {"Bidi_Control", "Bidi_C"},
    {"Bidi_Mirrored", "Bidi_M"},
    {"Case_Ignorable", "CI"},
    {"Cased", "Cased"},
    {"Changes_When_Casefolded", "CWCF"},
    {"Changes_When_Casemapped", "CWCM"},
    {"Changes_When_Lowercased", "CWL"},
    {"Changes_When_NFKC_Casefolded", "CWKCF"},
    {"Changes_When_Titlecased", "CWT"},
    {"Changes_When_Uppercased", "CWU"},
    {"Dash", "Dash"},
    {"Default_Ignorable_Code_Point", "DI"},
    {"Deprecated", "Dep"},
    {"Diacritic", "Dia"},
    {"Emoji", "Emoji"},
    {"Emoji_Component", "EComp"},
    {"Emoji_Modifier", "EMod"},
    {"Emoji_Modifier_Base", "EBase"},
    {"Emoji_Presentation", "EPres"},
    {"Extended_Pictographic", "ExtPict"},
    {"Extender", "Ext"},
    {"Grapheme_Base", "Gr_Base"},
    {"Grapheme_Extend", "Gr_Ext"},
    {"Hex_Digit", "Hex"},
    {"IDS_Binary_Operator", "IDSB"},
    {"IDS_Trinary_Operator", "IDST"},
    {"ID_Continue", "IDC"},
    {"ID_Start", "IDS"},
    {"Ideographic", "Ideo"},
    {"Join_Control", "Join_C"},
    {"Logical_Order_Exception", "LOE"},
    {"Lowercase", "Lower"},
    {"Math", "Math"},
    {"Noncharacter_Code_Point", "NChar"},
    {"Pattern_Syntax", "Pat_Syn"},
    {"Pattern_White_Space", "Pat_WS"},
    {"Quotation_Mark", "QMark"},
    {"Radical", "Radical"},
    {"Regional_Indicator", "RI"},
    {"Sentence_Terminal", "STerm"},
    {"Soft_Dotted", "SD"},
    {"Terminal_Punctuation", "Term"},
    {"Unified_Ideograph", "UIdeo"},
    {"Uppercase", "Upper"},
    {"Variation_Selector", "VS"},
    {"White_Space", "space"},
    {"XID_Continue", "XIDC"},
    {"XID_Start", "XIDS"},
};

static int same(const char *s, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(s, name, n) == 0;
}

static const char *gc_short(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof gc_names / sizeof gc_names[0]; i++)
        if (same(s, n, gc_names[i][0]) || same(s, n, gc_names[i][1]))
            return gc_names[i][0];
    return NULL;
}

static const char *binary_long(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof binary_names / sizeof binary_names[0]; i++)
        if (same(s, n, binary_names[i][0]) || same(s, n, binary_names[i][1]))
            return binary_names[i][0];
    return NULL;
}

static int is_name_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
}

/* \p{...} or \P{...} at src[i]; *next is set past the '}'. */
static int property(tr *t, const char *src, size_t len, size_t i, size_t *next)
{
    int neg = src[i + 1] == 'P';
    if (i + 2 >= len || src[i + 2] != '{')
        return refuse(t, i, "\\%c must be followed by a property in braces: \\p{...}, e.g. \\p{L} or \\p{Script=Greek}",
                      src[i + 1]);
    size_t start = i + 3, end = start, eq = 0;
    while (end < len && src[end] != '}') {
        if (src[end] == '=' && eq == 0)
            eq = end;
        else if (!is_name_char(src[end]))
            return refuse(t, end, "\\p{...} takes a property name (letters, digits, '_'), optionally '=' and a value");
        end++;
    }
    if (end >= len)
        return refuse(t, i, "\\p{ without a closing '}'; write \\p{...}");
    *next = end + 1;
    char buf[96];
    const char *p = neg ? "\\P" : "\\p";
    if (eq) {
        const char *name = src + start, *val = src + eq + 1;
        size_t nlen = eq - start, vlen = end - eq - 1;
        const char *gc;
        if (vlen == 0 || vlen > 60)
            return refuse(t, i, "\\p{%.*s=} needs a value", (int)nlen, name);
        if (same(name, nlen, "General_Category") || same(name, nlen, "gc")) {
            if ((gc = gc_short(val, vlen)) == NULL)
                return refuse(t, i, "'%.*s' is not a General_Category value", (int)vlen, val);
            snprintf(buf, sizeof buf, "%s{%s}", p, gc);
        } else if (same(name, nlen, "Script") || same(name, nlen, "sc")) {
            snprintf(buf, sizeof buf, "%s{sc:%.*s}", p, (int)vlen, val);
        } else if (same(name, nlen, "Script_Extensions") || same(name, nlen, "scx")) {
            snprintf(buf, sizeof buf, "%s{scx:%.*s}", p, (int)vlen, val);
        } else {
            return refuse(t, i,
                          "'%.*s' is not a Unicode property ECMA-262 takes in \\p{name=value}; use "
                          "General_Category, Script or Script_Extensions",
                          (int)nlen, name);
        }
        puts_(t, buf);
        return 0;
    }
    const char *name = src + start, *gc, *bin;
    size_t nlen = end - start;
    if (nlen == 0)
        return refuse(t, i, "\\p{} needs a property name, e.g. \\p{L}");
    if (nlen > 60)
        return refuse(t, i, "'%.40s...' is not a Unicode property ECMA-262 knows", name);
    if ((gc = gc_short(name, nlen)) != NULL) {
        snprintf(buf, sizeof buf, "%s{%s}", p, gc);
    } else if ((bin = binary_long(name, nlen)) != NULL) {
        if (strcmp(bin, "Assigned") == 0) /* PCRE2 lacks it: not unassigned */
            snprintf(buf, sizeof buf, "%s{Cn}", neg ? "\\p" : "\\P");
        else
            snprintf(buf, sizeof buf, "%s{%s}", p, bin);
    } else {
        return refuse(t, i,
                      "'%.*s' is not a Unicode property name ECMA-262 knows (a General_Category value or a binary "
                      "property); for a script write \\p{Script=%.*s}",
                      (int)nlen, name, (int)nlen, name);
    }
    puts_(t, buf);
    return 0;
}

/* ---- escapes ------------------------------------------------------------ */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* \uXXXX or \u{X...} at src[i]: the code point, *next past it; -1 when
 * malformed (refused by the caller). */
static long unicode_escape(const char *src, size_t len, size_t i, size_t *next)
{
    long cp = 0;
    if (i + 2 < len && src[i + 2] == '{') {
        size_t k = i + 3;
        for (; k < len && src[k] != '}'; k++) {
            int h = hexval(src[k]);
            if (h < 0 || cp > 0x10FFFF)
                return -1;
            cp = cp * 16 + h;
        }
        if (k >= len || k == i + 3)
            return -1;
        *next = k + 1;
        return cp;
    }
    if (i + 6 > len)
        return -1;
    for (size_t k = i + 2; k < i + 6; k++) {
        int h = hexval(src[k]);
        if (h < 0)
            return -1;
        cp = cp * 16 + h;
    }
    *next = i + 6;
    return cp;
}

static int escape(tr *t, const char *src, size_t len, size_t i, int in_class, size_t *next)
{
    char buf[32];
    if (i + 1 >= len)
        return refuse(t, i, "a pattern cannot end with a lone backslash");
    char e = src[i + 1];
    *next = i + 2;
    if (in_class && e && strchr("sSdDwWpP", e))
        t->class_escape = 1; /* no range may follow */
    switch (e) {
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 'f':
    case 'n':
    case 'r':
    case 't': put(t, src + i, 2); return 0;
    case 'b':
    case 'B':
        if (in_class && e == 'B')
            return refuse(t, i, "'\\B' cannot be in a character class");
        put(t, src + i, 2); /* [\b] is a backspace in both */
        return 0;
    case 'v': puts_(t, "\\x0b"); return 0;
    case 's': puts_(t, in_class ? WS : "[" WS "]"); return 0;
    case 'S': puts_(t, in_class ? NOT_WS : "[" NOT_WS "]"); return 0;
    case 'c':
        if (i + 2 < len && ((src[i + 2] >= 'a' && src[i + 2] <= 'z') || (src[i + 2] >= 'A' && src[i + 2] <= 'Z'))) {
            put(t, src + i, 3);
            *next = i + 3;
            return 0;
        }
        return refuse(t, i, "'\\c' must be followed by a letter");
    case '0':
        if (i + 2 < len && src[i + 2] >= '0' && src[i + 2] <= '9')
            return refuse(t, i, "\\0 followed by a digit is not allowed in ECMA-262 (u flag); write \\x00 or \\u0000");
        puts_(t, "\\x{0}");
        return 0;
    case 'x':
        if (i + 3 < len && hexval(src[i + 2]) >= 0 && hexval(src[i + 3]) >= 0) {
            snprintf(buf, sizeof buf, "\\x{%c%c}", src[i + 2], src[i + 3]);
            puts_(t, buf);
            *next = i + 4;
            return 0;
        }
        return refuse(t, i, "'\\x' must be followed by two hex digits");
    case 'u': {
        long cp = unicode_escape(src, len, i, next);
        if (cp < 0)
            return refuse(t, i, "'\\u' must be followed by four hex digits or {hex digits}");
        if (cp > 0x10FFFF)
            return refuse(t, i, "\\u{%lX} is beyond U+10FFFF", cp);
        if (cp >= 0xD800 && cp <= 0xDBFF && *next + 1 < len && src[*next] == '\\' && src[*next + 1] == 'u' &&
            src[i + 2] != '{') {
            size_t after;
            long lo = unicode_escape(src, len, *next, &after);
            if (lo >= 0xDC00 && lo <= 0xDFFF && src[*next + 2] != '{') {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                *next = after;
            }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return refuse(t, i, "\\u%04lX is a lone surrogate, which never occurs in the UTF-8 text kumo checks", cp);
        snprintf(buf, sizeof buf, "\\x{%lx}", cp);
        puts_(t, buf);
        return 0;
    }
    case 'p':
    case 'P': return property(t, src, len, i, next);
    case 'k': {
        size_t k = i + 2;
        if (k < len && src[k] == '<') {
            while (k < len && src[k] != '>')
                k++;
            if (k < len && !in_class) {
                put(t, src + i, k + 1 - i);
                *next = k + 1;
                return 0;
            }
        }
        return refuse(t, i, "'\\k' must name a group outside a class: \\k<name>");
    }
    default: break;
    }
    if (e >= '1' && e <= '9') {
        if (in_class)
            return refuse(t, i, "a backreference cannot be in a character class");
        size_t k = i + 1;
        while (k < len && src[k] >= '0' && src[k] <= '9' && k - i < 6)
            k++;
        snprintf(buf, sizeof buf, "\\g{%.*s}", (int)(k - i - 1), src + i + 1);
        puts_(t, buf);
        *next = k;
        return 0;
    }
    if ((e && strchr("^$\\.*+?()[]{}|/", e)) || (e == '-' && in_class)) {
        put(t, src + i, 2);
        return 0;
    }
    if ((unsigned char)e >= 0x80)
        return refuse(t, i, "a backslash before a non-ASCII character is not an escape in ECMA-262 (u flag)");
    return refuse(t, i,
                  "'\\%c' is not an escape in ECMA-262 regular expressions (u flag), which JSON Schema uses; "
                  "kumo does not take PCRE-only escapes",
                  e);
}

/* ---- the pattern -------------------------------------------------------- */

/* {n}, {n,}, {n,m} at src[i]: its length, or 0. */
static size_t quantifier_len(const char *src, size_t len, size_t i)
{
    size_t k = i + 1, digits = 0;
    while (k < len && src[k] >= '0' && src[k] <= '9')
        k++, digits++;
    if (digits == 0)
        return 0;
    if (k < len && src[k] == ',') {
        k++;
        while (k < len && src[k] >= '0' && src[k] <= '9')
            k++;
    }
    return k < len && src[k] == '}' ? k + 1 - i : 0;
}

static int translate(tr *t, const char *src, size_t len)
{
    int in_class = 0, quant = 0; /* quant: 1 after a quantifier, 2 after a lazy one */
    size_t i = 0, next;
    while (i < len) {
        char ch = src[i];
        int was = quant, class_escape = t->class_escape, range_dash = t->range_dash;
        quant = 0;
        t->class_escape = t->range_dash = 0;
        mark(t, i);
        if (ch == '\\') {
            /* [a-\d] and [\d-a] are errors in ECMA-262 (u flag); kumo's
             * expansion of \s would turn them into ranges */
            if (in_class && range_dash && i + 1 < len && src[i + 1] && strchr("sSdDwWpP", src[i + 1]))
                return refuse(t, i,
                              "a class escape such as '\\%c' cannot end a range in a character class; "
                              "write '\\-' for a literal '-'",
                              src[i + 1]);
            int rc = escape(t, src, len, i, in_class, &next);
            if (rc < 0)
                return rc;
            i = next;
            continue;
        }
        if (in_class) {
            if (ch == '-' && i + 1 < len && src[i + 1] != ']') {
                if (class_escape)
                    return refuse(t, i,
                                  "a class escape such as \\d cannot start a range in a character class; "
                                  "write '\\-' for a literal '-'");
                t->range_dash = src[i - 1] != '[' && !(src[i - 1] == '^' && src[i - 2] == '[');
            }
            if (ch == ']')
                in_class = 0;
            put(t, ch == '[' ? "\\[" : src + i, ch == '[' ? 2 : 1);
            i++;
            continue;
        }
        switch (ch) {
        case '[':
            if (i + 1 < len && src[i + 1] == ']') {
                puts_(t, NOTHING);
                i += 2;
            } else if (i + 2 < len && src[i + 1] == '^' && src[i + 2] == ']') {
                puts_(t, ANY);
                i += 3;
            } else {
                in_class = 1;
                size_t n = i + 1 < len && src[i + 1] == '^' ? 2 : 1;
                put(t, src + i, n);
                i += n;
            }
            break;
        case '.':
            puts_(t, DOT);
            i++;
            break;
        case '(':
            if (i + 1 < len && src[i + 1] == '*')
                return refuse(t, i, "'(*' is not ECMA-262 syntax (PCRE2 verbs are not taken)");
            if (i + 1 < len && src[i + 1] == '?') {
                const char *g = src + i + 2;
                size_t left = len - i - 2, n = 0;
                if (left >= 1 && (g[0] == ':' || g[0] == '=' || g[0] == '!'))
                    n = 3;
                else if (left >= 2 && g[0] == '<' && (g[1] == '=' || g[1] == '!'))
                    n = 4;
                else if (left >= 2 && g[0] == '<' && (is_name_char(g[1]) || g[1] == '$'))
                    n = 2; /* (?<name>: PCRE2 checks the name */
                if (n == 0)
                    return refuse(t, i,
                                  "'(?%.1s' is not group syntax in ECMA-262; use (?:, (?=, (?!, (?<=, (?<! "
                                  "or (?<name>",
                                  left ? g : "");
                put(t, src + i, n);
                i += n;
                break;
            }
            put(t, src + i, 1);
            i++;
            break;
        case '*':
        case '+':
        case '?':
        case '{': {
            size_t n = ch == '{' ? quantifier_len(src, len, i) : 1;
            if (ch == '{' && n == 0)
                return refuse(t, i, "a lone '{' must be written \\{ in ECMA-262 (u flag)");
            if (was == 1 && ch == '+')
                return refuse(t, i, "possessive quantifiers ('+' after a quantifier) are not ECMA-262");
            if (was == 1 && ch == '?') {
                quant = 2; /* lazy */
            } else if (was) {
                return refuse(t, i, "nothing to repeat: a quantifier follows a quantifier");
            } else {
                quant = 1;
            }
            put(t, src + i, n);
            i += n;
            break;
        }
        default:
            put(t, src + i, 1);
            i++;
            break;
        }
    }
    mark(t, len);
    return 0;
}

/* Made once, under the lock; a failed attempt (out of memory) is tried
 * again by the next compile. */
static _Atomic(pcre2_match_context *) match_context;
static pthread_mutex_t match_context_lock = PTHREAD_MUTEX_INITIALIZER;

static int make_match_context(void)
{
    if (atomic_load(&match_context))
        return 0;
    pthread_mutex_lock(&match_context_lock);
    if (atomic_load(&match_context) == NULL) {
        pcre2_match_context *mc = pcre2_match_context_create(NULL);
        if (mc) {
            pcre2_set_match_limit(mc, PCRE_MATCH_LIMIT);
            pcre2_set_depth_limit(mc, PCRE_DEPTH_LIMIT);
            atomic_store(&match_context, mc);
        }
    }
    pthread_mutex_unlock(&match_context_lock);
    return atomic_load(&match_context) ? 0 : -ENOMEM;
}

pcre2_match_context *kumo__regex_match_context(void)
{
    return atomic_load(&match_context);
}

int kumo__regex_compile(const char *src, size_t len, pcre2_code **out, char *why, size_t why_len)
{
    tr t = {.why = why, .why_len = why_len};
    int rc;
    *out = NULL;
    if (why_len)
        why[0] = '\0';
    if (len > KUMO__REGEX_MAX) {
        snprintf(why, why_len, "longer than %d bytes, at offset %d", KUMO__REGEX_MAX, KUMO__REGEX_MAX);
        return -EINVAL;
    }
    if (kumo__pcre2_load(why, why_len) != 0)
        return -EINVAL;
    if (make_match_context() != 0)
        return -ENOMEM;
    put(&t, "", 0);
    if ((rc = translate(&t, src, len)) < 0)
        goto out;
    if (t.oom || t.out == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (t.too_long) {
        snprintf(why, why_len, "too long once translated for PCRE2, at offset 0");
        rc = -EINVAL;
        goto out;
    }
    int code;
    PCRE2_SIZE off;
    *out = pcre2_compile((PCRE2_SPTR)t.out, t.len, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY, &code,
                         &off, NULL);
    if (*out == NULL) {
        if (code == PCRE2_ERROR_NOMEMORY) {
            rc = -ENOMEM;
            goto out;
        }
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(code, buf, sizeof buf);
        size_t at = 0; /* the token the error offset falls in */
        for (size_t k = 0; k < t.nmarks && t.marks[k][0] <= off; k++)
            at = t.marks[k][1];
        snprintf(why, why_len, "%s, at offset %zu", (char *)buf, at);
        rc = -EINVAL;
        goto out;
    }
    rc = 0;
out:
    free(t.out);
    free(t.marks);
    return rc;
}
