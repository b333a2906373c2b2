/* tcpaudit - bench: the floor, the least work any capture reader must do.
 * A bare libpcap loop that finds the IP protocol byte behind Ethernet and
 * VLAN tags and counts TCP packets. Every benchmark figure is divided by
 * its time. Links libpcap only, not lib/. */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>

#define MAX_VLAN_TAGS 8 /* same bound as the decoder's */

/* Returns 1 for a TCP packet, 0 otherwise. */
static int is_tcp(const uint8_t *p, uint32_t len) {
  uint32_t off = 12;
  if (len < off + 2)
    return 0;
  unsigned type = (unsigned)p[off] << 8 | p[off + 1];
  for (int tags = 0;
       (type == 0x8100 || type == 0x88a8) && tags < MAX_VLAN_TAGS; tags++) {
    off += 4;
    if (len < off + 2)
      return 0;
    type = (unsigned)p[off] << 8 | p[off + 1];
  }
  off += 2;
  if (type == 0x0800)
    return len > off + 9 && p[off + 9] == 6;
  if (type == 0x86dd)
    return len > off + 6 && p[off + 6] == 6;
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: tcpaudit-floor FILE.pcap\n");
    return 2;
  }
  char err[PCAP_ERRBUF_SIZE];
  pcap_t *pc = pcap_open_offline(argv[1], err);
  if (!pc) {
    fprintf(stderr, "tcpaudit-floor: %s\n", err);
    return 1;
  }
  if (pcap_datalink(pc) != DLT_EN10MB) {
    fprintf(stderr, "tcpaudit-floor: %s: not Ethernet\n", argv[1]);
    pcap_close(pc);
    return 1;
  }
  struct pcap_pkthdr *h;
  const u_char *data;
  unsigned long long packets = 0, tcp = 0;
  int rc;
  while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
    packets++;
    tcp += (unsigned long long)is_tcp(data, h->caplen);
  }
  if (rc == PCAP_ERROR)
    fprintf(stderr, "tcpaudit-floor: %s: %s\n", argv[1], pcap_geterr(pc));
  pcap_close(pc);
  printf("%llu tcp packets of %llu\n", tcp, packets);
  return rc == PCAP_ERROR ? 1 : 0;
}
