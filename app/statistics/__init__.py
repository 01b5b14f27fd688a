"""Statistics: the business definitions every figure is counted by (definitions.py, with the
calendar in periods.py), and what is built on them: the statistics reports (context.py for their
parameters, counts.py and tables.py for their rows, catalogue.py for the list of reports,
workbook.py for the formatted XLSX) and the home page's figures (figures.py).

Letters, exports, reminders, views and tasks use statistics; statistics uses none of them."""
