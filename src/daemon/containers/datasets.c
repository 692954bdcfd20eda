/* datasets.c - shared read-only datasets (see datasets.h). */
#include "daemon/containers/datasets.h"

#include "shared/strbuf.h"
#include "shared/util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *datasets_target(const char *name)
{
        return xasprintf("/data/%s", name);
}

static bool group_may(const struct config_dataset *ds, const char *group)
{
        if (!ds->groups)
                return true;
        for (char **g = ds->groups; *g; g++)
                if (group && streq(*g, group))
                        return true;
        return false;
}

json_t *datasets_for_group(const struct config *cfg, const char *group)
{
        json_t *a = json_array();
        for (size_t i = 0; i < cfg->n_datasets; i++)
                if (group_may(&cfg->datasets[i], group))
                        json_array_append_new(a,
                                              json_pack("{s:s, s:s}", "name", cfg->datasets[i].name,
                                                        "path", cfg->datasets[i].path));
        return a;
}

static const struct config_dataset *find(const struct config *cfg, const char *name)
{
        for (size_t i = 0; i < cfg->n_datasets; i++)
                if (streq(cfg->datasets[i].name, name))
                        return &cfg->datasets[i];
        return NULL;
}

/* "no dataset 'x' here: yours are a, b" */
static int unknown(const struct config *cfg, const char *group, const char *name,
                   struct error **err)
{
        struct strbuf sb = STRBUF_INIT;
        for (size_t i = 0; i < cfg->n_datasets; i++)
                if (group_may(&cfg->datasets[i], group))
                        strbuf_addf(&sb, "%s%s", sb.len ? ", " : "", cfg->datasets[i].name);
        error_set(err, DS01_EUSAGE, "no dataset '%.64s' here: %s%s (check-limits lists them)", name,
                  sb.len ? "the ones you may use are " : "none is offered to your group",
                  sb.len ? sb.buf : "");
        strbuf_release(&sb);
        return -1;
}

int datasets_check_path(const char *path, struct error **err)
{
        int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return error_set(err, DS01_ERR, "cannot open /: %s", strerror(errno));
        _cleanup_free_ char *copy = xstrdup(path);
        char *save = NULL;
        int r = 0;
        for (char *c = strtok_r(copy, "/", &save); c && r == 0; c = strtok_r(NULL, "/", &save)) {
                int next = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                struct stat st;
                if (next < 0 || fstat(next, &st) < 0)
                        r = error_set(err, DS01_ERR,
                                      "dataset path %s: '%s' is %s - an administrator must give "
                                      "its real path (datasets in ds01.yaml)",
                                      path, c,
                                      errno == ELOOP || errno == ENOTDIR
                                          ? "a symlink or not a directory"
                                          : strerror(errno));
                else if (st.st_uid != 0)
                        r = error_set(err, DS01_ERR,
                                      "dataset path %s: '%s' is not root's, so its owner could "
                                      "swap it - an administrator must chown it to root",
                                      path, c);
                else if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX) && save && *save)
                        r = error_set(err, DS01_ERR,
                                      "dataset path %s: '%s' is writable by others than root - an "
                                      "administrator must fix its mode (chmod go-w)",
                                      path, c);
                close(fd);
                fd = next;
        }
        if (fd >= 0)
                close(fd);
        return r;
}

int datasets_resolve(const struct config *cfg, const char *group, const json_t *names,
                     struct dataset_mount **ret, size_t *ret_n, struct error **err)
{
        *ret = NULL;
        *ret_n = 0;
        size_t n = json_array_size(names);
        if (n > DATASETS_MAX)
                return error_set(err, DS01_EUSAGE, "%zu datasets asked for: at most %d", n,
                                 DATASETS_MAX);
        struct dataset_mount *v = xcalloc(n ? n : 1, sizeof(*v));
        for (size_t i = 0; i < n; i++) {
                const char *name = json_string_value(json_array_get(names, i));
                const struct config_dataset *ds = name ? find(cfg, name) : NULL;
                int r = 0;
                if (!ds || !group_may(ds, group))
                        r = ds ? error_set(err, DS01_EPERM,
                                           "dataset '%s' is not for your group ('%s') - ask an "
                                           "administrator (check-limits lists yours)",
                                           name, group ? group : "none")
                               : unknown(cfg, group, name ? name : "", err);
                for (size_t k = 0; r == 0 && k < i; k++)
                        if (streq(v[k].name, name))
                                r = error_set(err, DS01_EUSAGE, "dataset '%s' is given twice",
                                              name);
                if (r == 0)
                        r = datasets_check_path(ds->path, err);
                if (r < 0) {
                        free(v);
                        return -1;
                }
                v[i] = (struct dataset_mount){ds->name, ds->path};
        }
        *ret = v;
        *ret_n = n;
        return 0;
}
