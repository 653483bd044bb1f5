/* The events the bench sends, made before any timing, deterministically
 * from --seed, in the vocabulary csphub-gen writes (vocab.h): the classic
 * mix, the alert feed, the state feed and the backfill feed of
 * bench/README.md "What it sends"; and the publish requests that carry them.
 * A corpus owns its buffers (corpus_free); a corpus_view borrows them. */
#ifndef CSPH_BENCH_CORPUS_H
#define CSPH_BENCH_CORPUS_H

#include <msgpack.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include "vocab.h"

#define YEAR_START_S 1719792000LL /* 2024-07-01T00:00:00Z: occurred_at spans one year */
#define SPAN_END_S (YEAR_START_S + 365 * 86400LL) /* chronological feeds end here */

/* What the generator makes (bench/README.md "What it sends"). */
enum { FEED_CLASSIC, FEED_ALERT, FEED_STATE, FEED_BACKFILL };

struct feed {
    int kind;
    uint32_t people;   /* person references P-000001 .. P-<people> */
    int uniform;       /* drawn uniformly (else skewed: some people recur a lot) */
    double alert_rate; /* FEED_ALERT: share of events that raise a marac alert */
    double span_days;  /* > 0: occurred_at advances through this span in publish order */
    int publishers;    /* how the events are split among publishers, for that order */
    int batch;
    /* FEED_BACKFILL (the classic mix): events [0, live_n) advance through the
     * span_days before SPAN_END_S in publish order (a month of live
     * traffic); the rest fall at random in the history_days before that. */
    uint64_t live_n;
    double history_days;
};

struct evmeta {
    uint32_t id_off; /* the id string's bytes within the event */
    uint16_t id_len;
    uint8_t type;
    uint8_t source;
    int64_t occurred_ms;
};

struct corpus {
    msgpack_sbuffer buf; /* every event, packed back to back */
    size_t *off;         /* n + 1 offsets into buf */
    struct evmeta *meta;
    uint64_t n;
    uint64_t per_type[T__N];
    uint64_t alert_events; /* FEED_ALERT: the da.incident events made to raise an alert */
    struct feed feed;
    int64_t first_ms, last_ms; /* occurred_at range */
};

/* Events [first, first + n) of a feed of total events (the long run of
 * --scale makes its feed a part at a time): the same places whatever the
 * part, ids numbered from first + 1, and a chronological feed's occurred_at
 * advancing through the whole span over the total. first 0, total n: the
 * whole feed, as corpus_build. */
void corpus_build_part(struct corpus *c, uint64_t n, uint64_t seed, const char *nonce,
                       const struct feed *feed, uint64_t first, uint64_t total);

/* n events of feed into c (owned: corpus_free), from seed; ids carry nonce. */
void corpus_build(struct corpus *c, uint64_t n, uint64_t seed, const char *nonce,
                  const struct feed *feed);

/* Frees what c owns and zeroes it. */
void corpus_free(struct corpus *c);

/* The feed the options ask for; kind FEED_STATE for --state-size. */
struct feed feed_for(int kind, double span_days);

/* Event i's MessagePack bytes, borrowed from c. */
static inline const char *ev_ptr(const struct corpus *c, uint64_t i)
{
    return c->buf.data + c->off[i];
}

static inline size_t ev_len(const struct corpus *c, uint64_t i)
{
    return c->off[i + 1] - c->off[i];
}

/* Request r publishes events [r*B, min(n, r*B+B)). Its first bytes are
 * fixed: {req: uint64 (0xcf + 8 bytes), op: "publish", event|events: ...},
 * so the echo thread finds req at a fixed offset without parsing. */
#define REQ_HDR_LEN 14

struct requests {
    msgpack_sbuffer buf;
    size_t *off;
    uint64_t n;
};

/* The publish requests of c, batch events each, into q (owned:
 * requests_free). */
void requests_build(struct requests *q, const struct corpus *c, int batch);

void requests_free(struct requests *q);

/* Events [a, b) of c, sharing its bytes: never freed on its own. */
struct corpus corpus_view(const struct corpus *c, uint64_t a, uint64_t b);

/* dst: the events of src in order[]. */
void corpus_permute(struct corpus *dst, const struct corpus *src, const uint64_t *order);

/* Event i as msgpack-c prints it, and a newline. */
void print_event(FILE *f, const struct corpus *c, uint64_t i);

/* The lines every mode prints about its events and load. */
void describe_corpus(const struct corpus *c, const struct requests *q, double gen_s,
                     const char *nonce);

#endif
