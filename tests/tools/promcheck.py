#!/usr/bin/env python3
"""promcheck.py - check and query Prometheus text exposition (format 0.0.4).

The integration tests' stand-in for `promtool check metrics` (not packaged
in Debian 12 main); Python 3 standard library only.

  promcheck.py check FILE [--content-type CT]
      Validate FILE ("-" for stdin).  Prints every problem found and exits 1
      if there is one, else prints "ok: N families, M samples" and exits 0.
      With --content-type, CT (an HTTP Content-Type header value) must be
      "text/plain; version=0.0.4" with optional further parameters.

  promcheck.py value FILE NAME [LABEL=VALUE ...]
      Print the sum of the samples called NAME whose labels include every
      LABEL=VALUE given (other labels, e.g. frontend, are summed over).
      Exits 1 if no sample matches.

  promcheck.py diff BEFORE AFTER [--sum-over LABEL]...
      Print, one per line and in exposition order, each counter sample and
      each histogram _count whose value changed, as `NAME{LABELS} DELTA`
      (labels in exposition order; each --sum-over label is dropped and the
      samples that differ only in it are added up).  Gauges, histogram
      buckets and sums are left out: they are not counts of events.

What `check` enforces (the text format's rules and the project's naming):
  - every line is a # HELP, a # TYPE, another comment, a blank line or a
    sample; # HELP and # TYPE appear at most once per family, before any of
    its samples, and the HELP text uses only the \\\\ and \\n escapes;
  - every family has both # HELP and # TYPE, its samples are contiguous
    (families not interleaved) and no family appears twice;
  - metric and label names are valid, label names do not start with "__"
    and do not repeat in one sample, label values are quoted and use only
    the \\\\, \\" and \\n escapes;
  - values (and optional timestamps) parse: floats, NaN, +Inf, -Inf;
  - no sample (name and label set) appears twice;
  - counters are named *_total, and their values are finite and >= 0;
  - a sample's name is its family's (counter, gauge, untyped), or the
    family's plus _bucket/_sum/_count (histogram) or _sum/_count or the
    family's with a quantile label (summary);
  - histograms: each label set has buckets with a float "le" in
    increasing order, cumulative (non-decreasing) counts, an le="+Inf"
    bucket equal to _count, and a _sum; "le" is not used elsewhere;
  - the text ends with a newline.
"""

import math
import re
import sys

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class ParseError(Exception):
    pass


def parse_float(text):
    """A sample value as Go's strconv.ParseFloat (as Prometheus) accepts it."""
    if text in ("NaN", "+Inf", "-Inf", "Inf", "+inf", "-inf", "inf"):
        return float(text.replace("Inf", "inf"))
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        raise ParseError("value %r is not a float" % text)
    return float(text)


def help_escapes_ok(text):
    """HELP text may escape only backslash and newline."""
    i = 0
    while i < len(text):
        if text[i] == "\\":
            if i + 1 >= len(text) or text[i + 1] not in "\\n":
                return False
            i += 2
        else:
            i += 1
    return True


def parse_labels(text, pos):
    """Parse `{name="value",...}` starting at text[pos] == '{'.

    Returns (list of (name, value), position after '}')."""
    labels = []
    assert text[pos] == "{"
    pos += 1
    while True:
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == "}":
            return labels, pos + 1
        m = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*").match(text, pos)
        if not m:
            raise ParseError("bad label name at column %d" % (pos + 1))
        name = m.group(0)
        pos = m.end()
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos >= len(text) or text[pos] != "=":
            raise ParseError("expected '=' after label %s" % name)
        pos += 1
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos >= len(text) or text[pos] != '"':
            raise ParseError("label %s: value not quoted" % name)
        pos += 1
        value = []
        while True:
            if pos >= len(text):
                raise ParseError("label %s: unterminated value" % name)
            ch = text[pos]
            if ch == "\\":
                if pos + 1 >= len(text):
                    raise ParseError("label %s: dangling backslash" % name)
                esc = text[pos + 1]
                if esc not in '\\"n':
                    raise ParseError("label %s: invalid escape \\%s" % (name, esc))
                value.append("\n" if esc == "n" else esc)
                pos += 2
                continue
            if ch == '"':
                pos += 1
                break
            value.append(ch)
            pos += 1
        labels.append((name, "".join(value)))
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        if pos < len(text) and text[pos] == "}":
            return labels, pos + 1
        raise ParseError("expected ',' or '}' after label %s" % name)


def parse_sample(line):
    """One sample line -> (name, labels, value)."""
    m = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*").match(line)
    if not m:
        raise ParseError("bad metric name")
    name = m.group(0)
    pos = m.end()
    labels = []
    if pos < len(line) and line[pos] == "{":
        labels, pos = parse_labels(line, pos)
    rest = line[pos:]
    if not rest or rest[0] not in " \t":
        raise ParseError("expected a space before the value")
    fields = rest.split()
    if len(fields) not in (1, 2):
        raise ParseError("expected a value and an optional timestamp, got %r" % rest.strip())
    value = parse_float(fields[0])
    if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
        raise ParseError("timestamp %r is not an integer" % fields[1])
    return name, labels, value


def family_of(name, types):
    """The family a sample belongs to, given the families TYPEd so far."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if types.get(base) == "histogram" or (
                suffix != "_bucket" and types.get(base) == "summary"
            ):
                return base
    return name


class Exposition:
    """The parsed text: samples in order, with the problems found."""

    def __init__(self, text):
        self.problems = []
        self.samples = []  # (lineno, family, name, labels, value)
        self.types = {}
        self.helps = {}
        self.order = []  # families in order of first appearance
        self._parse(text)

    def problem(self, lineno, msg):
        self.problems.append("line %d: %s" % (lineno, msg) if lineno else msg)

    def _parse(self, text):
        if text and not text.endswith("\n"):
            self.problem(0, "the text does not end with a newline")
        current = None  # family whose lines we are in
        closed = set()  # families we have left
        seen_samples = set()
        has_samples = set()
        for lineno, line in enumerate(text.split("\n"), 1):
            if line == "" or line.strip() == "":
                continue
            if line.startswith("#"):
                fields = line.split(None, 3)
                if len(fields) >= 2 and fields[1] in ("HELP", "TYPE"):
                    if len(fields) < 3:
                        self.problem(lineno, "# %s without a metric name" % fields[1])
                        continue
                    fam = fields[2]
                    if not METRIC_NAME.match(fam):
                        self.problem(lineno, "invalid metric name %r" % fam)
                    if fam in closed:
                        self.problem(lineno, "family %s appears again (interleaved)" % fam)
                    if current is not None and current != fam:
                        closed.add(current)
                    current = fam
                    if fam not in self.order:
                        self.order.append(fam)
                    if fam in has_samples:
                        self.problem(lineno, "# %s %s after its samples" % (fields[1], fam))
                    arg = fields[3] if len(fields) > 3 else ""
                    if fields[1] == "HELP":
                        if fam in self.helps:
                            self.problem(lineno, "second # HELP for %s" % fam)
                        if not help_escapes_ok(arg):
                            self.problem(lineno, "invalid escape in the HELP of %s" % fam)
                        self.helps[fam] = arg
                    else:
                        if fam in self.types:
                            self.problem(lineno, "second # TYPE for %s" % fam)
                        if arg.strip() not in TYPES:
                            self.problem(lineno, "unknown type %r for %s" % (arg, fam))
                        self.types[fam] = arg.strip()
                continue
            try:
                name, labels, value = parse_sample(line)
            except ParseError as e:
                self.problem(lineno, "%s: %s" % (e, line))
                continue
            fam = family_of(name, self.types)
            if fam in closed:
                self.problem(lineno, "sample of family %s after another family (interleaved)" % fam)
            if current is not None and current != fam:
                closed.add(current)
            current = fam
            if fam not in self.order:
                self.order.append(fam)
            has_samples.add(fam)
            names = [k for k, _ in labels]
            for k in names:
                if not LABEL_NAME.match(k) or k.startswith("__"):
                    self.problem(lineno, "invalid label name %r" % k)
            if len(set(names)) != len(names):
                self.problem(lineno, "a label repeats: %s" % line)
            key = (name, tuple(sorted(labels)))
            if key in seen_samples:
                self.problem(lineno, "duplicate sample %s" % line)
            seen_samples.add(key)
            self.samples.append((lineno, fam, name, labels, value))
        for fam in self.order:
            if fam not in self.helps:
                self.problem(0, "family %s has no # HELP" % fam)
            if fam not in self.types:
                self.problem(0, "family %s has no # TYPE" % fam)

    def check_semantics(self):
        hist = {}  # (family, labels without le) -> {"buckets": [...], "count":, "sum":}
        for lineno, fam, name, labels, value in self.samples:
            ftype = self.types.get(fam, "untyped")
            names = [k for k, _ in labels]
            if ftype == "counter":
                if not fam.endswith("_total"):
                    self.problem(lineno, "counter %s is not named *_total" % fam)
                if name != fam:
                    self.problem(lineno, "sample %s in counter family %s" % (name, fam))
                if math.isnan(value) or math.isinf(value) or value < 0:
                    self.problem(lineno, "counter %s has value %r" % (name, value))
            elif ftype in ("gauge", "untyped"):
                if name != fam:
                    self.problem(lineno, "sample %s in %s family %s" % (name, ftype, fam))
            elif ftype == "summary":
                if name == fam and "quantile" not in names:
                    self.problem(lineno, "summary sample %s without quantile" % name)
            if "le" in names and not (ftype == "histogram" and name == fam + "_bucket"):
                self.problem(lineno, "label le outside a histogram bucket")
            if ftype != "histogram":
                continue
            rest = tuple((k, v) for k, v in labels if k != "le")
            h = hist.setdefault((fam, rest), {"buckets": [], "count": None, "sum": None,
                                              "line": lineno})
            if name == fam + "_bucket":
                le = dict(labels).get("le")
                if le is None:
                    self.problem(lineno, "bucket without le")
                    continue
                try:
                    bound = parse_float(le)
                except ParseError:
                    self.problem(lineno, "le=%r is not a float" % le)
                    continue
                h["buckets"].append((lineno, bound, value))
            elif name == fam + "_count":
                h["count"] = value
            elif name == fam + "_sum":
                h["sum"] = value
            else:
                self.problem(lineno, "sample %s in histogram family %s" % (name, fam))
        for (fam, rest), h in hist.items():
            what = fam + ("{%s}" % ",".join('%s="%s"' % kv for kv in rest) if rest else "")
            b = h["buckets"]
            if not b:
                self.problem(h["line"], "histogram %s has no buckets" % what)
                continue
            for (l1, b1, v1), (l2, b2, v2) in zip(b, b[1:]):
                if not b2 > b1:
                    self.problem(l2, "histogram %s: le %r after %r (not increasing)" % (what, b2, b1))
                if v2 < v1:
                    self.problem(l2, "histogram %s: bucket le=%r has %r < %r (not cumulative)"
                                 % (what, b2, v2, v1))
            if b[-1][1] != math.inf:
                self.problem(b[-1][0], "histogram %s has no le=\"+Inf\" bucket last" % what)
            if h["count"] is None:
                self.problem(h["line"], "histogram %s has no _count" % what)
            elif b[-1][1] == math.inf and b[-1][2] != h["count"]:
                self.problem(b[-1][0], "histogram %s: +Inf bucket %r != _count %r"
                             % (what, b[-1][2], h["count"]))
            if h["sum"] is None:
                self.problem(h["line"], "histogram %s has no _sum" % what)


def read_text(path):
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def check_content_type(ct):
    parts = [p.strip() for p in ct.split(";")]
    if parts[0].lower() != "text/plain":
        return "Content-Type %r is not text/plain" % ct
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    if params.get("version") != "0.0.4":
        return "Content-Type %r does not say version=0.0.4" % ct
    return None


def cmd_check(args):
    ct = None
    if "--content-type" in args:
        i = args.index("--content-type")
        if i + 1 >= len(args):
            return usage()
        ct = args[i + 1]
        del args[i : i + 2]
    if len(args) != 1:
        return usage()
    exp = Exposition(read_text(args[0]))
    exp.check_semantics()
    if ct is not None:
        msg = check_content_type(ct)
        if msg:
            exp.problem(0, msg)
    if not exp.samples:
        exp.problem(0, "no samples")
    for p in exp.problems:
        print("promcheck: %s" % p)
    if exp.problems:
        return 1
    print("ok: %d families, %d samples" % (len(exp.order), len(exp.samples)))
    return 0


def cmd_value(args):
    if len(args) < 2:
        return usage()
    exp = Exposition(read_text(args[0]))
    want = []
    for a in args[2:]:
        if "=" not in a:
            return usage()
        want.append(tuple(a.split("=", 1)))
    total = 0.0
    found = False
    for _, _, name, labels, value in exp.samples:
        if name == args[1] and all(kv in labels for kv in want):
            total += value
            found = True
    if not found:
        print("promcheck: no sample %s %s" % (args[1], " ".join(args[2:])), file=sys.stderr)
        return 1
    print("%d" % total if total == int(total) else repr(total))
    return 0


def event_counts(exp, sum_over):
    """Counter samples and histogram _counts, summed over the sum_over labels."""
    out = {}
    for _, fam, name, labels, value in exp.samples:
        ftype = exp.types.get(fam)
        if not (ftype == "counter" or (ftype == "histogram" and name == fam + "_count")):
            continue
        kept = [(k, v) for k, v in labels if k not in sum_over]
        text = name + ("{%s}" % ",".join('%s="%s"' % kv for kv in kept) if kept else "")
        out[text] = out.get(text, 0.0) + value
    return out


def cmd_diff(args):
    sum_over = set()
    while "--sum-over" in args:
        i = args.index("--sum-over")
        if i + 1 >= len(args):
            return usage()
        sum_over.add(args[i + 1])
        del args[i : i + 2]
    if len(args) != 2:
        return usage()
    before = event_counts(Exposition(read_text(args[0])), sum_over)
    after = event_counts(Exposition(read_text(args[1])), sum_over)
    for key, value in after.items():
        delta = value - before.get(key, 0.0)
        if delta != 0:
            print("%s %s" % (key, "%d" % delta if delta == int(delta) else repr(delta)))
    for key in before:
        if key not in after:
            print("%s vanished" % key)
    return 0


def usage():
    print(
        "usage: promcheck.py check FILE [--content-type CT]\n"
        "       promcheck.py value FILE NAME [LABEL=VALUE ...]\n"
        "       promcheck.py diff BEFORE AFTER [--sum-over LABEL]...",
        file=sys.stderr,
    )
    return 2


def main(argv):
    if len(argv) < 2:
        return usage()
    cmds = {"check": cmd_check, "value": cmd_value, "diff": cmd_diff}
    if argv[1] not in cmds:
        return usage()
    try:
        return cmds[argv[1]](list(argv[2:]))
    except (OSError, UnicodeDecodeError) as e:
        print("promcheck: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
