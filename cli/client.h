/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/JSON over berthd's unix socket (libcurl, CURLOPT_UNIX_SOCKET_PATH).
 *
 * Every call prints its own failure to stderr, in the forms docs/CLI.md
 * promises, and returns:
 *   -EREMOTEIO  the daemon answered with an error body (printed as
 *               "berthctl: <field>: <message>"); client_last_code() names its class,
 *   -ENOTCONN   the daemon could not be reached (socket and reason printed),
 *   other < 0   a local failure (out of memory, malformed answer).
 * client_exit_code() maps these onto the exit codes. */
#pragma once

#include <jansson.h>

#include "lib/util.h"

typedef struct Client Client;

int client_new(const char *socket_path, Client **ret);
Client *client_free(Client *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Client *, client_free);

/* One request; body may be NULL. On success (2xx) *ret_body (if not NULL)
 * receives the parsed JSON answer, or NULL when the answer is not JSON. */
int client_call(Client *c, const char *method, const char *path, const json_t *body, json_t **ret_body);

/* Called as data arrives; return < 0 to abort the transfer (that error is returned). */
typedef int (*ClientStreamFunc)(const char *data, size_t len, void *userdata);
/* Called about once a second while a stream is open (may be NULL). */
typedef void (*ClientTickFunc)(void *userdata);

/* A streaming GET: the 2xx body goes to cb as it arrives (chunked answers
 * are not buffered); an error answer is buffered and printed. */
int client_stream(Client *c, const char *path, ClientStreamFunc cb, ClientTickFunc tick, void *userdata);
/* The same with another method (POST for the image jobs, cli/verb-image.c). */
int client_stream_method(Client *c, const char *method, const char *path, ClientStreamFunc cb, ClientTickFunc tick,
                         void *userdata);

/* Error class of the last daemon error ("AlreadyExists", ...), or "" . */
const char *client_last_code(const Client *c);
long client_last_status(const Client *c);
/* Do not print the next daemon error (the caller reports it). */
void client_quiet_next(Client *c);
const char *client_last_message(const Client *c);
const char *client_last_field(const Client *c);

int client_exit_code(int r);
