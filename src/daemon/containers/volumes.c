/* volumes.c - an image's VOLUMEs and what they mean for the user's files (see volumes.h). */
#include "daemon/containers/volumes.h"

#include "daemon/docker/dockerjson.h"
#include "shared/strbuf.h"

/* path as Docker cleans it (filepath.Clean): no ".", "..", or repeated or trailing slashes. */
static char *clean_path(const char *path)
{
        _cleanup_free_ char *copy = xstrdup(path);
        char **parts = NULL;
        size_t n = 0;
        char *save = NULL;
        for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                if (streq(t, "."))
                        continue;
                if (streq(t, "..")) {
                        n -= n > 0;
                        continue;
                }
                parts = xrealloc(parts, (n + 1) * sizeof(*parts));
                parts[n++] = t;
        }
        struct strbuf sb = STRBUF_INIT;
        for (size_t i = 0; i < n; i++) {
                strbuf_addc(&sb, '/');
                strbuf_adds(&sb, parts[i]);
        }
        free(parts);
        if (n == 0)
                strbuf_addc(&sb, '/');
        return strbuf_detach(&sb);
}

/* The VOLUMEs of an image (Config.Volumes). One below /workspace is refused: Docker would mount
 * an empty anonymous volume over that part of the workspace (hiding the user's files there),
 * leave a root-owned directory in the workspace, and delete what was written there with the
 * container. /workspace itself is the workspace mount. Others are anonymous volumes that go
 * with the container (docker rm -v): returned in *ret_volumes, so the user is told. */
int volumes_of_image(const json_t *img, const char *image, json_t **ret_volumes, struct error **err)
{
        *ret_volumes = json_array();
        const char *path;
        json_t *v;
        int r = 0;
        json_object_foreach (json_object_get(json_object_get(img, "Config"), "Volumes"), path, v) {
                _cleanup_free_ char *clean = clean_path(path);
                if (streq(clean, "/workspace"))
                        continue;
                if (startswith(clean, "/workspace/")) {
                        r = error_set(err, DS01_ERR,
                                      "image '%s' declares VOLUME %s, inside /workspace: Docker "
                                      "would hide your files there under an empty volume that is "
                                      "deleted with the container - remove that VOLUME line and "
                                      "rebuild (everything under /workspace is kept anyway)",
                                      image, path);
                        break;
                }
                json_array_append_new(*ret_volumes, json_string(clean));
        }
        return r;
}

/* The notice of a container with image VOLUMEs outside /workspace, or NULL. */
json_t *volumes_notice(const json_t *volumes, bool retired)
{
        if (json_array_size(volumes) == 0)
                return NULL;
        struct strbuf sb = STRBUF_INIT;
        size_t i;
        json_t *v;
        json_array_foreach (volumes, i, v) {
                if (i)
                        strbuf_adds(&sb, ", ");
                strbuf_adds(&sb, json_string_value(v));
        }
        json_t *n = json_sprintf(
            retired ? "the files in %s (the image's VOLUME) were deleted with the container; only "
                      "/workspace is kept"
                    : "the image declares VOLUME %s: files there live in a Docker volume that is "
                      "deleted when the container is retired or recreated - keep what you need "
                      "in /workspace",
            strbuf_str(&sb));
        strbuf_release(&sb);
        return n;
}

/* The anonymous volumes of a container (its image's VOLUMEs), which docker rm -v deletes. */
json_t *volumes_of_container(const json_t *inspect)
{
        json_t *out = json_array();
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(inspect, "Mounts"), i, m) {
                if (streq_ptr(jstr(m, "Type"), "volume") && jstr(m, "Destination"))
                        json_array_append_new(out, json_string(jstr(m, "Destination")));
        }
        return out;
}
