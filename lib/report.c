/* tcpaudit - reporters: the table of output formats and lookup by name.
 * Adding a format is one new report_<fmt>.c and one line here. */
#include <string.h>

#include "ta_report.h"

extern const struct ta_reporter ta_report_json;
extern const struct ta_reporter ta_report_ndjson;
extern const struct ta_reporter ta_report_html;
extern const struct ta_reporter ta_report_text;

static const struct ta_reporter *const reporters[] = {
    &ta_report_json,
    &ta_report_ndjson,
    &ta_report_html,
    &ta_report_text,
    NULL,
};

const struct ta_reporter *ta_reporter_find(const char *name) {
  for (size_t i = 0; reporters[i]; i++)
    if (strcmp(reporters[i]->name, name) == 0)
      return reporters[i];
  return NULL;
}

const struct ta_reporter *const *ta_reporter_all(void) { return reporters; }

bool ta_summary_time_span(const struct ta_summary *s, int64_t *first,
                          int64_t *last) {
  bool any = false;
  *first = *last = 0;
  for (size_t i = 0; i < s->n_inputs; i++) {
    const struct ta_input_info *in = &s->inputs[i];
    if (!in->packets)
      continue;
    if (!any || in->first_ts < *first)
      *first = in->first_ts;
    if (!any || in->last_ts > *last)
      *last = in->last_ts;
    any = true;
  }
  return any;
}

static int64_t rank_key(const unsigned char *item, size_t key_off) {
  int64_t k;
  memcpy(&k, item + key_off, sizeof k);
  return k;
}

size_t ta__rank_insert(void *items, size_t size, size_t key_off, size_t *n,
                       size_t cap, int64_t key, uint64_t *dropped) {
  unsigned char *a = items;
  size_t pos = *n;
  while (pos > 0 && rank_key(a + (pos - 1) * size, key_off) < key)
    pos--;
  if (*n == cap)
    ++*dropped; /* this one, or the last it pushes out */
  if (pos == cap)
    return cap;
  size_t keep = *n < cap ? *n : cap - 1; /* items that stay */
  memmove(a + (pos + 1) * size, a + pos * size, (keep - pos) * size);
  if (*n < cap)
    ++*n;
  return pos;
}
