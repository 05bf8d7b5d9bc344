/* The control socket's request parser: any line parses or is refused, keys and values
 * stay within their buffers and are NUL-terminated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	memcpy(line, data, size);
	line[size] = 0;
	struct json_kv kv[JSON_MAX_KEYS];
	const char *why;
	int n = json_parse_object(line, kv, JSON_MAX_KEYS, &why);
	for (int i = 0; i < n; i++) {
		if (strlen(kv[i].key) >= sizeof(kv[i].key) || strlen(kv[i].value) >= sizeof(kv[i].value))
			__builtin_trap();
		char esc[JSON_MAX_TEXT * 6 + 8];
		json_escape(kv[i].value, esc, sizeof(esc));
	}
	free(line);
	return 0;
}
