#include "json.h"

#include <stdio.h>
#include <string.h>

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A string at p (after its opening quote) into out; returns the char after the closing
 * quote, or NULL. Escapes: \" \\ \/ \b \f \n \r \t and \u00XX. */
static const char *parse_string(const char *p, char *out, size_t len)
{
	size_t n = 0;
	for (;;) {
		char c = *p++;
		if (c == '"')
			break;
		if (c == 0 || (unsigned char)c < 0x20)
			return NULL;
		if (c == '\\') {
			c = *p++;
			switch (c) {
			case '"': case '\\': case '/': break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u': {
				/* Exactly four hex digits (found by fuzzing: sscanf's %4x took fewer and
				 * the parser skipped past the end of the line). */
				unsigned int v = 0;
				for (int i = 0; i < 4; i++, p++) {
					int d = hex_digit(*p);
					if (d < 0)
						return NULL;
					v = v * 16 + (unsigned int)d;
				}
				if (v > 0x7f || !v)
					return NULL; /* control-socket text is ASCII */
				c = (char)v;
				break;
			}
			default: return NULL;
			}
		}
		if (n + 1 >= len)
			return NULL;
		out[n++] = c;
	}
	out[n] = 0;
	return p;
}

static const char *parse_bare(const char *p, char *out, size_t len)
{
	size_t n = 0;
	while (*p && strchr("-+.0123456789eEtruefalsn", *p)) {
		if (n + 1 >= len)
			return NULL;
		out[n++] = *p++;
	}
	out[n] = 0;
	return n ? p : NULL;
}

int json_parse_object(const char *s, struct json_kv *kv, int max, const char **why)
{
	const char *p = skip_ws(s);
	int n = 0;
	*why = "not a JSON object";
	if (*p++ != '{')
		return -1;
	p = skip_ws(p);
	if (*p == '}')
		return *skip_ws(p + 1) ? -1 : 0;
	for (;;) {
		if (n == max) {
			*why = "too many keys";
			return -1;
		}
		*why = "bad JSON";
		if (*p++ != '"' || !(p = parse_string(p, kv[n].key, sizeof(kv[n].key))))
			return -1;
		p = skip_ws(p);
		if (*p++ != ':')
			return -1;
		p = skip_ws(p);
		kv[n].is_string = *p == '"';
		if (*p == '"')
			p = parse_string(p + 1, kv[n].value, sizeof(kv[n].value));
		else if (*p == '{' || *p == '[') {
			*why = "nested values are not taken";
			return -1;
		} else
			p = parse_bare(p, kv[n].value, sizeof(kv[n].value));
		if (!p)
			return -1;
		n++;
		p = skip_ws(p);
		if (*p == '}')
			break;
		if (*p++ != ',')
			return -1;
		p = skip_ws(p);
	}
	return *skip_ws(p + 1) ? -1 : n;
}

const char *json_get(const struct json_kv *kv, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(kv[i].key, key))
			return kv[i].value;
	return NULL;
}

void json_escape(const char *s, char *out, size_t len)
{
	size_t n = 0;
	for (; *s && n + 7 < len; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, len - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = 0;
}
