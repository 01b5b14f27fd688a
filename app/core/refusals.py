"""What a refused write raises: :class:`RecordInvalid` when a record breaks its rules (the field
each message belongs to), :class:`DuplicateRefused` when another writer took its unique key first.
Kept apart from the rules so every session hook (the area tree, the scope) can raise them without
importing the rules and the models they read; app/core/errors.py answers both the same way."""


class RecordInvalid(Exception):
    """A record breaks one or more rules: ``errors`` maps field name → [messages]."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {', '.join(str(m) for m in v)}" for k, v in errors.items()))

    def messages(self):
        return {field: [str(m) for m in msgs] for field, msgs in self.errors.items()}


class MessageRefused(RecordInvalid):
    """A refusal whose ``str`` is its messages alone: FAB's screens flash ``str(exc)``."""

    def __str__(self):
        return "; ".join(str(m) for msgs in self.errors.values() for m in msgs)


class DuplicateRefused(MessageRefused):
    """A write refused because another writer took its unique key first."""
