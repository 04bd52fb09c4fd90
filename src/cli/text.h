/* text.h - how the CLI prints text it did not write (job, node and tenant names, states,
 * reasons, commands, the controller's errors): one escape for every view, so that no name can
 * break a table, forge an output line or drive the terminal.
 *
 * Written as \xHH, byte by byte: C0 control characters (newline and tab included) and DEL,
 * C1 controls (U+0080..U+009F), the Unicode line and paragraph separators (U+2028, U+2029),
 * the bidirectional marks, embeddings, overrides and isolates (U+200E, U+200F,
 * U+202A..U+202E, U+2066..U+2069), and every byte that is not part of valid UTF-8
 * (overlong forms, surrogates and code points past U+10FFFF included). Everything else,
 * backslashes too, is printed as it is (the daemon log line escapes the same way). */
#ifndef COLOSSUS_CLI_TEXT_H
#define COLOSSUS_CLI_TEXT_H

#include <stdio.h>

/* s escaped, in a new string (NULL is ""). Caller frees. */
char *cl_text_safe(const char *s);
/* s escaped, on f. */
void cl_text_put(FILE *f, const char *s);
/* s escaped as a table cell: at most width characters (an escape counts its four), cut at a
 * whole character or escape, then padded with spaces to width. */
void cl_text_cell(FILE *f, const char *s, int width);
/* The n strings of v escaped, joined by ','; "-" when there are none (a job's nodes). */
void cl_text_list(FILE *f, char *const *v, size_t n);

#endif
