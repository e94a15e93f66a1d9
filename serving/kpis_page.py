"""The KPI page (static, under /kpis/): it only calls /kpi_table with the user's key."""

from __future__ import annotations

from serving.web import _static_app

kpis_app = _static_app("kpis", embeddable=False)
