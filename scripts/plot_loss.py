#!/usr/bin/env python3
"""Plot train and val loss of one or more `gpt train` runs from RUN/metrics.jsonl.

    scripts/plot_loss.py runs/shakespeare -o loss.png
    scripts/plot_loss.py runs/a runs/b --label learned --label rope -o loss.svg

Two panels: loss against optimizer steps, and against tokens seen; train loss as a
line, val loss as dots on a dashed line, one colour per run. Tokens per step are
recovered from each line's tokens_per_s * ms_per_step / 1000 (batch x context x
grad-accum), so no other file is needed. Needs matplotlib (Debian: python3-matplotlib).
"""
import argparse
import json
import os
import sys


def usage_error(msg):
    """A usage mistake: exit 2, as argparse's own (and gpt's); failures exit 1."""
    print(msg, file=sys.stderr)
    sys.exit(2)


class Once(argparse.Action):
    """A flag given twice is a mistake (the last one won without a word)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest + "_given", False):
            parser.error(f"{option_string} given twice ({getattr(namespace, self.dest)} and {values}); give it once")
        setattr(namespace, self.dest + "_given", True)
        setattr(namespace, self.dest, values)


def permission_fix(path, perm):
    """How this user gets perm on path: chmod u+ when it owns it, else its owner's chmod a+."""
    try:
        uid = os.stat(path).st_uid
    except OSError:
        uid = os.geteuid()
    if uid == os.geteuid():
        return f"chmod u+{perm} {path}"
    return f"have its owner (uid {uid}) run chmod a+{perm} {path}"


def blocked_dir(path):
    """The first directory on the way to path this user cannot search, or None."""
    parts = os.path.abspath(path).split(os.sep)
    for i in range(2, len(parts)):
        d = os.sep.join(parts[:i]) or os.sep
        if os.path.isdir(d) and not os.access(d, os.X_OK):
            return d
    return None


def read_metrics(run):
    # (a directory this user cannot search read as "not found")
    for p in (run, os.path.join(run, "metrics.jsonl")):
        d = blocked_dir(p)
        if d:
            sys.exit(f"plot_loss.py: {p}: cannot look for it (Permission denied): this user cannot read the "
                     f"directory {d}; {permission_fix(d, 'rx')} (read and search permission), or run as its owner")
    path = run if os.path.isfile(run) else os.path.join(run, "metrics.jsonl")
    if not os.path.isfile(path):
        sys.exit(f"plot_loss.py: {path}: not found; expected a run directory written by `gpt train` "
                 "(it holds metrics.jsonl) or the metrics.jsonl file itself")
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        fix = f"; {permission_fix(path, 'r')} (read permission)" if isinstance(e, PermissionError) else ""
        sys.exit(f"plot_loss.py: {path}: cannot read it ({e.strerror or e}){fix}")
    except UnicodeDecodeError as e:
        sys.exit(f"plot_loss.py: {path}: cannot read it as UTF-8 text ({e})")
    lines = text.split("\n")
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if n == len(lines):  # the last line of a run still writing (or killed mid-line): not yet a line
                break
            sys.exit(f"plot_loss.py: {path}: line {n}: not JSON ({e}); expected one object per line")
        number = lambda k: isinstance(row.get(k), (int, float)) and not isinstance(row.get(k), bool)
        if not isinstance(row, dict) or not number("step") or not number("train_loss") or \
                (row.get("val_loss") is not None and not number("val_loss")):
            sys.exit(f"plot_loss.py: {path}: line {n}: expected an object with numbers \"step\" and "
                     f"\"train_loss\" (and \"val_loss\"), found {line[:80]}")
        rows.append(row)
    if not rows:
        sys.exit(f"plot_loss.py: {path}: no logged steps yet")
    rows.sort(key=lambda r: r["step"])
    # Tokens seen at each logged step: tokens per step is constant between log lines.
    tokens, prev_step, seen = [], 0, 0.0
    for r in rows:
        tps, ms = r.get("tokens_per_s"), r.get("ms_per_step")
        per_step = round(tps * ms / 1000.0) if tps and ms else 0
        seen += (r["step"] - prev_step) * per_step
        prev_step = r["step"]
        tokens.append(seen)
    return path, rows, tokens


def main():
    ap = argparse.ArgumentParser(description="Plot train/val loss of gpt train runs (RUN/metrics.jsonl).")
    ap.add_argument("runs", nargs="+", metavar="RUN", help="run directory (or its metrics.jsonl)")
    ap.add_argument("-o", "--out", default="loss.png", action=Once, help="output image: .png, .svg or .pdf (default loss.png)")
    ap.add_argument("--label", action="append", default=[], help="legend label per run, in order "
                    "(default: the run directory's name)")
    ap.add_argument("--title", default="gpt.cc training loss", action=Once)
    args = ap.parse_args()
    if len(args.label) > len(args.runs):
        usage_error(f"plot_loss.py: {len(args.label)} --label for {len(args.runs)} "
                    f"run{'s' if len(args.runs) > 1 else ''}; give at most one per run")
    if os.path.splitext(args.out)[1].lower() not in (".png", ".svg", ".pdf"):
        usage_error(f"plot_loss.py: --out {args.out}: give a .png, .svg or .pdf file name")
    out_dir = os.path.dirname(args.out) or "."
    if not os.path.isdir(out_dir):
        usage_error(f"plot_loss.py: --out {args.out}: the directory {out_dir} does not exist")
    if os.path.isdir(args.out):
        usage_error(f"plot_loss.py: --out {args.out}: is a directory; give an image file name (e.g. "
                    f"{os.path.join(args.out, 'loss.png')})")
    for run in args.runs:  # every run's file checked before the (slow) matplotlib import
        read_metrics(run)

    # A HOME this user cannot write (the user nobody's /nonexistent): matplotlib made its own
    # temporary cache and said so in a warning; a private one, removed at exit, says nothing.
    if "MPLCONFIGDIR" not in os.environ and not os.access(os.path.expanduser("~"), os.W_OK):
        import atexit, shutil, tempfile
        cache = tempfile.mkdtemp(prefix="plot_loss-mpl-")
        atexit.register(shutil.rmtree, cache, True)
        os.environ["MPLCONFIGDIR"] = cache
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        # Debian's python3-matplotlib lives in the system interpreter; a pyenv or venv
        # python3 earlier on PATH may lack it.
        system = "/usr/bin/python3"
        if os.path.exists(system) and os.path.realpath(sys.executable) != os.path.realpath(system) \
                and not os.environ.get("PLOT_LOSS_REEXEC"):
            os.environ["PLOT_LOSS_REEXEC"] = "1"
            os.execv(system, [system] + sys.argv)
        sys.exit("plot_loss.py: needs matplotlib; on Debian/Ubuntu: apt-get install python3-matplotlib")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, run in enumerate(args.runs):
        path, rows, tokens = read_metrics(run)
        label = args.label[k] if k < len(args.label) else \
            os.path.basename(os.path.abspath(os.path.dirname(path) if os.path.isfile(run) else run))
        c = colors[k % len(colors)]
        steps = [r["step"] for r in rows]
        train = [r["train_loss"] for r in rows]
        val = [(r["step"], t, r["val_loss"]) for r, t in zip(rows, tokens) if r.get("val_loss") is not None]
        for ax, xs, vx in ((axes[0], steps, [v[0] for v in val]), (axes[1], tokens, [v[1] for v in val])):
            ax.plot(xs, train, color=c, lw=1.4, label=f"{label} train")
            if val:
                ax.plot(vx, [v[2] for v in val], color=c, lw=1.2, ls="--", marker="o", ms=4,
                        label=f"{label} val")
    axes[0].set_xlabel("optimizer step")
    axes[1].set_xlabel("tokens seen")
    axes[0].set_ylabel("cross-entropy loss (nats/token)")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    axes[0].legend(fontsize=8)
    fig.suptitle(args.title)
    fig.tight_layout()
    # Written whole beside --out, then renamed over it: a full disk left a cut PNG in place of
    # the earlier image, and a PDF ended in zlib's traceback (helper-41).
    ext = os.path.splitext(args.out)[1][1:].lower()
    tmp = os.path.join(out_dir, f".{os.path.basename(args.out)}.tmp.{os.getpid()}")
    try:
        fig.savefig(tmp, dpi=110, format=ext or None)
        os.replace(tmp, args.out)
    except Exception as e:  # OSError, and zlib.error from the PDF writer on a full disk
        try:
            os.remove(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.strerror:
            why = e.strerror
        else:  # the PDF writer's own error on a full disk ('Stream' object has no attribute 'pos')
            try:
                st = os.statvfs(out_dir)
                full = st.f_bavail * st.f_frsize < (1 << 20)
            except OSError:
                full = False
            why = "No space left on device" if full else f"{type(e).__name__}: {e}"
        # (a directory this user cannot write: named, with the fix; helper-44)
        if isinstance(e, PermissionError) and not os.access(out_dir or ".", os.W_OK | os.X_OK):
            why += f": this user cannot write in {out_dir or '.'}; {permission_fix(out_dir or '.', 'w')}, or give " \
                   "an --out in a directory you can write to"
        sys.exit(f"plot_loss.py: --out {args.out}: cannot write it ({why}); an earlier file there is untouched")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
