/* tcpaudit - errors: messages and names for the TA_E* codes.
 * Generated from TA_ERRNO_MAP so the three views never drift apart. */
#include "ta_error.h"

#include <stdarg.h>
#include <stdio.h>

const char *ta_strerror(int err) {
  switch (err) {
  case TA_OK:
    return "success";
#define TA__ERR_MSG(name, val, msg)                                            \
  case TA_##name:                                                              \
    return msg;
    TA_ERRNO_MAP(TA__ERR_MSG)
#undef TA__ERR_MSG
  }
  return "unknown error";
}

const char *ta_err_name(int err) {
  switch (err) {
  case TA_OK:
    return "OK";
#define TA__ERR_NAME(name, val, msg)                                           \
  case TA_##name:                                                              \
    return #name;
    TA_ERRNO_MAP(TA__ERR_NAME)
#undef TA__ERR_NAME
  }
  return "EUNKNOWN";
}

int ta__fail(char *buf, size_t len, int err, const char *fmt, ...) {
  if (buf && len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
  }
  return err;
}
