/* names.h - the naming contract: project names, the user part of container names,
 * container names "<project>._.<user>" and per-user image names. Shared by CLI and daemon. */
#pragma once

#include "error.h"

#define NAMES_PROJECT_MAX 63
#define NAMES_SEPARATOR   "._."
#define NAMES_USER_MAX    32

/* [a-z0-9][a-z0-9_-]{0,62}. On failure err says what is wrong and what a valid name looks like
 * (code DS01_EUSAGE). */
int names_check_project(const char *project, struct error **err);
/* The login name when it matches [a-z0-9][a-z0-9_.-]* (and is at most 32 chars), else "_u<uid>"
 * (login NULL: no account). Unique per uid: no valid login starts with '_'. */
char *names_user_part(const char *login, unsigned uid);
/* The user part of a full name as a caller gave it: what names_user_part can produce. On
 * failure err says what a valid name looks like (DS01_EUSAGE), without echoing it. */
int names_check_user_part(const char *user_part, struct error **err);
/* "<project>._.<userpart>" */
char *names_container(const char *project, const char *user_part);
/* Splits "<project>._.<user>" into its parts. 0 on success, -1 if s is not of that form. */
int names_split_container(const char *s, char **ret_project, char **ret_user_part);
/* "ds01-<uid>/<project>:latest" */
char *names_user_image(unsigned uid, const char *project);

/* Published service ports (container-port): at most this many per container. */
#define NAMES_PORTS_MAX 16
/* A TCP port as a user writes it: decimal 1..65535, nothing else. On failure err says what is
 * wrong and what to give (DS01_EUSAGE). */
int names_parse_port(const char *s, int *ret, struct error **err);
/* The file name of a published port's socket in the owner's ports directory: "<project>.<port>" */
char *names_port_socket(const char *project, int port);
