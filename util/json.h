/* Just enough JSON for the control socket and the migration records: one flat object
 * per line whose values are strings, numbers, booleans or null (kept as their text), and
 * escaping for what pagoda writes. */
#ifndef PAGODA_UTIL_JSON_H
#define PAGODA_UTIL_JSON_H

#include <stddef.h>

#define JSON_MAX_KEYS 16
#define JSON_MAX_TEXT 256

struct json_kv {
	char key[64];
	char value[JSON_MAX_TEXT];
	int is_string;
};

/* Parses {"k": v, ...}; returns the number of pairs, or -1 with *why set on bad input. */
int json_parse_object(const char *s, struct json_kv *kv, int max, const char **why);
/* The value of key, or NULL. */
const char *json_get(const struct json_kv *kv, int n, const char *key);
/* s as a JSON string body (quotes not included) into out; truncates safely. */
void json_escape(const char *s, char *out, size_t len);

#endif
