/*
 * pgdog_plugin.h: the C ABI of native (shared library) routing plugins.
 *
 * This is pgdog's original plugin interface, kept binary-compatible so plugins built for
 * it load in pgDog unmodified. Layouts are plain C on 64-bit Linux; do not reorder or
 * resize anything here.
 *
 * A plugin is a shared library exporting:
 *
 *   Output pgdog_route_query(Input input);   required
 *   void   pgdog_init(void);                 optional: once, when the library is loaded
 *   void   pgdog_fini(void);                 optional: once, at shutdown or after a reload
 *                                            replaced it and its last call returned
 *
 * Threads: pgdog_route_query is called from several threads at once. It must be
 * thread-safe (keep no unguarded global state).
 *
 * Memory: everything pgDog passes in Input belongs to pgDog and is valid only during the
 * call. Every pointer the plugin returns in Output must come from malloc (or strdup,
 * calloc, pgdog_row_new); pgDog copies what it needs and frees each with free().
 * String literals or static buffers in Output crash the process.
 *
 * Safety: a native plugin runs inside pgDog's process. A crash, abort or endless loop in
 * it takes pgDog down with it; pgDog cannot contain it (use a WebAssembly plugin for
 * sandboxed routing). What pgDog does check is the Output: NULL where data is promised,
 * negative lengths or counts, shards that do not exist, undecodable text. Such an answer
 * fails that one query with a clear error, handled by the plugin's on_error policy.
 */
#ifndef PGDOG_PLUGIN_H
#define PGDOG_PLUGIN_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- input ------------ */

/* One server of the database, from pgdog.toml. */
typedef struct DatabaseConfig {
    int shard;  /* the shard it serves */
    int role;   /* PRIMARY or REPLICA */
    char *host;
    int port;
} DatabaseConfig;

typedef enum DatabaseRole {
    PRIMARY = 1,
    REPLICA = 2,
} DatabaseRole;

/* The database the query is for. */
typedef struct Config {
    int num_databases;
    DatabaseConfig *databases; /* num_databases entries */
    char *name;                /* the database's name in pgdog.toml (what clients connect to) */
    int shards;                /* number of shards; valid shard numbers are 0..shards-1 */
} Config;

/* A bound parameter of an extended-protocol execution. */
typedef struct Parameter {
    int len;          /* bytes in data; -1 for NULL */
    const char *data; /* NULL for a NULL value; not NUL-terminated */
    int format;       /* 0 text, 1 binary (as the client sent it in Bind) */
} Parameter;

/* A query to route. */
typedef struct Query {
    int len;                      /* bytes of query, without the terminating NUL */
    const char *query;            /* the SQL text, NUL-terminated */
    int num_parameters;
    const Parameter *parameters;  /* num_parameters entries, NULL when there are none */
} Query;

/* A chunk of COPY … FROM STDIN rows to split by shard (after the plugin answered COPY). */
typedef struct CopyInput {
    int len;             /* bytes of data */
    const char *data;    /* whole rows, each ending in a newline; not NUL-terminated */
    char delimiter;      /* the column delimiter of the COPY statement */
    int has_headers;     /* 1: the first row of data is the header line */
    int sharding_column; /* 0-based column of the sharding key, -1 when pgDog knows none */
} CopyInput;

typedef union RoutingInput {
    Query query;    /* input_type == ROUTING_INPUT */
    CopyInput copy; /* input_type == COPY_INPUT */
} RoutingInput;

typedef enum InputType {
    ROUTING_INPUT = 1,
    COPY_INPUT = 2,
} InputType;

typedef struct Input {
    Config config;
    int input_type; /* InputType */
    RoutingInput input;
} Input;

/* --------------------------------------------------------------- output ------------ */

/* What the plugin decided. */
typedef enum RoutingDecision {
    FORWARD = 1,     /* output.route: send the query where the route says */
    REWRITE = 2,     /* output.rewrite: send output.rewrite.query instead, routed by output.rewrite.route */
    ERROR = 3,       /* output.error: answer the client with this error; no server is asked */
    INTERCEPT = 4,   /* output.intercept: answer the client with these rows; no server is asked */
    NO_DECISION = 5, /* ask the next plugin (or pgDog's built-in routing) */
    COPY = 6,        /* output.copy: this COPY … FROM STDIN goes to every shard, and the
                        plugin splits its rows (pgDog calls again with COPY_INPUT) */
    COPY_ROWS = 7,   /* output.copy_rows: the rows of a COPY_INPUT, each with its shard */
} RoutingDecision;

/* Read or write: which server of a shard takes the query. */
typedef enum Affinity {
    READ = 1,              /* a replica (the primary when there is none) */
    WRITE = 2,             /* the primary */
    TRANSACTION_START = 3, /* the primary */
    TRANSACTION_END = 4,   /* the primary */
    UNKNOWN = -1,          /* pgDog chooses, as it would without the plugin */
} Affinity;

/* Special values of Route.shard (values >= 0 name one shard). */
typedef enum Shard {
    ANY = -1, /* the plugin does not pick: pgDog's built-in sharding does (one shard when
                 the statement names its key, else as configured) */
    ALL = -2, /* every shard; pgDog merges the results */
} Shard;

typedef enum OrderByDirection {
    ASCENDING = 0,
    DESCENDING = 1,
} OrderByDirection;

/* A sort key of a query sent to several shards (informational: pgDog merges by the
   ORDER BY of the statement itself). */
typedef struct OrderBy {
    char *column_name; /* may be NULL when column_index is used */
    int column_index;
    int direction;     /* OrderByDirection */
} OrderBy;

typedef struct Route {
    int affinity;      /* Affinity */
    int shard;         /* a shard number, ANY (pgDog's built-in sharding picks) or ALL */
    int num_order_by;
    OrderBy *order_by; /* num_order_by entries, NULL when there are none */
} Route;

/* An error sent to the client instead of running the query. */
typedef struct Error {
    char *severity; /* "ERROR" (pgDog always answers with severity ERROR) */
    char *code;     /* SQLSTATE: five characters, digits and upper-case letters */
    char *message;
    char *detail;   /* may be NULL */
} Error;

/* One value of a row: length bytes of text at data; length -1 (or data NULL) is NULL. */
typedef struct RowColumn {
    int length;
    char *data;
} RowColumn;

typedef struct Row {
    int num_columns;    /* must equal the row description's num_columns */
    RowColumn *columns;
} Row;

typedef struct RowDescriptionColumn {
    int len;    /* bytes of name */
    char *name;
    int oid;    /* the column's type OID (25 text, 23 int4, 20 int8, 16 bool, …); values are sent as text */
} RowDescriptionColumn;

typedef struct RowDescription {
    int num_columns;
    RowDescriptionColumn *columns;
} RowDescription;

/* Rows sent to the client instead of running the query. */
typedef struct Intercept {
    RowDescription row_description;
    int num_rows;
    Row *rows;
} Intercept;

typedef enum CopyFormat {
    INVALID = 0,
    CSV = 1,
} CopyFormat;

/* The plugin's reading of a COPY … FROM STDIN statement. pgDog checks copy_format and
   otherwise reads the COPY's options (delimiter, header, columns) from the statement
   itself, which is what the servers will use; CopyInput passes them back. */
typedef struct Copy {
    int copy_format;   /* CopyFormat; INVALID refuses the COPY */
    char *table_name;
    int has_headers;
    char delimiter;
    int num_columns;
    char **columns;    /* num_columns column names */
} Copy;

/* One row of COPY data and the shard it goes to (a shard number, or ALL for every shard). */
typedef struct CopyRow {
    int len;
    char *data; /* the row's bytes, including its newline (a row without one is an error) */
    int shard;
} CopyRow;

typedef struct CopyOutput {
    int num_rows;
    CopyRow *rows;
    char *header; /* accepted and freed, not used: pgDog itself sends the COPY's header
                     line to every shard (each shard's COPY … HEADER skips one line) */
} CopyOutput;

/*
 * REWRITE's payload. pgdog's original header declared REWRITE without one; pgDog adds
 * this member to the union. It fits inside the union's existing size, so every other
 * member and the size of Output are unchanged. `route` is first, so a plugin that filled
 * output.route and then sets REWRITE keeps its route.
 */
typedef struct Rewrite {
    Route route;
    int len;     /* bytes of query */
    char *query; /* the new SQL text */
} Rewrite;

typedef union RoutingOutput {
    Route route;
    Error error;
    Intercept intercept;
    Copy copy;
    CopyOutput copy_rows;
    Rewrite rewrite;
} RoutingOutput;

typedef struct Output {
    int decision; /* RoutingDecision */
    RoutingOutput output;
} Output;

/* ------------------------------------------------------------- functions ----------- */

/* Provided by pgDog (exported by the pgdog binary): a row of num_columns zeroed columns,
   allocated with calloc, so pgDog can free it. */
Row pgdog_row_new(int num_columns);
/* Frees a row from pgdog_row_new and the data of each of its columns. For rows the
   plugin keeps itself; rows returned in Output are freed by pgDog. */
void pgdog_row_free(Row row);

/* Exported by the plugin. */
Output pgdog_route_query(Input input);
void pgdog_init(void);
void pgdog_fini(void);

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && defined(__LP64__)
/* The sizes pgdog's original ABI has on 64-bit Linux. */
_Static_assert(sizeof(Input) == 72, "Input layout");
_Static_assert(sizeof(Output) == 48, "Output layout");
_Static_assert(sizeof(RoutingOutput) == 40, "RoutingOutput layout");
#endif

#ifdef __cplusplus
}
#endif

#endif /* PGDOG_PLUGIN_H */
