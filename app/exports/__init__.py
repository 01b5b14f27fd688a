"""Exports: what can be exported (resources), asking for one (requests), building its file
(running: queue, run, heartbeat; query: the scoped and masked rows; files: CSV and XLSX), who sees
a job and gets its file (access), and the beat's sweeping and expiry (housekeeping)."""
