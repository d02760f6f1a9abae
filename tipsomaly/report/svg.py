"""Two small charts as inline SVG text (no plotting dependency): grouped bars, and lines over categories.

Values are percentages; the y axis spans [0, 100]. NaN values are drawn as gaps.
"""

from __future__ import annotations

import math
import os
from html import escape

PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 720, 320, 48, 150, 28, 70


def _frame(title: str, ylabel: str, categories: list[str], series: list[str]) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'font-family="sans-serif" font-size="11"><title>{escape(title)}</title>',
             f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>']
    for tick in range(0, 101, 20):
        y = TOP + plot_h * (1 - tick / 100)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    parts.append(f'<text transform="translate(12,{TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">{escape(ylabel)}</text>')
    for i, name in enumerate(series):
        y = TOP + 14 * i
        parts.append(f'<rect x="{WIDTH - RIGHT + 10}" y="{y}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{WIDTH - RIGHT + 24}" y="{y + 9}">{escape(name)}</text>')
    step = (WIDTH - LEFT - RIGHT) / max(len(categories), 1)
    for i, category in enumerate(categories):
        x = LEFT + step * (i + 0.5)
        parts.append(f'<text transform="translate({x:.1f},{HEIGHT - BOTTOM + 12}) rotate(30)">{escape(str(category))}</text>')
    return parts


def _y(value: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - min(max(value, 0.0), 100.0) / 100)


def bar_chart(title: str, ylabel: str, categories: list[str], series: dict[str, list[float]]) -> str:
    """Grouped bars: one group per category, one bar per series (e.g. per class, one bar per run)."""
    parts = _frame(title, ylabel, categories, list(series))
    step = (WIDTH - LEFT - RIGHT) / max(len(categories), 1)
    bar = step * 0.8 / max(len(series), 1)
    for s, (name, values) in enumerate(series.items()):
        for i, value in enumerate(values):
            if value is None or math.isnan(value):
                continue
            x, y = LEFT + step * i + step * 0.1 + bar * s, _y(value)
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{_y(0) - y:.1f}" '
                         f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(name)}: {value:.1f}</title></rect>')
    return "".join(parts) + "</svg>"


def line_chart(title: str, ylabel: str, categories: list[str], series: dict[str, list[float]]) -> str:
    """One line per series over the categories in order (e.g. a metric per dataset against a swept value)."""
    parts = _frame(title, ylabel, categories, list(series))
    step = (WIDTH - LEFT - RIGHT) / max(len(categories), 1)
    for s, (name, values) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        points = [(LEFT + step * (i + 0.5), _y(v), v) for i, v in enumerate(values) if v is not None and not math.isnan(v)]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(name)}: {v:.1f}</title></circle>'
                  for x, y, v in points]
    return "".join(parts) + "</svg>"


class Svg(str):
    """SVG text that Jupyter draws when it is a cell's value (``_repr_svg_``), without importing IPython."""

    def _repr_svg_(self) -> str:
        return str(self)


class ImageGrid:
    """PNG files shown side by side in Jupyter (``_repr_html_``, images inlined as base64), with captions."""

    def __init__(self, images: list[tuple[str, "os.PathLike[str] | str"]]):
        self.images = list(images)

    def _repr_html_(self) -> str:
        import base64
        from pathlib import Path

        cells = [f"<figure style='margin:4px'><img src='data:image/png;base64,{base64.b64encode(Path(p).read_bytes()).decode()}' "
                 f"style='max-width:360px'><figcaption style='font-size:11px'>{escape(caption)}</figcaption></figure>"
                 for caption, p in self.images]
        return "<div style='display:flex;flex-wrap:wrap'>" + "".join(cells) + "</div>"
