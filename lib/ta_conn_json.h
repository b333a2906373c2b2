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
/* Seconds between two times, for summaries. */
double ta__secs(int64_t ns);

#endif
