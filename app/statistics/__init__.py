"""Statistics: the business definitions every figure is counted by (definitions.py, with the
calendar in periods.py). The reports, workbook and dashboards built on them still live in
app/reports.py and app/stats.py until the wider restructure moves them here."""
