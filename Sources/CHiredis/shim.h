#ifndef GATEWAY_CHIREDIS_SHIM_H
#define GATEWAY_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/socket.h>

/* hiredis 0.14 through three calls that Swift can make (redisCommand is variadic and does not
   import): connect, one command, one pushed message. A reply's string is copied out (free()). */

static inline redisContext *cmredis_connect(const char *host, int port, int timeout_ms, char *error, size_t error_size) {
    struct timeval timeout = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    redisContext *context = redisConnectWithTimeout(host, port, timeout);
    if (!context) { strncpy(error, "cannot allocate a connection", error_size - 1); return NULL; }
    if (context->err) {
        strncpy(error, context->errstr, error_size - 1);
        redisFree(context);
        return NULL;
    }
    redisSetTimeout(context, timeout);
    return context;
}

/* Sets the read timeout: 0 blocks until something arrives (a subscriber). */
static inline void cmredis_set_timeout(redisContext *context, int timeout_ms) {
    struct timeval timeout = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    redisSetTimeout(context, timeout);
}

typedef struct {
    int type;            /* REDIS_REPLY_*, or -1 when the connection failed (then `text` is why) */
    long long integer;
    char *text;          /* a string, status or error reply; malloc'd, or NULL */
    size_t length;
} cmredis_reply_t;

static inline void cmredis_take(redisReply *reply, cmredis_reply_t *out) {
    out->type = reply->type;
    out->integer = reply->integer;
    out->text = NULL;
    out->length = 0;
    if (reply->str && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_ERROR)) {
        out->text = malloc(reply->len + 1);
        if (out->text) { memcpy(out->text, reply->str, reply->len); out->text[reply->len] = 0; out->length = reply->len; }
    }
}

static inline void cmredis_failed(redisContext *context, cmredis_reply_t *out) {
    out->type = -1;
    out->integer = 0;
    out->text = strdup(context->err ? context->errstr : "no reply");
    out->length = out->text ? strlen(out->text) : 0;
}

static inline void cmredis_command(redisContext *context, int argc, const char **argv, const size_t *lengths, cmredis_reply_t *out) {
    redisReply *reply = redisCommandArgv(context, argc, argv, lengths);
    if (!reply) { cmredis_failed(context, out); return; }
    cmredis_take(reply, out);
    freeReplyObject(reply);
}

/* Waits for one pushed message of a subscribed connection: 1 with `payload` (malloc'd) for a
   ["message", channel, payload]; 0 for anything else (a subscribe confirmation); -1 when the
   connection failed or timed out. */
static inline int cmredis_next_message(redisContext *context, char **payload) {
    void *raw = NULL;
    if (redisGetReply(context, &raw) != REDIS_OK || !raw) return -1;
    redisReply *reply = raw;
    int found = 0;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 && reply->element[0]->str && strcmp(reply->element[0]->str, "message") == 0
        && reply->element[2]->str) {
        *payload = malloc(reply->element[2]->len + 1);
        if (*payload) {
            memcpy(*payload, reply->element[2]->str, reply->element[2]->len);
            (*payload)[reply->element[2]->len] = 0;
            found = 1;
        }
    }
    freeReplyObject(reply);
    return found;
}
/* Ends a blocking wait on `context` from another thread (a subscriber being closed). */
static inline void cmredis_interrupt(redisContext *context) {
    shutdown(context->fd, SHUT_RDWR);
}
#endif
