"""Reminders (催办与预警): rules.py (what each kind watches, the checks, the shipped rules),
targets.py (what is due), recipients.py (who is told), claim.py (one INSERT … ON CONFLICT per
rule), queue.py (leases, retries), messages.py and contexts.py (the texts), sending.py (send what
is due), channels.py (in-app, e-mail, webhook, SMS) and scan.py (``run_scan``, all of it)."""
