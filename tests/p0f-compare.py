#!/usr/bin/env python3
"""tcpaudit - tests: our OS guesses side by side with p0f 3's.

Runs `p0f -r FILE -o LOG` and `tcpaudit report -f json FILE` on every
capture found under the given paths, and for every host p0f gives an OS
label (from a SYN or a SYN/ACK) prints both labels and whether the families
agree, then the agreement rate. Hosts only one side labels are listed too.

Exit codes: 0 done (the rate is at least --min-agreement and there are at
most --max-contradictions hosts both label with different families), 1 when
not, 2 usage, 77 p0f is not installed (a skip for CTest).
Standard library only.
"""
import argparse
import collections
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile

CAPTURE_SUFFIXES = ('.pcap', '.pcapng', '.cap')  # p0f cannot read .gz/.zst

# p0f's family names to ours (tcpaudit names families as the table does).
P0F_FAMILY = {
    'Mac OS X': 'macOS/iOS',
    'MacOS X': 'macOS/iOS',
    'iOS': 'macOS/iOS',
    'NMap': 'Nmap',
}


def captures(paths):
    for path in paths:
        if os.path.isfile(path):
            yield path
            continue
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                if name.endswith(CAPTURE_SUFFIXES):
                    yield os.path.join(root, name)


def norm_ip(text):
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def p0f_family(label):
    """'Linux 3.11 and newer' -> 'Linux'; 'Windows 7 or 8' -> 'Windows'."""
    for name, fam in P0F_FAMILY.items():
        if label.startswith(name):
            return fam
    return label.split(' ')[0]


def run_p0f(p0f, fp, path):
    """{host ip: Counter of OS labels} from p0f's log (??? left out), and
    the set of hosts p0f saw a SYN or SYN/ACK from."""
    labels = collections.defaultdict(collections.Counter)
    seen = set()
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, 'p0f.log')
        cmd = [p0f, '-r', path, '-o', log]
        if fp:
            cmd += ['-f', fp]
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, timeout=300)
        if r.returncode != 0 or not os.path.exists(log):
            return None, (r.stderr.strip().splitlines() or ['?'])[-1]
        with open(log, encoding='utf-8', errors='replace') as f:
            for line in f:
                fields = dict(kv.split('=', 1) for kv in
                              line.strip().split('] ', 1)[-1].split('|')
                              if '=' in kv)
                if fields.get('mod') not in ('syn', 'syn+ack'):
                    continue
                who = fields.get(fields.get('subj', ''), '')
                ip = norm_ip(who.rsplit('/', 1)[0])
                seen.add(ip)
                if fields.get('os', '???') != '???':
                    labels[ip][fields['os']] += 1
    return labels, None


def run_tcpaudit(binary, path):
    """{host ip: os_guess object or None}."""
    r = subprocess.run([binary, 'report', '-f', 'json', '--no-progress', path],
                       capture_output=True, text=True, timeout=600)
    if r.returncode not in (0, 3) or not r.stdout.strip():
        return None, (r.stderr.strip().splitlines() or ['?'])[-1]
    doc = json.loads(r.stdout)
    return {norm_ip(h['ip']): h.get('os_guess') for h in doc['hosts']}, None


def ours_label(guess):
    if not guess or not guess.get('family'):
        return None
    text = guess['family']
    if guess.get('version'):
        text += ' ' + guess['version']
    return text


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    top = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--tcpaudit', default=os.path.join(top, 'build', 'tcpaudit'))
    ap.add_argument('--p0f', default=shutil.which('p0f') or
                    ('/usr/sbin/p0f' if os.path.exists('/usr/sbin/p0f') else None))
    ap.add_argument('--fp', help="p0f's signature file (p0f's default if unset)")
    ap.add_argument('--min-agreement', type=float, default=0.0,
                    help='exit 1 when the family agreement rate is below this')
    ap.add_argument('--max-contradictions', type=int, default=None,
                    help='exit 1 when more hosts than this get a different '
                    'family from each tool')
    ap.add_argument('paths', nargs='*',
                    default=[os.path.join(top, 'testdata'),
                             os.path.join(top, '..', 'shared', 'corpus')])
    args = ap.parse_args()

    if not args.p0f or not os.access(args.p0f, os.X_OK):
        print('p0f is not installed (Debian: apt-get install p0f): skipped')
        return 77
    if not os.access(args.tcpaudit, os.X_OK):
        print(f'no tcpaudit binary at {args.tcpaudit} (use --tcpaudit)',
              file=sys.stderr)
        return 2

    rows, only_ours, only_p0f_seen = [], [], 0
    skipped = []
    for path in captures(args.paths):
        theirs, err = run_p0f(args.p0f, args.fp, path)
        if theirs is None:
            skipped.append((path, 'p0f: ' + err))
            continue
        ours, err = run_tcpaudit(args.tcpaudit, path)
        if ours is None:
            skipped.append((path, 'tcpaudit: ' + err))
            continue
        name = os.path.relpath(path, top)
        for ip in sorted(set(theirs) | set(ours)):
            mine = ours_label(ours.get(ip))
            if theirs.get(ip):
                label, n = theirs[ip].most_common(1)[0]
                others = sum(theirs[ip].values()) - n
                rows.append((name, ip, label, n, others, ours.get(ip), mine))
            elif mine:
                only_ours.append((name, ip, mine))

    print(f'{"capture":44} {"host":26} {"p0f (packets)":34} {"tcpaudit (confidence)":34} agree')
    agree = contradict = 0
    for name, ip, label, n, others, guess, mine in rows:
        ok = mine is not None and p0f_family(label) == guess['family']
        agree += ok
        contradict += mine is not None and not ok
        p0f_text = f'{label} ({n}{f", +{others} other" if others else ""})'
        our_text = f'{mine} ({guess["confidence"]:.2f})' if mine else 'unknown'
        if guess and guess.get('several_stacks'):
            our_text += ' [several stacks]'
        print(f'{name[-44:]:44} {ip:26} {p0f_text[:34]:34} {our_text[:34]:34} '
              f'{"yes" if ok else "NO"}')
    if only_ours:
        print('\nhosts only tcpaudit labels (p0f: no match or no output):')
        for name, ip, mine in only_ours:
            print(f'  {name[-44:]:44} {ip:26} {mine}')
    if skipped:
        print('\ncaptures skipped:')
        for path, why in skipped:
            print(f'  {os.path.relpath(path, top)}: {why}')
    total = len(rows)
    rate = agree / total if total else 1.0
    print(f'\nfamily agreement: {agree}/{total} hosts p0f labels '
          f'({100 * rate:.1f}%); tcpaudit unknown on {total - agree - contradict}, '
          f'a different family on {contradict}; {len(only_ours)} hosts '
          f'labelled by tcpaudit only')
    if rate < args.min_agreement:
        return 1
    if args.max_contradictions is not None and contradict > args.max_contradictions:
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
