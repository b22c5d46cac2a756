/*
 * A native test plugin that answers with what the query text asks for, including
 * malformed Output that pgDog must refuse without undefined behaviour.
 * Built by the test harness (tests/src/plugins.rs); VARIANT tells reloaded builds apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgdog_plugin.h"

#ifndef VARIANT
#define VARIANT "1"
#endif

static Output empty(int decision) {
    Output out;
    memset(&out, 0, sizeof out);
    out.decision = decision;
    return out;
}

static Output one_value(const char *column, const char *value) {
    Output out = empty(INTERCEPT);
    Intercept *i = &out.output.intercept;
    i->row_description.num_columns = 1;
    i->row_description.columns = calloc(1, sizeof(RowDescriptionColumn));
    i->row_description.columns[0].len = (int)strlen(column);
    i->row_description.columns[0].name = strdup(column);
    i->row_description.columns[0].oid = 25;
    i->num_rows = 1;
    i->rows = calloc(1, sizeof(Row));
    i->rows[0] = pgdog_row_new(1);
    i->rows[0].columns[0].length = (int)strlen(value);
    i->rows[0].columns[0].data = strdup(value);
    return out;
}

void pgdog_init(void) {
    fprintf(stderr, "native-chaos " VARIANT ": init\n");
}

void pgdog_fini(void) {
    fprintf(stderr, "native-chaos " VARIANT ": fini\n");
}

Output pgdog_route_query(Input input) {
    if (input.input_type != ROUTING_INPUT)
        return empty(NO_DECISION);
    const char *q = input.input.query.query;
    if (strstr(q, "chaos_version"))
        return one_value("version", VARIANT);
    if (strstr(q, "chaos_params")) {
        /* Echoes the bound parameters as text: "len:format:value|…". */
        char buf[512] = "";
        for (int n = 0; n < input.input.query.num_parameters; n++) {
            const Parameter *p = &input.input.query.parameters[n];
            char part[128];
            snprintf(part, sizeof part, "%d:%d:%.*s|", p->len, p->format, p->len < 0 ? 0 : p->len,
                     p->data ? p->data : "");
            strncat(buf, part, sizeof buf - strlen(buf) - 1);
        }
#ifdef PARAMS_AS_ERROR
        /* Rows are refused in the extended protocol, where parameters exist: an error
           carries them back to the client instead. */
        Output out = empty(ERROR);
        out.output.error.code = strdup("P0001");
        out.output.error.message = strdup(buf);
        return out;
#else
        return one_value("params", buf);
#endif
    }
    if (strstr(q, "chaos_rewrite")) {
        Output out = empty(REWRITE);
        const char *sql = "SELECT 'rewritten by native'::text AS r";
        out.output.rewrite.route.affinity = UNKNOWN;
        out.output.rewrite.route.shard = ANY;
        out.output.rewrite.len = (int)strlen(sql);
        out.output.rewrite.query = strdup(sql);
        return out;
    }
    if (strstr(q, "chaos_shard_one")) {
        Output out = empty(FORWARD);
        out.output.route.affinity = WRITE;
        out.output.route.shard = 1;
        return out;
    }
    if (strstr(q, "chaos_null_message")) {
        Output out = empty(ERROR);
        out.output.error.code = strdup("P0001");
        return out;
    }
    if (strstr(q, "chaos_bad_code")) {
        Output out = empty(ERROR);
        out.output.error.code = strdup("oops");
        out.output.error.message = strdup("bad code");
        return out;
    }
    if (strstr(q, "chaos_negative_rows")) {
        Output out = one_value("x", "y");
        out.output.intercept.num_rows = -3;
        return out;
    }
    if (strstr(q, "chaos_null_rows")) {
        Output out = one_value("x", "y");
        free(out.output.intercept.rows[0].columns[0].data);
        free(out.output.intercept.rows[0].columns);
        free(out.output.intercept.rows);
        out.output.intercept.rows = NULL;
        out.output.intercept.num_rows = 2;
        return out;
    }
    if (strstr(q, "chaos_row_mismatch")) {
        Output out = one_value("x", "y");
        out.output.intercept.rows[0].num_columns = 3;
        return out;
    }
    if (strstr(q, "chaos_bad_utf8")) {
        Output out = empty(ERROR);
        out.output.error.code = strdup("P0001");
        out.output.error.message = strdup("\xff\xfe");
        return out;
    }
    if (strstr(q, "chaos_far_shard")) {
        Output out = empty(FORWARD);
        out.output.route.affinity = READ;
        out.output.route.shard = 7;
        return out;
    }
    if (strstr(q, "chaos_minus_shard")) {
        Output out = empty(FORWARD);
        out.output.route.affinity = READ;
        out.output.route.shard = -5;
        return out;
    }
    if (strstr(q, "chaos_bad_decision"))
        return empty(42);
    return empty(NO_DECISION);
}
