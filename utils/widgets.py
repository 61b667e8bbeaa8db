"""Slider views: a matplotlib figure redrawn as ipywidgets sliders move (all lessons).

A view is plain Python: ``view.update(scale=3.0)`` redraws without a browser, which is how
the tests and ``benchmarks/lessons.py`` drive it.  In a notebook, displaying the view shows
the sliders above a figure.  The figure is an ordinary image output, so the default view
also renders in a static export (nbconvert HTML, GitHub); moving a slider replaces it.
"""
from __future__ import annotations

import io
import time
from typing import Callable

import ipywidgets as widgets
from IPython.display import Image, display
from matplotlib.figure import Figure

DrawFunction = Callable[..., None]


class SliderView:
    """Sliders (or other value widgets) driving one matplotlib figure.

    Parameters
    ----------
    draw:
        ``draw(fig, **values)`` draws the whole figure for the given control values.
        The figure is cleared before each call.
    controls:
        name -> ipywidgets value widget (``FloatSlider``, ``IntSlider``, ``Checkbox``...).
        ``values`` passed to ``draw`` use these names.
    figsize:
        matplotlib figure size in inches.
    clear:
        Clear the figure before each ``draw`` (the simple way).  With ``clear=False`` the figure
        keeps its axes and ``draw`` creates them on the first call (``if not fig.axes``) and
        only updates the artists' data afterwards: several times faster, since making axes and
        tick labels is most of a redraw.
    """

    def __init__(self, draw: DrawFunction, controls: dict[str, widgets.ValueWidget],
                 figsize: tuple[float, float] = (9, 3.2), dpi: int = 80, clear: bool = True):
        self.draw = draw
        self.clear = clear
        self.controls = dict(controls)
        # A bare Figure (not pyplot's): nothing shows it twice, nothing keeps it alive.  No layout
        # engine: constrained layout costs about half a redraw; ``draw`` sets margins if it needs to
        # (``fig.subplots_adjust``).
        self.figure = Figure(figsize=figsize, dpi=dpi)
        self.png: bytes = b""
        self.last_update_seconds = 0.0
        self._handle = None
        for control in self.controls.values():
            control.continuous_update = False
            control.observe(self._on_change, names="value")
        self.box = widgets.VBox(list(self.controls.values()), layout=widgets.Layout(width="auto"))
        self.redraw()

    @property
    def values(self) -> dict:
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self) -> bytes:
        """Draw the figure for the current values; return its PNG bytes."""
        start = time.perf_counter()
        if self.clear:
            self.figure.clear()
        self.draw(self.figure, **self.values)
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png")
        self.png = buffer.getvalue()
        if self._handle is not None:
            self._handle.update(Image(data=self.png))
        self.last_update_seconds = time.perf_counter() - start
        return self.png

    def update(self, **values) -> bytes:
        """Set some controls (by name) and redraw once; return the new PNG bytes."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise KeyError(f"unknown control(s) {sorted(unknown)}; this view has {sorted(self.controls)}")
        for name, value in values.items():
            control = self.controls[name]
            control.unobserve(self._on_change, names="value")
            try:
                control.value = value
            finally:
                control.observe(self._on_change, names="value")
        return self.redraw()

    def _on_change(self, change) -> None:
        self.redraw()

    def _ipython_display_(self) -> None:
        display(self.box)
        self._handle = display(Image(data=self.png), display_id=True)
