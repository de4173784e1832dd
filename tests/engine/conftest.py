"""Engine fixtures (engine_home, tiny_dir, models_cache) live in tests/conftest.py, shared with the TUI tests."""
