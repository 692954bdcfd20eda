/* stream.h - Docker's multiplexed stream format (attach/exec/logs without a TTY): frames of an
 * 8-byte header {stream(1: stdout, 2: stderr, 0: stdin), 0, 0, 0, size (big-endian u32)} and the
 * payload. The demuxer is incremental: feed it whatever read() returned. */
#pragma once

#include "util.h"

struct demux {
        unsigned char hdr[8];
        size_t hdr_have;
        size_t remaining; /* payload bytes left in the current frame */
        int stream;
};

typedef void (*demux_out_fn)(void *userdata, int stream, const char *data, size_t n);

void demux_init(struct demux *d);
/* Calls out() for every payload piece (possibly split across calls). Returns 0, or -1 if the
 * header is malformed (stream id > 3). */
int demux_feed(struct demux *d, const char *buf, size_t n, demux_out_fn out, void *userdata);
