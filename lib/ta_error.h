/* tcpaudit - errors: the one error vocabulary of the library.
 * Every fallible function returns 0 or a negative TA_E* code; details go
 * into a caller-owned buffer. Nothing in lib/ prints or exits. */
#ifndef TA_ERROR_H
#define TA_ERROR_H

#include <stddef.h>

/* X(name, value, message) */
#define TA_ERRNO_MAP(X)                                                        \
  X(ENOMEM, -1, "out of memory")                                               \
  X(EIO, -2, "cannot open or read input")                                      \
  X(EFORMAT, -3, "not a packet capture")                                       \
  X(ETRUNC, -4, "capture is truncated")                                        \
  X(ECORRUPT, -5, "capture is corrupt")                                        \
  X(EFILTER, -6, "bad filter expression")                                      \
  X(EINVAL, -7, "invalid argument")                                            \
  X(EWRITE, -8, "cannot write output")                                         \
  X(ENOFORMAT, -9, "unknown report format")                                    \
  X(EUNSUPPORTED, -10, "unsupported feature")

enum ta_error {
  TA_OK = 0,
#define TA__ERR_ENUM(name, val, msg) TA_##name = val,
  TA_ERRNO_MAP(TA__ERR_ENUM)
#undef TA__ERR_ENUM
};

/* Static message for a TA_E* code; never NULL. */
const char *ta_strerror(int err);
/* Static symbolic name ("ETRUNC") for a TA_E* code; never NULL. */
const char *ta_err_name(int err);

/* Formats into a caller buffer; returns err so callers can `return ta__fail(...)`. */
int ta__fail(char *buf, size_t len, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
