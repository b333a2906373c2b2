/* tcpaudit - command: argv to a ta_config, one call into the library, and
 * the result turned into messages and exit codes. The only code that prints
 * to stderr or exits. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ta_analyze.h"
#include "ta_error.h"
#include "ta_limits.h"

enum exit_code {
  EXIT_OK = 0,       /* report written, inputs clean */
  EXIT_NO_INPUT = 1, /* no capture could be read */
  EXIT_USAGE = 2,    /* bad command line or filter */
  EXIT_DAMAGED = 3,  /* report written, but some input was damaged */
  EXIT_OUTPUT = 4,   /* the report could not be written */
};

#define MAX_HOST_ARGS 256

static const char usage_text[] =
    "usage: tcpaudit report [options] FILE...\n"
    "\n"
    "Reads packet captures (pcap or pcapng, optionally gzip or zstd\n"
    "compressed; '-' is standard input) and reports every TCP connection:\n"
    "handshake, refusal, unanswered SYNs and their retries, who closed first,\n"
    "accept-then-close by an access control, with timings. Several files are\n"
    "merged in timestamp order as one capture.\n"
    "\n"
    "options:\n"
    "  -f, --format FMT         report format (%s); default text when the\n"
    "                           report goes to a terminal, json otherwise\n"
    "  -o, --output PATH        write the report to PATH (default: stdout)\n"
    "  -F, --filter EXPR        only packets matching a tcpdump/BPF expression\n"
    "      --host IP[/LEN]      only connections involving this host or range\n"
    "                           (repeatable)\n"
    "      --max-connections N  connections held at once (default %u); when\n"
    "                           full, the oldest idle one is reported early\n"
    "      --max-hosts N        hosts aggregated (default %u)\n"
    "      --idle-timeout SECS  an idle connection is over after this long\n"
    "                           (default %d)\n"
    "      --attempt-timeout SECS  SYNs with no answer at all, idle this long,\n"
    "                           are an attempt that is over (default %d)\n"
    "      --community-id-seed N  seed for Community ID hashes (default 0)\n"
    "      --html-max-connections N  connections embedded in an html report\n"
    "                           (default %u; those not completed come first)\n"
    "      --verify-checksums   check IPv4 header and TCP checksums, as Zeek\n"
    "                           does without -C: a TCP segment with a bad one\n"
    "                           only marks its connection (history C/c). Off\n"
    "                           by default: captures taken on the sending host\n"
    "                           carry offloaded, wrong checksums\n"
    "  -j, --threads N          track connections on N threads, the reading\n"
    "                           one among them (default 1); the report is\n"
    "                           the same for any N unless the connection\n"
    "                           table fills up\n"
    "      --no-progress        never show progress on stderr\n"
    "  -h, --help               show this help\n"
    "  -V, --version            show the version\n"
    "\n"
    "exit codes:\n"
    "  0  report written, every input read cleanly\n"
    "  1  no capture could be read (missing file, not a capture)\n"
    "  2  usage error (bad option, bad filter expression)\n"
    "  3  report written, but an input was damaged (truncated, corrupt)\n"
    "  4  the report could not be written\n";

struct cli {
  struct ta_config cfg;
  const char *format;
  const char *output;
  bool progress;
  struct ta_cidr hosts[MAX_HOST_ARGS];
  size_t n_hosts;
  double last_progress;
};

static void print_usage(FILE *f) {
  char formats[256] = "";
  const struct ta_reporter *const *all = ta_reporter_all();
  for (size_t i = 0; all[i]; i++) {
    if (i)
      strncat(formats, ", ", sizeof formats - strlen(formats) - 1);
    strncat(formats, all[i]->name, sizeof formats - strlen(formats) - 1);
  }
  fprintf(f, usage_text, formats, TA_DEFAULT_MAX_CONNS, TA_DEFAULT_MAX_HOSTS,
          TA_DEFAULT_IDLE_TIMEOUT_S, TA_DEFAULT_ATTEMPT_TIMEOUT_S,
          TA_HTML_DEFAULT_MAX_CONNECTIONS);
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "tcpaudit: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'tcpaudit --help'.\n");
  return EXIT_USAGE;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || end == s || s[0] == '-' || v > max)
    return false;
  *out = v;
  return true;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void show_progress(void *ctx, const struct ta_progress *p) {
  struct cli *cli = ctx;
  double t = now_s();
  if (t - cli->last_progress < 0.5)
    return;
  cli->last_progress = t;
  if (p->bytes_total)
    fprintf(stderr, "\r%5.1f%%  %llu packets  %llu connections ",
            100.0 * (double)p->bytes_read / (double)p->bytes_total,
            (unsigned long long)p->packets, (unsigned long long)p->connections);
  else
    fprintf(stderr, "\r%llu packets  %llu connections ",
            (unsigned long long)p->packets, (unsigned long long)p->connections);
}

enum long_only {
  OPT_HOST = 256,
  OPT_MAX_CONNS,
  OPT_MAX_HOSTS,
  OPT_IDLE,
  OPT_ATTEMPT,
  OPT_CID_SEED,
  OPT_HTML_MAX,
  OPT_VERIFY_CSUM,
  OPT_NO_PROGRESS,
};

static const struct option long_opts[] = {
    {"format", required_argument, NULL, 'f'},
    {"output", required_argument, NULL, 'o'},
    {"filter", required_argument, NULL, 'F'},
    {"host", required_argument, NULL, OPT_HOST},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNS},
    {"max-hosts", required_argument, NULL, OPT_MAX_HOSTS},
    {"idle-timeout", required_argument, NULL, OPT_IDLE},
    {"attempt-timeout", required_argument, NULL, OPT_ATTEMPT},
    {"community-id-seed", required_argument, NULL, OPT_CID_SEED},
    {"html-max-connections", required_argument, NULL, OPT_HTML_MAX},
    {"verify-checksums", no_argument, NULL, OPT_VERIFY_CSUM},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"threads", required_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* Returns -1 to go on, or an exit code. */
static int parse_option(struct cli *cli, int c, const char *arg) {
  uint64_t v;
  switch (c) {
  case 'f':
    cli->format = arg;
    return -1;
  case 'o':
    cli->output = arg;
    return -1;
  case 'F':
    cli->cfg.filter = arg;
    return -1;
  case OPT_HOST:
    if (cli->n_hosts == MAX_HOST_ARGS)
      return usage_error("too many --host options%s", "");
    if (ta_cidr_parse(arg, &cli->hosts[cli->n_hosts]) < 0)
      return usage_error("--host: '%s' is not an address or CIDR range", arg);
    cli->n_hosts++;
    return -1;
  case OPT_MAX_CONNS:
    if (!parse_u64(arg, 100000000, &v) || v == 0)
      return usage_error("--max-connections: '%s' is not a count from 1", arg);
    cli->cfg.max_conns = (uint32_t)v;
    return -1;
  case 'j':
    if (!parse_u64(arg, TA_MAX_THREADS, &v) || v == 0)
      return usage_error("--threads: '%s' is not a count from 1 to 64", arg);
    cli->cfg.threads = (unsigned)v;
    return -1;
  case OPT_MAX_HOSTS:
    if (!parse_u64(arg, 100000000, &v) || v == 0)
      return usage_error("--max-hosts: '%s' is not a count from 1", arg);
    cli->cfg.max_hosts = (uint32_t)v;
    return -1;
  case OPT_IDLE:
    if (!parse_u64(arg, 86400 * 365, &v) || v == 0)
      return usage_error("--idle-timeout: '%s' is not a number of seconds", arg);
    cli->cfg.idle_timeout_ns = (int64_t)v * 1000000000LL;
    return -1;
  case OPT_ATTEMPT:
    if (!parse_u64(arg, 86400 * 365, &v) || v == 0)
      return usage_error("--attempt-timeout: '%s' is not a number of seconds",
                         arg);
    cli->cfg.attempt_timeout_ns = (int64_t)v * 1000000000LL;
    return -1;
  case OPT_CID_SEED:
    if (!parse_u64(arg, 65535, &v))
      return usage_error("--community-id-seed: '%s' is not 0..65535", arg);
    cli->cfg.report.community_id_seed = (uint16_t)v;
    return -1;
  case OPT_HTML_MAX:
    if (!parse_u64(arg, 100000000, &v) || v == 0)
      return usage_error("--html-max-connections: '%s' is not a count from 1",
                         arg);
    cli->cfg.report.html_max_connections = (uint32_t)v;
    return -1;
  case OPT_VERIFY_CSUM:
    cli->cfg.verify_checksums = true;
    return -1;
  case OPT_NO_PROGRESS:
    cli->progress = false;
    return -1;
  case 'h':
    print_usage(stdout);
    return EXIT_OK;
  case 'V':
    printf("tcpaudit %s\n", TA_VERSION);
    return EXIT_OK;
  default:
    fprintf(stderr, "Try 'tcpaudit --help'.\n");
    return EXIT_USAGE;
  }
}

static int parse_args(struct cli *cli, int argc, char **argv) {
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    print_usage(stdout);
    return EXIT_OK;
  }
  if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
    printf("tcpaudit %s\n", TA_VERSION);
    return EXIT_OK;
  }
  if (argc < 2 || strcmp(argv[1], "report") != 0)
    return usage_error("expected a command: report%s", "");
  optind = 2;
  int c;
  while ((c = getopt_long(argc, argv, "f:o:F:j:hV", long_opts, NULL)) != -1) {
    int rc = parse_option(cli, c, optarg);
    if (rc >= 0)
      return rc;
  }
  if (optind >= argc)
    return usage_error("no capture file given%s", "");
  cli->cfg.inputs = (const char *const *)&argv[optind];
  cli->cfg.n_inputs = (size_t)(argc - optind);
  cli->cfg.hosts = cli->hosts;
  cli->cfg.n_hosts = cli->n_hosts;
  return -1;
}

static int exit_for(int rc, const struct ta_result *res) {
  if (rc == TA_EFILTER || rc == TA_EINVAL)
    return EXIT_USAGE;
  if (rc == TA_EWRITE)
    return EXIT_OUTPUT;
  if (rc < 0)
    return EXIT_NO_INPUT;
  return res->damaged ? EXIT_DAMAGED : EXIT_OK;
}

/* text for a person at a terminal, json for a pipe or a file */
static const char *default_format(const struct cli *cli) {
  bool to_stdout = !cli->output || strcmp(cli->output, "-") == 0;
  return to_stdout && isatty(STDOUT_FILENO) ? "text" : "json";
}

static int run(struct cli *cli) {
  if (!cli->format)
    cli->format = default_format(cli);
  const struct ta_reporter *rep = ta_reporter_find(cli->format);
  if (!rep)
    return usage_error("unknown format '%s'", cli->format);
  cli->cfg.reporter = rep;
  FILE *out = stdout;
  if (cli->output && strcmp(cli->output, "-") != 0) {
    out = fopen(cli->output, "w");
    if (!out) {
      fprintf(stderr, "tcpaudit: %s: %s\n", cli->output, strerror(errno));
      return EXIT_OUTPUT;
    }
  }
  /* The sink buffers whole records in 64 KiB; a stdio buffer behind it
   * would split each of its writes in two and copy part of it. */
  setvbuf(out, NULL, _IONBF, 0);
  struct ta_sink *sink = malloc(sizeof *sink);
  if (!sink) {
    fprintf(stderr, "tcpaudit: out of memory\n");
    return EXIT_OUTPUT;
  }
  ta_sink_init_file(sink, out);
  cli->cfg.out = sink;
  if (cli->progress && isatty(STDERR_FILENO)) {
    cli->cfg.progress = show_progress;
    cli->cfg.progress_ctx = cli;
  }
  struct ta_result res;
  char err[512] = "";
  int rc = ta_analyze(&cli->cfg, &res, err, sizeof err);
  if (cli->cfg.progress && cli->last_progress > 0)
    fprintf(stderr, "\r\033[K");
  int wrc = ta_sink_close(sink);
  free(sink);
  if (out != stdout && fclose(out) != 0 && !wrc)
    wrc = TA_EWRITE;
  if (rc == 0 && wrc)
    rc = TA_EWRITE;
  if (rc < 0)
    fprintf(stderr, "tcpaudit: %s\n", err[0] ? err : ta_strerror(rc));
  for (size_t i = 0; rc == 0 && i < res.n_warnings; i++)
    fprintf(stderr, "tcpaudit: warning: %s\n", res.warnings[i]);
  int code = exit_for(rc, &res);
  ta_result_free(&res);
  return code;
}

int main(int argc, char **argv) {
  struct cli cli = {.format = NULL, .progress = true};
  int rc = parse_args(&cli, argc, argv);
  if (rc >= 0)
    return rc;
  return run(&cli);
}
