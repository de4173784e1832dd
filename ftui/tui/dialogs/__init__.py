"""Dialogs (modal screens) that screens open over themselves; they never open screens."""
