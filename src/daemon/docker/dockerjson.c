#include "daemon/docker/dockerjson.h"

#include "shared/util.h"

#include <string.h>
#include <time.h>

char *json_text(const json_t *v)
{
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!s)
                abort();
        return s;
}

const char *jstr(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

int64_t docker_time_ms(const char *s)
{
        if (!s || startswith(s, "0001-"))
                return 0;
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!rest)
                return 0;
        int64_t ms = (int64_t)timegm(&tm) * 1000;
        if (rest[0] == '.') {
                int64_t frac = 0, digits = 0;
                for (const char *p = rest + 1; *p >= '0' && *p <= '9' && digits < 3; p++, digits++)
                        frac = frac * 10 + (*p - '0');
                while (digits++ < 3)
                        frac *= 10;
                ms += frac;
        }
        return ms;
}

const char *docker_inspect_workspace(const json_t *inspect)
{
        const char *label = jstr(json_object_get(json_object_get(inspect, "Config"), "Labels"),
                                 DOCKER_WORKSPACE_LABEL);
        if (label)
                return label;
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(inspect, "Mounts"), i, m) {
                if (streq_ptr(jstr(m, "Destination"), "/workspace"))
                        return jstr(m, "Source");
        }
        return NULL;
}
