/*
 * c-read-write-split: a native pgDog plugin in C, against pgdog's original C ABI.
 *
 * Reads go to replicas, everything else to the primary, decided from the statement's
 * first keyword alone (the way pgdog's original C example did it): no parser, so it
 * costs next to nothing, and it leaves the shard to pgDog's built-in sharding.
 *
 *   cc -shared -fPIC -O2 -I ../../plugin-sdk/c -o libc_read_write_split.so read_write_split.c
 */
#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "pgdog_plugin.h"

/* Skips white space and SQL comments (-- to end of line, and non-nested block comments). */
static const char *skip_noise(const char *p, const char *end) {
    for (;;) {
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            while (p < end && *p != '\n')
                p++;
        } else if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
            const char *close = p + 2;
            while (end - close >= 2 && !(close[0] == '*' && close[1] == '/'))
                close++;
            p = (end - close >= 2) ? close + 2 : end;
        } else {
            return p;
        }
    }
}

/* The first keyword is `word` (case-insensitive) and ends there. */
static int starts_with(const char *p, const char *end, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(end - p) < n || strncasecmp(p, word, n) != 0)
        return 0;
    return (size_t)(end - p) == n || !isalnum((unsigned char)p[n]);
}

/* Contains `word` as a whole word, case-insensitive (for FOR UPDATE / FOR SHARE and
   data-changing CTEs). */
static int mentions(const char *p, const char *end, const char *word) {
    size_t n = strlen(word);
    for (const char *at = p; (size_t)(end - at) >= n; at++) {
        /* `word` is lower case: compare the first letter before the whole word. */
        if (tolower((unsigned char)*at) != word[0])
            continue;
        if (strncasecmp(at, word, n) == 0 && (at == p || !isalnum((unsigned char)at[-1])) &&
            ((size_t)(end - at) == n || !isalnum((unsigned char)at[n])))
            return 1;
    }
    return 0;
}

static int is_read(const char *p, const char *end) {
    if (starts_with(p, end, "select") || starts_with(p, end, "with") ||
        starts_with(p, end, "values") || starts_with(p, end, "table")) {
        return !mentions(p, end, "update") && !mentions(p, end, "insert") &&
               !mentions(p, end, "delete") && !mentions(p, end, "share") &&
               !mentions(p, end, "nextval") && !mentions(p, end, "setval");
    }
    return starts_with(p, end, "show");
}

Output pgdog_route_query(Input input) {
    Output out;
    memset(&out, 0, sizeof out);
    if (input.input_type != ROUTING_INPUT || input.input.query.query == NULL) {
        out.decision = NO_DECISION;
        return out;
    }
    const char *text = input.input.query.query;
    const char *end = text + input.input.query.len;
    const char *p = skip_noise(text, end);
    out.decision = FORWARD;
    out.output.route.affinity = is_read(p, end) ? READ : WRITE;
    /* ANY: the plugin does not pick a shard; pgDog's own sharding does. */
    out.output.route.shard = ANY;
    return out;
}
