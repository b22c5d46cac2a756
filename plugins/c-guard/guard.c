/*
 * c-guard: a native pgDog plugin in C that answers some statements itself.
 *
 *   - DROP TABLE / DROP SCHEMA / TRUNCATE are refused (ERROR, SQLSTATE 42501);
 *   - `SHOW pgdog_servers` is answered with the database's servers (INTERCEPT);
 *   - `COPY … FROM STDIN … CSV` is split across shards by the integer value of the sharding
 *     column, modulo the shard count (COPY, then COPY_ROWS for each chunk of rows).
 *
 *   cc -shared -fPIC -O2 -I ../../plugin-sdk/c -o libc_guard.so guard.c
 *
 * Everything returned is malloc'd: pgDog frees it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pgdog_plugin.h"

static int starts_with(const char *p, const char *word) {
    while (isspace((unsigned char)*p))
        p++;
    size_t n = strlen(word);
    return strncasecmp(p, word, n) == 0 && !isalnum((unsigned char)p[n]) && p[n] != '_';
}

static int mentions(const char *p, const char *word) {
    size_t n = strlen(word);
    for (; *p; p++)
        if (strncasecmp(p, word, n) == 0)
            return 1;
    return 0;
}

static Output no_decision(void) {
    Output out;
    memset(&out, 0, sizeof out);
    out.decision = NO_DECISION;
    return out;
}

static Output refuse(const char *what) {
    Output out;
    memset(&out, 0, sizeof out);
    char message[128];
    snprintf(message, sizeof message, "%s is not allowed through pgDog", what);
    out.decision = ERROR;
    out.output.error.severity = strdup("ERROR");
    out.output.error.code = strdup("42501");
    out.output.error.message = strdup(message);
    out.output.error.detail = strdup("The c-guard plugin refuses destructive DDL; run it on the server directly.");
    return out;
}

static RowColumn text_value(const char *text) {
    RowColumn column = {(int)strlen(text), strdup(text)};
    return column;
}

static RowColumn int_value(int value) {
    char text[16];
    snprintf(text, sizeof text, "%d", value);
    return text_value(text);
}

/* One row per server: shard, role, host, port. */
static Output servers(const Config *config) {
    static const char *names[] = {"shard", "role", "host", "port"};
    static const int oids[] = {23, 25, 25, 23}; /* int4, text, text, int4 */
    Output out;
    memset(&out, 0, sizeof out);
    out.decision = INTERCEPT;
    Intercept *intercept = &out.output.intercept;
    intercept->row_description.num_columns = 4;
    intercept->row_description.columns = calloc(4, sizeof(RowDescriptionColumn));
    for (int i = 0; i < 4; i++) {
        intercept->row_description.columns[i].len = (int)strlen(names[i]);
        intercept->row_description.columns[i].name = strdup(names[i]);
        intercept->row_description.columns[i].oid = oids[i];
    }
    intercept->num_rows = config->num_databases;
    intercept->rows = config->num_databases > 0 ? calloc(config->num_databases, sizeof(Row)) : NULL;
    for (int i = 0; i < config->num_databases; i++) {
        const DatabaseConfig *db = &config->databases[i];
        Row row = pgdog_row_new(4);
        row.columns[0] = int_value(db->shard);
        row.columns[1] = text_value(db->role == PRIMARY ? "primary" : "replica");
        row.columns[2] = text_value(db->host);
        row.columns[3] = int_value(db->port);
        intercept->rows[i] = row;
    }
    return out;
}

/* COPY … FROM STDIN with CSV: the plugin splits the rows. */
static Output copy(void) {
    Output out;
    memset(&out, 0, sizeof out);
    out.decision = COPY;
    out.output.copy.copy_format = CSV;
    out.output.copy.table_name = NULL;
    out.output.copy.delimiter = ',';
    out.output.copy.num_columns = 0;
    out.output.copy.columns = NULL;
    return out;
}

/* The integer in field `column` (0-based) of the line [line, end), CSV without quoted
   delimiters; 0 when the line has fewer fields. Never reads past `end`. */
static long field(const char *line, const char *end, char delimiter, int column) {
    for (int i = 0; i < column && line < end; line++)
        if (*line == delimiter)
            i++;
    char digits[32];
    size_t n = 0;
    while (line < end && n + 1 < sizeof digits && *line != delimiter && *line != '\n')
        digits[n++] = *line++;
    digits[n] = '\0';
    return strtol(digits, NULL, 10);
}

static Output copy_rows(const CopyInput *copy, int shards) {
    Output out;
    memset(&out, 0, sizeof out);
    out.decision = COPY_ROWS;
    CopyOutput *rows = &out.output.copy_rows;
    /* One entry per newline, plus one for a last row without it. */
    int lines = 1;
    for (int i = 0; i < copy->len; i++)
        if (copy->data[i] == '\n')
            lines++;
    rows->rows = calloc((size_t)lines, sizeof(CopyRow));
    if (rows->rows == NULL)
        return no_decision();
    const char *p = copy->data, *end = copy->data + copy->len;
    int first = 1;
    int column = copy->sharding_column >= 0 ? copy->sharding_column : 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl + 1 : end;
        int len = (int)(stop - p);
        if (!(first && copy->has_headers)) {
            long key = field(p, stop, copy->delimiter, column);
            CopyRow *row = &rows->rows[rows->num_rows++];
            row->len = len;
            row->data = malloc((size_t)len);
            if (row->data != NULL)
                memcpy(row->data, p, (size_t)len);
            row->shard = (int)(labs(key) % (shards > 0 ? shards : 1));
        }
        first = 0;
        p = stop;
    }
    return out;
}

Output pgdog_route_query(Input input) {
    if (input.input_type == COPY_INPUT)
        return copy_rows(&input.input.copy, input.config.shards);
    const char *sql = input.input.query.query;
    if (sql == NULL)
        return no_decision();
    if (starts_with(sql, "truncate"))
        return refuse("TRUNCATE");
    if (starts_with(sql, "drop") && (mentions(sql, "table") || mentions(sql, "schema")))
        return refuse("DROP TABLE / DROP SCHEMA");
    if (starts_with(sql, "show") && mentions(sql, "pgdog_servers"))
        return servers(&input.config);
    if (starts_with(sql, "copy") && mentions(sql, "from stdin") && mentions(sql, "csv"))
        return copy();
    return no_decision();
}
