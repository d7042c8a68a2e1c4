"""The state transitions of one enum-like field as an inline SVG, drawn on the server.

The states sit in a row in the order they are first named; a transition to a later state is an
arc above the row, one back to an earlier state an arc below, so a reader follows the life of
the field left to right. An arc carries the functions that make the transition, each marked
as added (+) or removed (-) by the series; an arc all of whose functions the series added is
drawn green, one it removed entirely red and dashed.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from reviewbot.review import ADDED, REMOVED, SAME, Transition

CHAR = 7.4  # px per character of the 12px monospace labels
NODE_H = 28
LINE_H = 14
GAP = 40  # between the boxes of neighbouring states
MAX_LABEL = 48  # characters of a function name shown on an arc
SIGNS = {ADDED: "+ ", REMOVED: "\u2212 ", SAME: ""}


@dataclass
class _Arc:
    source: int
    target: int
    transitions: list[Transition]

    @property
    def change(self) -> str:
        changes = {t.change for t in self.transitions}
        return changes.pop() if len(changes) == 1 else SAME

    def labels(self) -> list[tuple[str, str]]:
        seen = dict.fromkeys((t.change, _cut(t.function)) for t in self.transitions)
        return [(change, SIGNS[change] + name) for change, name in seen]


def diagrams(transitions: list[Transition]) -> list[tuple[str, Markup]]:
    """(field, svg) for every field with transitions, in the order the review lists them."""
    by_key: dict[str, list[Transition]] = {}
    for t in transitions:
        by_key.setdefault(t.key, []).append(t)
    return [(key, svg(key, ts)) for key, ts in by_key.items()]


def svg(key: str, transitions: list[Transition]) -> Markup:
    states = list(dict.fromkeys(v for t in transitions for v in (t.from_value, t.to_value)))
    arcs: dict[tuple[int, int], _Arc] = {}
    for t in transitions:
        pair = (states.index(t.from_value), states.index(t.to_value))
        arcs.setdefault(pair, _Arc(*pair, [])).transitions.append(t)
    label_width = max((len(text) for arc in arcs.values() for _, text in arc.labels()), default=0)
    widths = [len(_state(s)) * CHAR + 24 for s in states]
    gap = max(GAP, min(label_width * CHAR / 2, 220))
    xs, x = [], 16.0
    for width in widths:
        xs.append(x)
        x += width + gap
    centre = [x0 + w / 2 for x0, w in zip(xs, widths)]
    above = [a for a in arcs.values() if a.target >= a.source]
    below = [a for a in arcs.values() if a.target < a.source]
    apex = {**_apexes(above), **_apexes(below)}
    top = max((apex[id(a)] + LINE_H * len(a.labels()) for a in above), default=0) + 12
    bottom = max((apex[id(a)] + LINE_H * len(a.labels()) for a in below), default=0) + 12
    y = top + NODE_H / 2  # the row's middle
    width = x - gap + 16 + label_width * CHAR / 2
    total_h = top + NODE_H + bottom
    ident = "".join(c if c.isalnum() else "-" for c in key)
    parts = [Markup('<svg class="transitions" xmlns="http://www.w3.org/2000/svg" role="img" '
                    'width="{w:.0f}" height="{h:.0f}" viewBox="0 0 {w:.0f} {h:.0f}">')
             .format(w=width, h=total_h),
             Markup("<title>state transitions of {}</title>").format(key),
             Markup("<defs>")]
    for change in (SAME, ADDED, REMOVED):
        parts.append(Markup('<marker id="arrow-{i}-{c}" class="arrow {c}" viewBox="0 0 10 10" '
                            'refX="9" refY="5" markerWidth="7" markerHeight="7" '
                            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>')
                     .format(i=ident, c=change))
    parts.append(Markup("</defs>"))
    for arc in arcs.values():
        parts.append(_arc(arc, centre, y, apex[id(arc)], ident))
    for state, x0, w in zip(states, xs, widths):
        parts.append(Markup('<g class="state"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
                            'height="{h}" rx="6"/><text x="{cx:.1f}" y="{ty:.1f}">{label}</text>'
                            '</g>').format(x=x0, y=y - NODE_H / 2, w=w, h=NODE_H, cx=x0 + w / 2,
                                           ty=y + 4, label=_state(state)))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _apexes(arcs: list[_Arc]) -> dict[int, float]:
    """How far each arc rises from the row: clear of the arcs it spans and their labels, so
    that nested arcs and their labels never cross."""
    apex: dict[int, float] = {}
    for arc in sorted(arcs, key=lambda a: abs(a.target - a.source)):
        lo, hi = sorted((arc.source, arc.target))
        inner = [apex[id(a)] + LINE_H * len(a.labels()) for a in arcs if id(a) in apex
                 and lo <= min(a.source, a.target) and max(a.source, a.target) <= hi]
        apex[id(arc)] = max([24.0, *inner]) + 10
    return apex


def _arc(arc: _Arc, centre: list[float], y: float, apex: float, ident: str) -> Markup:
    change = arc.change
    sign = 1 if arc.target < arc.source else -1  # back: below the row; on or forward: above
    sy = y + sign * NODE_H / 2
    cy = sy + sign * apex / 0.75  # a cubic's apex is 3/4 of the way to its control points
    if arc.source == arc.target:  # a state set again: a loop over its box
        x1, x2 = centre[arc.source] - 10, centre[arc.source] + 10
        path = f"M{x1:.1f},{sy:.1f} C{x1 - 24:.1f},{cy:.1f} {x2 + 24:.1f},{cy:.1f} {x2:.1f},{sy:.1f}"
    else:
        x1 = centre[arc.source] - sign * 8
        x2 = centre[arc.target] + sign * 8
        path = f"M{x1:.1f},{sy:.1f} C{x1:.1f},{cy:.1f} {x2:.1f},{cy:.1f} {x2:.1f},{sy:.1f}"
    label_y, step = sy + sign * apex, sign
    mid = (x1 + x2) / 2
    parts = [Markup('<g class="arc {c}"><path d="{d}" marker-end="url(#arrow-{i}-{c})"/>')
             .format(c=change, d=path, i=ident)]
    labels = arc.labels()
    for n, (label_change, text) in enumerate(labels):
        offset = (n + 1) * LINE_H - 3 if step > 0 else -(len(labels) - n - 1) * LINE_H - 7
        parts.append(Markup('<text class="{c}" x="{x:.1f}" y="{y:.1f}">{t}</text>')
                     .format(c=label_change, x=mid, y=label_y + offset, t=text))
    parts.append(Markup("</g>"))
    return Markup("").join(parts)


def _state(value: str) -> str:
    return "any" if value == "*" else _cut(value)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1] + "\u2026"

