#include "daemon/docker/dockerjson.h"

#include "shared/timestamp.h"
#include "shared/util.h"

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
        return timestamp_ms_or_zero(s);
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
