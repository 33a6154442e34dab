pytest_plugins = ["canvas_oauth.testing.pytest_plugin"]
