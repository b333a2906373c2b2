/* tcpaudit - fuzz: the packet decoder on raw link-layer bytes.
 * Byte 0 picks the link type (low 7 bits) and checksum verification (top
 * bit), byte 1 how much longer the frame was on the wire than captured;
 * the rest is the frame. Checks what ta_packet.h promises: one known
 * disposition, and payload inside the frame; and that the decoder's
 * shortcut for plain frames gives the general path's packet to the byte,
 * whatever the packet held before, and that the option layouts read at
 * once give what the walk over the options gives. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ta_packet.h"

/* Every link type the decoder knows, and one it does not. */
static const uint32_t linktypes[] = {
    TA_LINK_ETHERNET, TA_LINK_NULL, TA_LINK_RAW_BSD, TA_LINK_RAW_OBSD,
    TA_LINK_RAW,      TA_LINK_LOOP, TA_LINK_SLL,     TA_LINK_IPV4,
    TA_LINK_IPV6,     TA_LINK_SLL2, 147 /* user0: unsupported */};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  uint32_t lt =
      linktypes[(data[0] & 0x7f) % (sizeof linktypes / sizeof linktypes[0])];
  unsigned opts = data[0] & 0x80 ? TA_DECODE_VERIFY_CHECKSUMS : 0;
  uint32_t extra = data[1];
  size -= 2;
  /* An exact-size copy, so that any read past the frame is caught. */
  uint8_t *frame = malloc(size ? size : 1);
  if (!frame)
    return 0;
  memcpy(frame, data + 2, size);
  struct ta_packet pkt, general;
  memset(&pkt, data[1], sizeof pkt);
  memset(&general, 0, sizeof general);
  ta_decode_frame_opts(lt, size ? frame : NULL, (uint32_t)size,
                       (uint32_t)size + extra, opts, &pkt);
  ta__decode_frame_general(lt, size ? frame : NULL, (uint32_t)size,
                           (uint32_t)size + extra, opts, &general);
  if (memcmp(&pkt, &general, sizeof pkt) != 0)
    abort();
  if (pkt.disposition >= TA_DISP_COUNT)
    abort();
  if ((pkt.disposition == TA_DISP_MALFORMED) !=
      (pkt.malformed != TA_MAL_NONE) || pkt.malformed >= TA_MAL_COUNT)
    abort();
  if (pkt.disposition == TA_DISP_TCP) {
    if (pkt.payload_caplen > size ||
        (pkt.payload_caplen &&
         (pkt.payload < frame || pkt.payload + pkt.payload_caplen > frame + size)))
      abort();
    if (pkt.payload_caplen > pkt.payload_len || pkt.tcp_hlen < 20 ||
        pkt.tcp_hlen > 60 || (pkt.family != 4 && pkt.family != 6))
      abort();
  }
  /* The options parser on its own, on the same bytes, which must read
   * the layouts it knows at once as the walk over them reads them. */
  struct ta_tcp_options opt, walked;
  size_t olen = size < 40 ? size : 40;
  memset(&opt, 0xa5, sizeof opt);
  memset(&walked, 0, sizeof walked);
  uint32_t anom = ta_tcp_options_parse(frame, olen, data[1], &opt);
  if (opt.n_layout > TA_MAX_OPT_LAYOUT)
    abort();
  if (ta__tcp_options_walk(frame, olen, olen, data[1], &walked) != anom ||
      memcmp(&opt, &walked, sizeof opt) != 0)
    abort();
  free(frame);
  return 0;
}
