#include "stream.h"

void demux_init(struct demux *d)
{
        memset(d, 0, sizeof(*d));
}

int demux_feed(struct demux *d, const char *buf, size_t n, demux_out_fn out, void *userdata)
{
        while (n > 0) {
                if (d->remaining == 0) {
                        size_t take = 8 - d->hdr_have;
                        if (take > n)
                                take = n;
                        memcpy(d->hdr + d->hdr_have, buf, take);
                        d->hdr_have += take;
                        buf += take;
                        n -= take;
                        if (d->hdr_have < 8)
                                return 0;
                        if (d->hdr[0] > 3)
                                return -1;
                        d->stream = d->hdr[0];
                        d->remaining = (size_t)d->hdr[4] << 24 | (size_t)d->hdr[5] << 16 |
                                       (size_t)d->hdr[6] << 8 | (size_t)d->hdr[7];
                        d->hdr_have = 0;
                        continue;
                }
                size_t take = d->remaining < n ? d->remaining : n;
                out(userdata, d->stream, buf, take);
                d->remaining -= take;
                buf += take;
                n -= take;
        }
        return 0;
}
