/* tcpaudit - reporters: the connection record as JSON fields.
 * Shared by the json and ndjson reporters so both say the same thing with
 * the same names (schemas/report.schema.json, "connection"). */
#ifndef TA_CONN_JSON_H
#define TA_CONN_JSON_H

#include <stdbool.h>

#include "ta_conn.h"
#include "ta_jsonw.h"

/* Writes the fields of c into the JSON object that is open in w, on one
 * line whatever w's indentation (they are written in place, see
 * ta_jsonw_room). The ladder is included when with_ladder is true. Cannot
 * fail (the sink records write errors). */
void ta__conn_json_fields(struct ta_jsonw *w, const struct ta_conn *c,
                          bool with_ladder);

/* A value's text written earlier, in the same room or in a buffer of the
 * caller's: n bytes at s. It is copied as a whole field (see
 * ta__jput_again), so 32 bytes from s are readable for a number or a
 * time, 48 for an address and TA_CONN_SUMMARY_MAX + 1 for the summary. */
struct ta__jtext {
  const char *s;
  size_t n;
};
/* Texts of a record's values that a caller wrote before the record, for
 * the record to copy rather than format the same values again (the
 * ndjson event states the endpoints, the start, the summary and the id
 * before its tcpaudit member repeats them). Addresses and the time are
 * unquoted. */
struct ta__conn_json_again {
  struct ta__jtext id, first_ts, summary;
  struct ta__jtext ip[2], port[2], pkts[2], bytes[2];
};
/* The room ta__conn_json_put may use for c: some 9 KiB, six bytes for
 * each of the reason's and the history's whole array. */
size_t ta__conn_json_room(const struct ta_conn *c);
/* The fields of c written in place at p, the first without a comma;
 * returns their end. w gives the digits and the memo; again may be NULL. */
char *ta__conn_json_put(char *p, struct ta_jsonw *w, const struct ta_conn *c,
                        bool with_ladder,
                        const struct ta__conn_json_again *again);
/* The same fields in an object of their own, written as the next value
 * of w (its separator and line break included, as ta_jsonw_obj_begin
 * writes them); the object's members on one line. */
void ta__conn_json_object(struct ta_jsonw *w, const struct ta_conn *c,
                          bool with_ladder);
/* One plain-English line on what happened ("refused 3 times in 1.0 s"). */
void ta__conn_summary(char *buf, size_t len, const struct ta_conn *c);
/* The same line written in place (see ta_jsonw_room), without a NUL:
 * at most TA_CONN_SUMMARY_MAX bytes, which need no escaping. */
#define TA_CONN_SUMMARY_MAX 159
char *ta__conn_summary_put(char *p, const struct ta_conn *c);
/* A scenario's name, quoted, in place (up to 24 bytes are stored). */
char *ta__conn_scenario_put(char *p, int scenario);
/* The median of x: its min when all its samples were one value
 * (min_us == max_us), which is what ta_lat_small_median's clamp to
 * [min, max] makes of any median, without the search; most connections
 * measure one round trip and one response. */
static inline int64_t ta__conn_lat_median(const struct ta_lat_small *x) {
  if (x->min_us == x->max_us && x->n && x->count)
    return (int64_t)x->min_us * 1000; /* ta_lat_small_min's */
  return ta_lat_small_median(x);
}
/* Seconds between two times, for summaries. */
double ta__secs(int64_t ns);

#endif
