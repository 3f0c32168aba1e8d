#!/usr/bin/env python3
"""Draws the soak CSV of benches/soak.sh as an SVG (standard library only) and applies the trend
rule: exits 1 when the median RSS of the last third of the samples exceeds the first third's by
more than 10 % + 4 MiB, when the median descriptor count grows by more than 8, or when any
answer was wrong.

    python3 benches/lib/soak_plot.py soak.csv soak.svg
"""
import csv
import statistics
import sys

RSS_RATIO, RSS_SLACK_KIB, FD_SLACK = 1.10, 4096, 8
PANELS = [
    ("rss_kib", "RSS (MiB)", lambda v: v / 1024),
    ("fds", "open descriptors", lambda v: v),
    ("requests_per_s", "requests/s (all kinds)", lambda v: v),
    ("p99", "p99 latency (ms): public, JWT, invalid, session", None),
]
P99 = ["p99_ms_public", "p99_ms_jwt", "p99_ms_invalid", "p99_ms_session"]
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
WIDTH, PANEL_H, LEFT, TOP = 900, 170, 70, 40


def number(text):
    try:
        return float(text)
    except ValueError:
        return float("nan")


def polyline(xs, ys, x_max, y_max, top, colour):
    points = " ".join(
        f"{LEFT + x / x_max * (WIDTH - LEFT - 20):.1f},{top + PANEL_H - y / y_max * PANEL_H:.1f}"
        for x, y in zip(xs, ys)
        if y == y
    )
    return f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>'


def draw(rows, path, title):
    xs = [number(r["elapsed_s"]) for r in rows]
    x_max = max(xs) or 1
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{TOP + len(PANELS) * (PANEL_H + 50)}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{LEFT}" y="20" font-size="14">{title}</text>',
    ]
    for index, (column, label, scale) in enumerate(PANELS):
        top = TOP + index * (PANEL_H + 50) + 20
        series = [[number(r[c]) for r in rows] for c in P99] if column == "p99" else [
            [scale(number(r[column])) for r in rows]
        ]
        y_max = max((y for s in series for y in s if y == y), default=1) * 1.1 or 1
        out.append(f'<text x="{LEFT}" y="{top - 6}">{label}</text>')
        out.append(f'<rect x="{LEFT}" y="{top}" width="{WIDTH - LEFT - 20}" height="{PANEL_H}" fill="none" stroke="#999"/>')
        for fraction in (0, 0.5, 1):
            y = top + PANEL_H - fraction * PANEL_H
            out.append(f'<text x="{LEFT - 6}" y="{y + 4:.0f}" text-anchor="end">{y_max * fraction:.4g}</text>')
        for i, ys in enumerate(series):
            out.append(polyline(xs, ys, x_max, y_max, top, COLOURS[i % len(COLOURS)]))
        out.append(f'<text x="{WIDTH - 20}" y="{top + PANEL_H + 16}" text-anchor="end">{x_max:.0f} s</text>')
        out.append(f'<text x="{LEFT}" y="{top + PANEL_H + 16}">0 s</text>')
    out.append("</svg>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def main():
    csv_path, svg_path = sys.argv[1], sys.argv[2]
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if len(rows) < 3:
        print(f"only {len(rows)} samples: too few to judge a trend", file=sys.stderr)
        return 1
    third = len(rows) // 3
    first, last = rows[:third], rows[-third:]
    med = lambda part, column: statistics.median(number(r[column]) for r in part)
    rss_first, rss_last = med(first, "rss_kib"), med(last, "rss_kib")
    fd_first, fd_last = med(first, "fds"), med(last, "fds")
    wrong = sum(int(number(r["wrong_answers"])) for r in rows)
    p99 = {c: statistics.median(number(r[c]) for r in rows) for c in P99}
    rps = statistics.median(number(r["requests_per_s"]) for r in rows)
    title = (
        f"Portcullis soak: {len(rows)} samples over {number(rows[-1]['elapsed_s']):.0f} s; "
        f"RSS {rss_first / 1024:.1f} -> {rss_last / 1024:.1f} MiB, fds {fd_first:.0f} -> {fd_last:.0f} (median first/last third)"
    )
    draw(rows, svg_path, title)
    print(title)
    print(f"median requests/s {rps:.0f}; median p99 ms: " + ", ".join(f"{c[7:]} {v:.2f}" for c, v in p99.items()))
    print(f"peak RSS {max(number(r['rss_kib']) for r in rows) / 1024:.1f} MiB, peak fds {max(number(r['fds']) for r in rows):.0f}, "
          f"wrong answers {wrong}, reloads {rows[-1]['reloads_ok']}; plot: {svg_path}")
    failures = []
    if rss_last > rss_first * RSS_RATIO + RSS_SLACK_KIB:
        failures.append(f"RSS grows: {rss_first:.0f} -> {rss_last:.0f} KiB (allowed: +10 % + 4 MiB)")
    if fd_last > fd_first + FD_SLACK:
        failures.append(f"descriptors grow: {fd_first:.0f} -> {fd_last:.0f} (allowed: +{FD_SLACK})")
    if wrong:
        failures.append(f"{wrong} answers were not what their kind must get")
    for failure in failures:
        print("FAIL: " + failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
