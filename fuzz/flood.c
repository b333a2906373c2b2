/* tcpaudit - flood: writes a SYN flood capture for the adversarial tests.
 * A classic pcap (Ethernet, microseconds) holding one real connection to
 * the target, then SYNs from N distinct spoofed sources to that target,
 * then the real connection's data and close. Standalone: it links nothing
 * of the library, so the capture is not shaped by the code it tests. */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ta_hash.h"

#define SNAPLEN 65535u
#define MAX_SOURCES (1u << 24) /* spoofed sources are 10.0.0.0/8 */
#define CLIENT_IP 0xC000020Au  /* 192.0.2.10, the real client */
#define CLIENT_PORT 50000

static const char usage[] =
    "usage: tcpaudit-flood [options]\n"
    "Writes a pcap: a real connection from 192.0.2.10 to the target, SYNs\n"
    "from N distinct spoofed sources in 10.0.0.0/8 to it, then the real\n"
    "connection's data and close.\n"
    "  -n, --sources N   spoofed sources, one SYN each (default 5000000,\n"
    "                    at most 16777216)\n"
    "  -t, --target IP   the flooded address (default 203.0.113.80)\n"
    "  -p, --port N      the flooded port (default 80)\n"
    "  -r, --rate N      SYNs per second of capture time (default 100000)\n"
    "  -a, --synack      the target answers each SYN with a SYN/ACK\n"
    "  -c, --collide-hosts  spoofed sources chosen to share one probe run of\n"
    "                    the host table (default size) if its hash were\n"
    "                    left unseeded; they repeat, with new ports, past\n"
    "                    the 130698 there are\n"
    "  -o, --output PATH where to write (default: standard output)\n";

struct flood {
  FILE *out;
  uint32_t target;
  uint16_t port;
  uint64_t ts_us;
};

static void be16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static void le32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static uint16_t checksum(const uint8_t *p, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2)
    sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1)
    sum += (uint32_t)p[n - 1] << 8;
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* One Ethernet/IPv4/TCP frame with `payload` bytes of 'x'; SYNs carry MSS. */
static void segment(struct flood *f, uint32_t src, uint16_t sport,
                    uint32_t dst, uint16_t dport, uint32_t seq, uint32_t ack,
                    uint8_t flags, uint16_t payload) {
  uint8_t pkt[14 + 20 + 24 + 64];
  uint16_t optlen = (flags & 0x02) ? 4 : 0;
  uint16_t tcplen = (uint16_t)(20 + optlen), iplen;
  if (payload > 64)
    payload = 64;
  iplen = (uint16_t)(20 + tcplen + payload);
  memset(pkt, 0, sizeof pkt);
  static const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
  memcpy(pkt, macs, 12);
  be16(pkt + 12, 0x0800);
  uint8_t *ip = pkt + 14, *tcp = ip + 20;
  ip[0] = 0x45;
  be16(ip + 2, iplen);
  be16(ip + 4, (uint16_t)seq);
  ip[6] = 0x40;
  ip[8] = 64;
  ip[9] = 6;
  be32(ip + 12, src);
  be32(ip + 16, dst);
  be16(ip + 10, checksum(ip, 20, 0));
  be16(tcp, sport);
  be16(tcp + 2, dport);
  be32(tcp + 4, seq);
  be32(tcp + 8, ack);
  tcp[12] = (uint8_t)((tcplen / 4) << 4);
  tcp[13] = flags;
  be16(tcp + 14, 64240);
  if (optlen) {
    tcp[20] = 2;
    tcp[21] = 4;
    be16(tcp + 22, 1460);
  }
  memset(tcp + tcplen, 'x', payload);
  uint32_t pseudo = (src >> 16) + (src & 0xffff) + (dst >> 16) +
                    (dst & 0xffff) + 6u + (uint32_t)(tcplen + payload);
  be16(tcp + 16, checksum(tcp, (size_t)tcplen + payload, pseudo));

  uint32_t caplen = 14u + iplen;
  uint8_t rec[16];
  le32(rec, (uint32_t)(f->ts_us / 1000000u));
  le32(rec + 4, (uint32_t)(f->ts_us % 1000000u));
  le32(rec + 8, caplen);
  le32(rec + 12, caplen);
  fwrite(rec, 1, sizeof rec, f->out);
  fwrite(pkt, 1, caplen, f->out);
}

/* A bijection of [0, 2^24): distinct sources that do not look sequential. */
static uint32_t spoofed(uint32_t i) {
  uint32_t x = (i * 0x9E3779B1u) & 0xffffffu;
  x ^= x >> 11;
  x = (x * 0x2C1B3C6Du) & 0xffffffu;
  x ^= x >> 13;
  return 0x0A000000u | x;
}

/* The address hash of lib/hosts.c with seed 0, and its slot in a table of
 * TA_DEFAULT_MAX_HOSTS hosts (2^17 slots). Sources whose slots fall in the
 * first COLLIDE_WINDOW ones form one long linear-probing run; with a
 * random seed they are ordinary addresses. */
#define HOSTS_SLOT_MASK 131071u
#define COLLIDE_WINDOW 1024u


/* Fills *out (malloc'd) with the colliding sources of 10.0.0.0/8. */
static uint32_t colliding_sources(uint32_t **out) {
  uint32_t n = 0, cap = 1u << 18;
  uint32_t *v = malloc(cap * sizeof *v);
  for (uint32_t x = 0; v && x < MAX_SOURCES; x++) {
    uint32_t ip = 0x0A000000u | x;
    uint64_t a = (uint64_t)(ip >> 24) | (uint64_t)((ip >> 16) & 0xff) << 8 |
                 (uint64_t)((ip >> 8) & 0xff) << 16 |
                 (uint64_t)(ip & 0xff) << 24; /* bytes in memory order */
    uint64_t h = ta_hash_mix64(ta_hash_mix64(a ^ 4u));
    if ((h & HOSTS_SLOT_MASK) < COLLIDE_WINDOW && n < cap)
      v[n++] = ip;
  }
  *out = v;
  return n;
}

static uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

static void real_start(struct flood *f) {
  segment(f, CLIENT_IP, CLIENT_PORT, f->target, f->port, 1000, 0, 0x02, 0);
  f->ts_us += 200;
  segment(f, f->target, f->port, CLIENT_IP, CLIENT_PORT, 5000, 1001, 0x12, 0);
  f->ts_us += 200;
  segment(f, CLIENT_IP, CLIENT_PORT, f->target, f->port, 1001, 5001, 0x10, 0);
}

static void real_end(struct flood *f) {
  segment(f, CLIENT_IP, CLIENT_PORT, f->target, f->port, 1001, 5001, 0x18, 10);
  f->ts_us += 500;
  segment(f, f->target, f->port, CLIENT_IP, CLIENT_PORT, 5001, 1011, 0x18, 20);
  f->ts_us += 500;
  segment(f, CLIENT_IP, CLIENT_PORT, f->target, f->port, 1011, 5021, 0x11, 0);
  f->ts_us += 200;
  segment(f, f->target, f->port, CLIENT_IP, CLIENT_PORT, 5021, 1012, 0x11, 0);
  f->ts_us += 200;
  segment(f, CLIENT_IP, CLIENT_PORT, f->target, f->port, 1012, 5022, 0x10, 0);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"sources", required_argument, NULL, 'n'},
      {"target", required_argument, NULL, 't'},
      {"port", required_argument, NULL, 'p'},
      {"rate", required_argument, NULL, 'r'},
      {"synack", no_argument, NULL, 'a'},
      {"collide-hosts", no_argument, NULL, 'c'},
      {"output", required_argument, NULL, 'o'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  unsigned long sources = 5000000, port = 80, rate = 100000;
  const char *target = "203.0.113.80", *output = "-";
  int synack = 0, collide = 0, c;
  char *end;
  while ((c = getopt_long(argc, argv, "n:t:p:r:aco:h", opts, NULL)) != -1) {
    switch (c) {
    case 'n':
      sources = strtoul(optarg, &end, 10);
      if (*end || sources > MAX_SOURCES)
        goto bad;
      break;
    case 't':
      target = optarg;
      break;
    case 'p':
      port = strtoul(optarg, &end, 10);
      if (*end || !port || port > 65535)
        goto bad;
      break;
    case 'r':
      rate = strtoul(optarg, &end, 10);
      if (*end || !rate || rate > 1000000)
        goto bad;
      break;
    case 'a':
      synack = 1;
      break;
    case 'c':
      collide = 1;
      break;
    case 'o':
      output = optarg;
      break;
    case 'h':
      fputs(usage, stdout);
      return 0;
    default:
      goto bad;
    }
  }
  struct in_addr a;
  if (optind != argc || inet_pton(AF_INET, target, &a) != 1)
    goto bad;
  struct flood f = {.target = ntohl(a.s_addr), .port = (uint16_t)port,
                    .ts_us = 1700000000ull * 1000000u};
  f.out = strcmp(output, "-") == 0 ? stdout : fopen(output, "wb");
  if (!f.out) {
    perror(output);
    return 1;
  }
  static char buf[1 << 20];
  setvbuf(f.out, buf, _IOFBF, sizeof buf);
  uint8_t hdr[24] = {0};
  le32(hdr, 0xa1b2c3d4u);
  hdr[4] = 2;
  hdr[6] = 4;
  le32(hdr + 16, SNAPLEN);
  le32(hdr + 20, 1); /* Ethernet */
  fwrite(hdr, 1, sizeof hdr, f.out);

  uint32_t *pool = NULL, n_pool = 0;
  if (collide && !(n_pool = colliding_sources(&pool))) {
    fputs("tcpaudit-flood: out of memory\n", stderr);
    return 1;
  }

  real_start(&f);
  uint64_t step = 1000000u / rate ? 1000000u / rate : 1;
  for (uint32_t i = 0; i < sources; i++) {
    f.ts_us += step;
    uint32_t h = mix32(i);
    uint32_t src = pool ? pool[i % n_pool] : spoofed(i);
    uint16_t sport = (uint16_t)(1024 + h % 64000);
    segment(&f, src, sport, f.target, f.port, h, 0, 0x02, 0);
    if (synack)
      segment(&f, f.target, f.port, src, sport, mix32(h), h + 1, 0x12, 0);
  }
  f.ts_us += step;
  real_end(&f);
  free(pool);
  if (fflush(f.out) != 0 || ferror(f.out) ||
      (f.out != stdout && fclose(f.out) != 0)) {
    perror(output);
    return 1;
  }
  return 0;
bad:
  fputs(usage, stderr);
  return 2;
}
