/* log.h - the daemon's log: one line per event on stderr with a syslog "<N>" priority prefix,
 * which journald understands. Library code returns errors; only the daemon's top levels log. */
#pragma once

#include "util.h"

enum log_level { LOG_ERR_ = 3, LOG_WARNING_ = 4, LOG_NOTICE_ = 5, LOG_INFO_ = 6, LOG_DEBUG_ = 7 };

void log_set_max_level(int level);
void log_msg(int level, const char *fmt, ...) _printf_(2, 3);

#define log_error(...)   log_msg(LOG_ERR_, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING_, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE_, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO_, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_DEBUG_, __VA_ARGS__)
