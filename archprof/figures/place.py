"""Text labels placed next to their points so that no two labels overlap and no label covers a
point, decided on the rendered figure rather than hoped for.

Greedy and deterministic: after the layout is fixed, each label (the most crowded points
first) tries positions around its point on rings of growing radius, in a fixed order of
directions, and takes the first ring with a free spot (free = inside the axes, off every
placed label, off every point's marker, off the `avoid` boxes such as an in-axes legend).
Among the free spots of a ring it prefers one over fewer big translucent bubbles. A label
far from its point gets a thin leader line. Positions are stored in points relative to the
point, so they hold at any dpi.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox

LABEL_GID = "point-label"       # tests and callers find the placed labels by this gid
PAD_PT = 1.5                    # clearance between a label and anything it must avoid
RING_PT = 5.0                   # spacing of the rings of candidate positions
RINGS = 14
LEADER_PT = 9.0                 # beyond this distance from its marker a label gets a leader
# Directions tried on every ring, in order of preference (degrees, 0 = right).
ANGLES = (0, 180, 90, 270, 30, 150, 330, 210, 60, 120, 300, 240, 15, 165, 345, 195)


@dataclass(frozen=True)
class Marker:
    """A point's marker in display pixels; `hard` markers must never be covered by a label,
    soft ones (big bubbles) only preferably."""
    x: float
    y: float
    r: float
    hard: bool = True


def freeze_layout(ax: Axes) -> None:
    """Run the figure's layout once and keep it, so that positions measured now stay true when
    the figure is saved (labels are kept out of the layout)."""
    fig = _figure(ax)
    fig.canvas.draw()
    fig.set_layout_engine("none")


def markers(ax: Axes, x: Sequence[float], y: Sequence[float], radius_pt: Sequence[float] | float,
            hard: bool = True) -> list[Marker]:
    """Markers in display pixels for points in data coordinates, radius given in points."""
    px = _figure(ax).dpi / 72
    xy = ax.transData.transform(np.column_stack([np.asarray(x, float), np.asarray(y, float)]))
    radii = np.broadcast_to(np.asarray(radius_pt, float), (len(xy),))
    return [Marker(float(a), float(b), float(r) * px, hard) for (a, b), r in zip(xy, radii)]


def place(ax: Axes, x: Sequence[float], y: Sequence[float], labels: Sequence[str],
          own_radius_pt: Sequence[float] | float, obstacles: Sequence[Marker] = (),
          avoid: Sequence[Bbox] = (), fontsize: float = 7.5,
          angles: Sequence[int] = ANGLES) -> list[Annotation]:
    """Label each point (data coordinates) with a free spot near it; `own_radius_pt` is how far
    from the point its own marker reaches. Call after freeze_layout and after every marker
    is drawn. Raises RuntimeError when a label finds no free spot in the axes."""
    fig = _figure(ax)
    renderer = cast(FigureCanvasAgg, fig.canvas).get_renderer()     # figures use the Agg canvas
    px = fig.dpi / 72
    frame = ax.get_window_extent(renderer)
    anchors = ax.transData.transform(np.column_stack([np.asarray(x, float), np.asarray(y, float)]))
    own = np.broadcast_to(np.asarray(own_radius_pt, float), (len(anchors),)) * px
    sizes = [_text_size(ax, label, fontsize, renderer) for label in labels]
    taken: list[Bbox] = [b.padded(PAD_PT * px) for b in avoid]
    crowd = [sum(math.dist(a, b) < 60 * px for b in anchors) for a in anchors]
    placed: list[Annotation | None] = [None] * len(anchors)
    for i in sorted(range(len(anchors)), key=lambda i: (-crowd[i], anchors[i][0], anchors[i][1])):
        (w, h), (ax_, ay) = sizes[i], anchors[i]
        box, dist = _free_spot(ax_, ay, w, h, own[i], frame, taken, obstacles, px, angles)
        cx, cy = box.x0 + w / 2, box.y0 + h / 2
        leader = dist > LEADER_PT * px
        ann = ax.annotate(labels[i], (x[i], y[i]), xytext=((cx - ax_) / px, (cy - ay) / px),
                          textcoords="offset points", ha="center", va="center",
                          fontsize=fontsize, color="0.1", annotation_clip=False, zorder=6,
                          arrowprops={"arrowstyle": "-", "color": "0.45", "lw": 0.5, "shrinkA": 0,
                                      "shrinkB": own[i] / px} if leader else None)
        ann.set_in_layout(False)
        ann.set_gid(LABEL_GID)
        taken.append(box.padded(PAD_PT * px))
        placed[i] = ann
    return [a for a in placed if a is not None]


def _figure(ax: Axes) -> Figure:
    """The figure that holds `ax` (archprof draws on plain figures, never subfigures)."""
    fig = ax.get_figure()
    assert isinstance(fig, Figure)
    return fig


def _text_size(ax: Axes, label: str, fontsize: float, renderer: RendererBase) -> tuple[float, float]:
    probe = ax.text(0, 0, label, fontsize=fontsize, ha="center", va="center")
    ext = probe.get_window_extent(renderer)
    probe.remove()
    return ext.width, ext.height


def _free_spot(x: float, y: float, w: float, h: float, own: float, frame: Bbox,
               taken: list[Bbox], obstacles: Sequence[Marker], px: float,
               angles: Sequence[int]) -> tuple[Bbox, float]:
    """The first ring with a free spot (the one over fewest soft markers), else the nearest
    free spot anywhere in the axes."""
    inner = frame.padded(-PAD_PT * px)
    pad = PAD_PT * px
    m = np.array([(o.x, o.y, o.r + pad, o.hard) for o in obstacles], float).reshape(-1, 4)
    boxes = np.array([t.extents for t in taken], float).reshape(-1, 4)

    def free(x0: float, y0: float) -> int | None:
        """Soft markers under the box at (x0, y0), or None when the box is not allowed."""
        x1, y1 = x0 + w, y0 + h
        if x0 < inner.x0 or y0 < inner.y0 or x1 > inner.x1 or y1 > inner.y1:
            return None
        if np.any((boxes[:, 0] < x1) & (boxes[:, 2] > x0) & (boxes[:, 1] < y1)
                  & (boxes[:, 3] > y0)):
            return None
        nx, ny = np.clip(m[:, 0], x0, x1), np.clip(m[:, 1], y0, y1)
        hit = (m[:, 0] - nx) ** 2 + (m[:, 1] - ny) ** 2 < m[:, 2] ** 2
        if np.any(hit & (m[:, 3] > 0)):
            return None
        return int(hit.sum())

    for ring in range(RINGS):
        d = own + pad + ring * RING_PT * px
        best: tuple[int, float, float] | None = None
        for angle in angles:
            c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
            x0, y0 = x + c * (d + w / 2) - w / 2, y + s * (d + h / 2) - h / 2
            soft = free(x0, y0)
            if soft is not None and (best is None or soft < best[0]):
                best = (soft, x0, y0)
                if soft == 0:
                    break
        if best is not None:
            return Bbox.from_bounds(best[1], best[2], w, h), d
    # Crowded: the free spot nearest the point anywhere in the axes, on a grid.
    step = RING_PT * px / 2
    spots = [(math.hypot(x0 + w / 2 - x, y0 + h / 2 - y), x0, y0)
             for x0 in np.arange(inner.x0, inner.x1 - w, step)
             for y0 in np.arange(inner.y0, inner.y1 - h, step)]
    for dist, x0, y0 in sorted(spots):
        if free(x0, y0) is not None:
            return Bbox.from_bounds(x0, y0, w, h), dist
    raise RuntimeError(f"no free spot for a {w:.0f}x{h:.0f} px label near ({x:.0f}, {y:.0f})")


def polyline(ax: Axes, x: Sequence[float], y: Sequence[float], where: str | None = None,
             width_pt: float = 1.0) -> list[Marker]:
    """A drawn line (data coordinates; `where` 'pre'/'post' for steps as Axes.step draws them)
    as a chain of small hard markers, so that labels keep off it."""
    x, y = list(x), list(y)
    if where and len(x) > 1:
        corners = [(x[i + 1], y[i]) if where == "post" else (x[i], y[i + 1]) for i in range(len(x) - 1)]
        pts = [p for i in range(len(x) - 1) for p in ((x[i], y[i]), corners[i])] + [(x[-1], y[-1])]
    else:
        pts = list(zip(x, y))
    if not pts:
        return []
    px = _figure(ax).dpi / 72
    xy = ax.transData.transform(np.asarray(pts, float))
    out = []
    for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:]):
        n = max(1, int(math.hypot(x1 - x0, y1 - y0) / (2 * px)))
        out += [Marker(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n, width_pt * px / 2)
                for k in range(n + 1)]
    return out
