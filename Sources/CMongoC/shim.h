#ifndef GATEWAY_CMONGOC_SHIM_H
#define GATEWAY_CMONGOC_SHIM_H
#include <mongoc/mongoc.h>

/* bson_t is 128-byte aligned and imports only as an opaque pointer: documents cross into Swift
   as relaxed extended JSON (read) and are built from JSON (write). The gateway's own parser
   reads the JSON; numbers keep their kind (int32/int64 stay integers, doubles keep a point). */

static inline bson_t *cmongo_bson_from_json(const char *json, long length, uint32_t *code, char *message, size_t message_size) {
    bson_error_t error;
    bson_t *document = bson_new_from_json((const uint8_t *)json, (ssize_t)length, &error);
    if (!document) {
        *code = error.code;
        bson_strncpy(message, error.message, message_size);
    }
    return document;
}

/* The document as relaxed extended JSON; free with bson_free. */
static inline char *cmongo_bson_to_json(const bson_t *document) {
    return bson_as_relaxed_extended_json(document, NULL);
}

/* A bson_error_t's parts, for a call that failed. */
typedef struct {
    uint32_t domain;
    uint32_t code;
    char message[504];
} cmongo_error_t;

static inline void cmongo_copy_error(const bson_error_t *from, cmongo_error_t *to) {
    to->domain = from->domain;
    to->code = from->code;
    bson_strncpy(to->message, from->message, sizeof(to->message));
}

/* Runs `command` (JSON) on `database`; the reply as JSON (bson_free), or NULL with `error`. */
static inline char *cmongo_command(mongoc_client_t *client, const char *database, const char *command_json, cmongo_error_t *error) {
    bson_error_t failure;
    bson_t *command = bson_new_from_json((const uint8_t *)command_json, -1, &failure);
    if (!command) { cmongo_copy_error(&failure, error); return NULL; }
    bson_t reply;
    bool ok = mongoc_client_command_simple(client, database, command, NULL, &reply, &failure);
    bson_destroy(command);
    char *json = NULL;
    if (ok) {
        json = bson_as_relaxed_extended_json(&reply, NULL);
    } else {
        cmongo_copy_error(&failure, error);
        /* The server's own code (11000 for a duplicate key) is in the reply. */
        bson_iter_t iter;
        if (bson_iter_init_find(&iter, &reply, "code") && BSON_ITER_HOLDS_INT32(&iter)) error->code = (uint32_t)bson_iter_int32(&iter);
    }
    bson_destroy(&reply);
    return json;
}

/* Finds with `filter` and `options` (JSON) in `collection`: each document as JSON, joined by
   '\n' (documents never contain a raw newline: JSON escapes it). NULL with `error`. */
static inline char *cmongo_find(mongoc_client_t *client, const char *database, const char *collection_name,
                                const char *filter_json, const char *options_json, cmongo_error_t *error) {
    bson_error_t failure;
    bson_t *filter = bson_new_from_json((const uint8_t *)filter_json, -1, &failure);
    if (!filter) { cmongo_copy_error(&failure, error); return NULL; }
    bson_t *options = bson_new_from_json((const uint8_t *)options_json, -1, &failure);
    if (!options) { bson_destroy(filter); cmongo_copy_error(&failure, error); return NULL; }
    mongoc_collection_t *collection = mongoc_client_get_collection(client, database, collection_name);
    mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(collection, filter, options, NULL);
    bson_string_t *out = bson_string_new("");
    const bson_t *document;
    while (mongoc_cursor_next(cursor, &document)) {
        char *json = bson_as_relaxed_extended_json(document, NULL);
        bson_string_append(out, json);
        bson_string_append_c(out, '\n');
        bson_free(json);
    }
    char *result = NULL;
    if (mongoc_cursor_error(cursor, &failure)) {
        cmongo_copy_error(&failure, error);
        bson_string_free(out, true);
    } else {
        result = bson_string_free(out, false);
    }
    mongoc_cursor_destroy(cursor);
    mongoc_collection_destroy(collection);
    bson_destroy(filter);
    bson_destroy(options);
    return result;
}
#endif
