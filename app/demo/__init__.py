"""The demo district (``flask --app app gongjian seed-demo``) and its fake data. Never imported by
the running app (the web server, the Celery worker): app/cli.py names the command module
(command.py) by import path, and only the command, ``gongjian serve`` and the tests load it.

seed.py runs the seed (idempotent) step by step: areas.py, units.py, then community.py per
community (its lists, members.py, meetings.py), unit_reports.py; users.py creates the demo users.
context.py holds what the steps share, phrases.py and fakedata.py the invented texts and values.
"""
