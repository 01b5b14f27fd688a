"""Feedback letters to units and members' workplaces."""
