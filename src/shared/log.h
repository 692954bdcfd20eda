/* log.h - the daemon's log: one line per event on stderr with a syslog "<N>" priority prefix,
 * which journald understands. Library code returns errors; only the daemon's top levels log.
 * Control characters in a message are written as \xNN, so a name a user chose can never start
 * a line of its own. When stderr is a regular file in a root-only directory (ds01d started with
 * 2>>/var/log/ds01/ds01d.log), it is rotated by size: ds01d.log -> .1 -> ... -> .<keep>. Under
 * journald, the journal rotates. Thread-safe. */
#pragma once

#include "util.h"

enum log_level { LOG_ERR_ = 3, LOG_WARNING_ = 4, LOG_NOTICE_ = 5, LOG_INFO_ = 6, LOG_DEBUG_ = 7 };

void log_set_max_level(int level);
/* Rotate the file on stderr past max_bytes (0: never), keeping `keep` old files. The first call
 * decides whether stderr is such a file; later calls (a reload) change the bounds. */
void log_set_rotation(int64_t max_bytes, int keep);
void log_msg(int level, const char *fmt, ...) _printf_(2, 3);

#define log_error(...)   log_msg(LOG_ERR_, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING_, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE_, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO_, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_DEBUG_, __VA_ARGS__)
