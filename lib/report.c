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
