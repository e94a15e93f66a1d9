"""The static pages of scenario planning: /scenarios/ (form, jobs, comparison, adopt, map),
/rep/ (a rep's own book) and /map/ (the map script the review page and /scenarios/ share)."""

from __future__ import annotations

from serving.web import _static_app

scenarios_app = _static_app("scenarios", embeddable=False)
rep_app = _static_app("rep", embeddable=True)
map_app = _static_app("map", embeddable=False)
