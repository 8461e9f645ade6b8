"""Built-in plugins. They are registered exactly like third-party plugins."""
